"""Counter-based uniforms: uniform on (0, 1), independent across every key, the same everywhere.

Tolerances: a correlation of n independent pairs has standard error 1/sqrt(n); the tests allow
5 standard errors (a false alarm about once in 1.7 million checks). Kolmogorov-Smirnov and
chi-square tests use p > 0.001 as the brief asks.
"""

from __future__ import annotations

import numpy as np
import pytest
from numba import njit
from scipy import stats

from sim import randomness
from sim.randomness import (
    STREAMS,
    name_key,
    parameter_uniform,
    replication_seed,
    uniform,
    uniforms,
    unit_interval,
)

N = 100_000
SEED = 20170401
Z = 5.0  # standard errors allowed on a correlation


@njit
def by_entity(seed, stream, first_entity, n, draw):
    """Uniforms for n consecutive entities, computed inside a numba function."""
    out = np.empty(n)
    for i in range(n):
        out[i] = uniform(seed, stream, first_entity + i, draw)
    return out


@njit
def by_draw(seed, stream, entity, n):
    """The first n draws of one entity."""
    out = np.empty(n)
    for k in range(n):
        out[k] = uniform(seed, stream, entity, k)
    return out


@njit
def by_seed(first_seed, stream, entity, n, draw):
    out = np.empty(n)
    for s in range(n):
        out[s] = uniform(first_seed + s, stream, entity, draw)
    return out


def correlation_bound(n: int) -> float:
    return Z / np.sqrt(n)


def test_stream_numbers_are_distinct_and_match_the_module_constants():
    assert len(set(STREAMS.values())) == len(STREAMS)
    for name, number in STREAMS.items():
        assert getattr(randomness, name.upper()) == number


@pytest.mark.parametrize("name", sorted(STREAMS))
def test_each_stream_is_uniform_over_entities(name):
    u = uniforms(np.uint64(SEED), STREAMS[name], np.arange(N, dtype=np.int64), 0)
    assert stats.kstest(u, "uniform").pvalue > 0.001
    assert abs(u.mean() - 0.5) < Z * np.sqrt(1 / 12 / N)
    # Variance of U(0,1) is 1/12; the sample variance's standard error is about 0.0745/sqrt(N).
    assert abs(u.var() - 1 / 12) < Z * np.sqrt(1 / 180 / N)
    assert 0.0 < u.min() and u.max() < 1.0


@pytest.mark.parametrize("name", ["crisis_time", "length_of_stay", "parameters"])
def test_each_stream_is_uniform_over_draw_numbers_and_seeds(name):
    assert stats.kstest(by_draw(SEED, STREAMS[name], 42, N), "uniform").pvalue > 0.001
    assert stats.kstest(by_seed(1, STREAMS[name], 42, N, 0), "uniform").pvalue > 0.001


def test_consecutive_pairs_fill_the_unit_square_evenly():
    # Serial test: (u_k, u_k+1) over a 20 x 20 grid, for draw numbers and for entities.
    for u in (by_draw(SEED, randomness.CRISIS_TIME, 7, N + 1), by_entity(SEED, randomness.CRISIS_TIME, 0, N + 1, 0)):
        cells = np.floor(u[:-1] * 20).astype(int) * 20 + np.floor(u[1:] * 20).astype(int)
        counts = np.bincount(cells, minlength=400)
        assert stats.chisquare(counts).pvalue > 0.001


def dependence(a: np.ndarray, b: np.ndarray) -> list[str]:
    """How two series of draws fail to look independent (empty if they look independent)."""
    bound = correlation_bound(a.size)
    problems = []
    if np.mean(a == b) >= 1e-3:  # shared values beyond chance (chance is about 1e-11)
        problems.append(f"{np.mean(a == b):.2%} of the values are equal")
    pearson = np.corrcoef(a, b)[0, 1]
    if abs(pearson) >= bound:
        problems.append(f"correlation {pearson:.4f}, bound {bound:.4f}")
    # Rank correlation too: catches monotone but non-linear dependence.
    spearman = stats.spearmanr(a, b).statistic
    if abs(spearman) >= bound:
        problems.append(f"rank correlation {spearman:.4f}, bound {bound:.4f}")
    return problems


def test_draws_differ_across_seeds():
    a = by_entity(SEED, randomness.CRISIS_TIME, 0, N, 0)
    for other in (SEED + 1, SEED ^ (1 << 40), 0):
        assert not dependence(a, by_entity(other, randomness.CRISIS_TIME, 0, N, 0))


def test_draws_differ_across_streams():
    base = {name: by_entity(SEED, number, 0, N // 5, 0) for name, number in STREAMS.items()}
    names = sorted(base)
    for i, first in enumerate(names):
        for second in names[i + 1:]:
            assert not dependence(base[first], base[second])


def test_draws_differ_across_entities_and_draw_numbers():
    a = by_entity(SEED, randomness.LENGTH_OF_STAY, 0, N, 0)
    assert not dependence(a, by_entity(SEED, randomness.LENGTH_OF_STAY, 1, N, 0))  # entity shifted by one
    assert not dependence(a, by_entity(SEED, randomness.LENGTH_OF_STAY, 0, N, 1))  # next draw number
    draws = by_draw(SEED, randomness.LENGTH_OF_STAY, 5, N + 1)
    assert not dependence(draws[:-1], draws[1:])  # lag-one over draw numbers


def test_swapping_keys_gives_different_numbers():
    # The keys are mixed with different constants, so (stream=a, entity=b) and
    # (stream=b, entity=a), or (entity=a, draw=b) and (entity=b, draw=a), are unrelated.
    pairs = [(a, b) for a in range(1, 31) for b in range(1, 301) if a != b]
    assert not dependence(np.array([uniform(SEED, a, b, 0) for a, b in pairs]),
                          np.array([uniform(SEED, b, a, 0) for a, b in pairs]))
    assert not dependence(np.array([uniform(SEED, 4, a, b) for a, b in pairs]),
                          np.array([uniform(SEED, 4, b, a) for a, b in pairs]))
    assert not dependence(np.array([uniform(a, 4, b, 0) for a, b in pairs]),
                          np.array([uniform(b, 4, a, 0) for a, b in pairs]))


def test_the_dependence_check_sees_dependent_draws():
    # The check the tests above rely on must flag what is not independent.
    a = by_entity(SEED, randomness.CRISIS_TIME, 0, N, 0)
    b = by_entity(SEED + 1, randomness.CRISIS_TIME, 0, N, 0)
    assert dependence(a, a)  # the same draws
    assert dependence(a, np.sqrt(a))  # a monotone function of them
    assert dependence(a, 0.8 * a + 0.2 * b)  # correlated


def test_python_numba_and_vector_forms_agree_exactly():
    entities = np.arange(1000, 1500, dtype=np.int64)
    inside = by_entity(SEED, randomness.PATHWAY, 1000, 500, 3)
    vector = uniforms(np.uint64(SEED), randomness.PATHWAY, entities, 3)
    python = np.array([uniform(SEED, randomness.PATHWAY, int(e), 3) for e in entities])
    as_uint = np.array([uniform(np.uint64(SEED), np.uint64(randomness.PATHWAY), np.uint64(e), np.uint64(3))
                        for e in entities])
    assert np.array_equal(inside, python)
    assert np.array_equal(vector, python)
    assert np.array_equal(as_uint, python)


def test_same_inputs_same_output_pinned_values():
    # Snapshot: a change here changes every result of every saved run (refresh on purpose only).
    assert uniform(20170401, 4, 12345, 7) == 0.012084356295278098
    assert uniform(0, 1, 0, 0) == 0.6985094726527816
    assert uniform(2**63 - 1, 16, 10**12, 3) == 0.681317266609359
    assert replication_seed(20170401, 3) == 6130794527367359686
    assert parameter_uniform(20170401, "flow.readmission.crisis_multiplier", 2) == 0.5733310099539748


def test_uniform_never_returns_zero_or_one():
    u = by_draw(SEED, randomness.DEATH, 1, 2_000_000)
    assert u.min() > 0.0 and u.max() < 1.0
    # The extremes of the bit-to-double map: all-zero and all-one hashes.
    assert unit_interval(np.uint64(0)) == 2.0**-54
    assert unit_interval(np.uint64(2**64 - 1)) < 1.0
    assert np.isfinite(np.log(unit_interval(np.uint64(2**64 - 1))))
    assert np.isfinite(np.log1p(-unit_interval(np.uint64(2**64 - 1))))
    # Why the clamp is needed: the top slot's centre rounds up to exactly 1.0 in doubles.
    assert (np.float64(2**53 - 1) + 0.5) * 2.0**-53 == 1.0


def test_replication_seeds_are_distinct_and_pure():
    seeds = [replication_seed(SEED, r) for r in range(20_000)]
    assert len(set(seeds)) == len(seeds)
    assert seeds[:10] == [replication_seed(SEED, r) for r in range(10)]
    other = {replication_seed(SEED + 1, r) for r in range(20_000)}
    assert not other & set(seeds)
    assert all(0 <= s < 2**64 for s in seeds)


def test_parameter_draws_key_on_the_name():
    names = [f"model.param_{i}" for i in range(2000)]
    keys = [name_key(n) for n in names]
    assert len(set(keys)) == len(keys)
    draws = np.array([parameter_uniform(SEED, n, 0) for n in names])
    assert stats.kstest(draws, "uniform").pvalue > 0.001
    # Same name, same draw, whatever else is drawn; another replication gives another draw.
    assert parameter_uniform(SEED, "x.effect", 4) == parameter_uniform(SEED, "x.effect", 4)
    reps = np.array([[parameter_uniform(SEED, n, r) for n in names[:200]] for r in range(2)])
    assert not dependence(reps[0], reps[1])
