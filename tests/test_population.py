"""The synthetic population reproduces the place's marginals and is a pure function of the seed.

Counts are checked against binomial tolerances: |observed - n p| <= z sqrt(n p (1 - p)), with z
the two-sided 99.9% point Bonferroni-corrected for the number of cells in the test, so that
each test as a whole has at most a 0.1% chance of a false alarm.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from sim.config import RISK_TIERS, with_changes
from sim.population import CARE_HOME, HOME, _pick, generate

SEED = 20170401


def z_for(cells: int) -> float:
    return float(stats.norm.ppf(1 - 0.001 / (2 * cells)))


def assert_binomial(observed: np.ndarray, trials: np.ndarray, p: np.ndarray, what: str) -> None:
    observed, trials, p = (np.asarray(x, dtype=float) for x in (observed, trials, p))
    z = z_for(observed.size)
    sd = np.sqrt(trials * p * (1 - p))
    deviation = np.abs(observed - trials * p)
    # Where p is 0 or 1 the count must be exact.
    bad = deviation > z * sd + 1e-9
    assert not bad.any(), f"{what}: observed {observed[bad]} expected {(trials * p)[bad]} (z={z:.2f})"


@pytest.fixture(scope="module")
def people(bnes):
    return generate(bnes, SEED)


def test_size_is_exact(small, bnes, people):
    assert people.size == bnes.population.size
    assert generate(small, SEED).size == small.population.size
    for size in (1, 7, 1001):
        tiny = with_changes(small, {"population.size": size})
        population = generate(tiny, SEED)
        assert population.size == size
        for column in ("age_band", "risk", "conditions", "cluster", "forum", "deprivation", "residence"):
            assert getattr(population, column).shape == (size,)


def test_age_band_shares(bnes, people):
    shares = np.array([b.share for b in bnes.population.age_bands])
    counts = np.bincount(people.age_band, minlength=shares.size)
    assert counts.sum() == people.size
    assert_binomial(counts, np.full(shares.size, people.size), shares, "age bands")
    assert people.age_band_names == tuple(b.name for b in bnes.population.age_bands)


def test_risk_shares_by_age_band(bnes, people):
    names = people.age_band_names
    expected = np.array([bnes.population.risk_shares[name] for name in names])
    counts = np.zeros_like(expected)
    np.add.at(counts, (people.age_band, people.risk), 1)
    in_band = counts.sum(axis=1, keepdims=True) * np.ones_like(expected)
    assert_binomial(counts, in_band, expected, "risk tier by age band")
    assert people.risk.max() < len(RISK_TIERS)


def expected_prevalence(scenario, condition: str) -> np.ndarray:
    """Chance of *condition* per (age band, risk tier) as the config defines it."""
    pop = scenario.population
    cond = pop.conditions[condition]
    risk = np.array([pop.risk_shares[b.name] for b in pop.age_bands])
    odds = np.array(cond.risk_tier_odds)
    mean_odds = risk @ odds
    return np.minimum(1.0, np.array(cond.prevalence)[:, None] * odds[None, :] / mean_odds[:, None])


def test_condition_prevalence_by_age_band(bnes, people):
    n_bands = len(people.age_band_names)
    band_sizes = np.bincount(people.age_band, minlength=n_bands)
    for name in people.condition_names:
        has = people.has(name)
        observed = np.bincount(people.age_band[has], minlength=n_bands)
        # No band's prevalence is capped at 1 in the default place, so the age-band
        # prevalence is exactly the configured one.
        assert (expected_prevalence(bnes, name) < 1).all()
        assert_binomial(observed, band_sizes, np.array(bnes.population.conditions[name].prevalence),
                        f"{name} prevalence by age band")


def test_conditions_lean_towards_higher_risk_as_configured(bnes, people):
    cells, trials, chances = [], [], []
    for name in people.condition_names:
        expected = expected_prevalence(bnes, name)
        has = people.has(name)
        for a in range(expected.shape[0]):
            for r in range(expected.shape[1]):
                in_cell = (people.age_band == a) & (people.risk == r)
                if in_cell.sum() * expected[a, r] >= 5:
                    cells.append((has & in_cell).sum())
                    trials.append(in_cell.sum())
                    chances.append(expected[a, r])
    assert len(cells) > 40
    assert_binomial(np.array(cells), np.array(trials), np.array(chances), "condition by age band and risk tier")


def test_condition_bits_and_has_agree(people):
    for bit, name in enumerate(people.condition_names):
        assert np.array_equal(people.has(name), (people.conditions & (1 << bit)) != 0)
    assert people.conditions.max() < 1 << len(people.condition_names)
    # Conditions overlap: some people have two or more.
    n_conditions = sum(people.has(name).astype(int) for name in people.condition_names)
    assert (n_conditions >= 2).sum() > 100


def test_care_home_share_by_age_band(bnes, people):
    n_bands = len(people.age_band_names)
    band_sizes = np.bincount(people.age_band, minlength=n_bands)
    in_care_home = np.bincount(people.age_band[people.residence == CARE_HOME], minlength=n_bands)
    assert_binomial(in_care_home, band_sizes, np.array(bnes.population.care_home_share), "care-home residents")
    assert set(np.unique(people.residence)) <= {HOME, CARE_HOME}
    share = np.array(bnes.population.care_home_share)
    for a in np.flatnonzero(share == 0):
        assert in_care_home[a] == 0


def test_clusters_forums_and_deprivation(bnes, people):
    clusters = bnes.population.clusters
    counts = np.bincount(people.cluster, minlength=len(clusters))
    assert_binomial(counts, np.full(len(clusters), people.size), np.array([c.share for c in clusters]), "clusters")
    observed, trials, chances = [], [], []
    for c, cluster in enumerate(clusters):
        mine = people.cluster == c
        forums = people.forum[mine]
        # Nobody lives in a forum outside their cluster's.
        allowed = [people.forum_names.index(f) for f in cluster.forums]
        assert np.isin(forums, allowed).all()
        for forum, share in cluster.forums.items():
            observed.append((forums == people.forum_names.index(forum)).sum())
            trials.append(mine.sum())
            chances.append(share)
        deprivation = np.bincount(people.deprivation[mine], minlength=5)
        observed.extend(deprivation)
        trials.extend([mine.sum()] * 5)
        chances.extend(cluster.deprivation_shares)
    assert_binomial(np.array(observed), np.array(trials), np.array(chances), "forums and deprivation by cluster")


def test_same_seed_same_people_other_seed_other_people(small):
    first, again = generate(small, SEED), generate(small, SEED)
    columns = ("age_band", "risk", "conditions", "cluster", "forum", "deprivation", "residence")
    for column in columns:
        assert np.array_equal(getattr(first, column), getattr(again, column))
    other = generate(small, SEED + 1)
    for column in ("age_band", "risk", "cluster", "forum", "deprivation"):
        assert not np.array_equal(getattr(first, column), getattr(other, column))
    # Across seeds people are independent: the chance two draws share an age band is sum p^2.
    shares = np.array([b.share for b in small.population.age_bands])
    agree = (first.age_band == other.age_band).sum()
    assert_binomial(np.array([agree]), np.array([first.size]), np.array([(shares**2).sum()]), "age agreement")


def test_person_does_not_depend_on_population_size(small):
    # Person i's attributes are keyed on (seed, i): a bigger place adds people, changes none.
    smaller = generate(with_changes(small, {"population.size": 500}), SEED)
    larger = generate(small, SEED)
    for column in ("age_band", "risk", "conditions", "cluster", "forum", "deprivation", "residence"):
        assert np.array_equal(getattr(smaller, column), getattr(larger, column)[:500])


def test_summary_counts(people):
    summary = people.summary()
    assert summary["people"].sum() == people.size
    for (band, risk), row in summary.iterrows():
        a, r = people.age_band_names.index(band), RISK_TIERS.index(risk)
        cell = (people.age_band == a) & (people.risk == r)
        assert row["people"] == cell.sum()
        for name in people.condition_names:
            assert row[f"{name}_%"] == round(100 * people.has(name)[cell].mean(), 1)
        assert row["care_home_%"] == round(100 * (people.residence[cell] == CARE_HOME).mean(), 1)
    by_cluster = people.summary(by=("cluster",))
    assert list(by_cluster["people"]) == list(np.bincount(people.cluster, minlength=len(people.cluster_names)))


def test_frame_labels(people):
    frame = people.frame()
    assert len(frame) == people.size
    assert set(frame["risk"].unique()) == set(RISK_TIERS)
    assert frame["deprivation_quintile"].between(1, 5).all()
    assert (frame["residence"] == "care home").sum() == (people.residence == CARE_HOME).sum()


def test_pick_never_chooses_a_category_without_share():
    # Shares a rounding short of 1 (inside the config's tolerance): the remainder goes to the
    # last category with a share, never to a zero-share one after it.
    u = np.array([0.1, 0.7, 0.9999999, 1 - 2.0**-53])
    assert list(_pick(u, np.array([0.5, 0.4999995, 0.0]))) == [0, 1, 1, 1]
    rows = np.array([[0.5, 0.4999995, 0.0], [0.0, 0.9999995, 0.0], [0.3, 0.0, 0.6999995], [0.2, 0.3, 0.5]])
    assert list(_pick(u, rows)) == [0, 1, 2, 2]
    # Zero shares in the middle are skipped; boundaries belong to the next category.
    assert list(_pick(np.array([0.25, 0.5, 0.75]), np.array([0.5, 0.0, 0.5]))) == [0, 2, 2]


@pytest.mark.parametrize("groups", ["none", "few", "sparse"])
def test_cohorts_of_matches_its_definition(small, groups):
    """Cohorts are the sorted distinct keys of (person attributes, group) and their care-home
    twins: the quick path through a per-population table gives exactly that, for no groups,
    a few groups (the table) and groups too sparse for a table (np.unique)."""
    from sim.flow import _SHIFT, _pack, cohorts_of

    population = generate(small, 3)
    rng = np.random.default_rng(5)
    group = {"none": np.zeros(population.size, dtype=np.int64),
             "few": rng.integers(0, 3, population.size),
             "sparse": rng.integers(0, 60_000, population.size)}[groups]
    key = _pack(population.age_band, population.risk, population.conditions,
                population.residence, population.deprivation, group)
    flag = np.int64(1 << _SHIFT["residence"])
    keys = np.unique(np.concatenate([key, key & ~flag, key | flag]))
    cohort, got_keys = cohorts_of(population, group)
    assert np.array_equal(got_keys, keys)
    assert np.array_equal(cohort, np.searchsorted(keys, key))
    assert np.array_equal(got_keys[cohort], key)


@pytest.mark.parametrize("people, top", [(20_000, (5, 4, 5, 2, 16, 4, 5)), (300, (8, 60, 60, 2, 256, 4, 16))])
def test_place_cohorts_are_the_sorted_distinct_keys(people, top):
    """`flow._place_cohorts` (counting where the fields allow, sorting otherwise) numbers the
    cohorts as the sorted distinct packed keys, as np.unique would."""
    from sim.flow import _pack, _place_cohorts
    from sim.population import Population

    rng = np.random.default_rng(people)
    dep, forum, cluster, res, cond, risk, age = (rng.integers(0, t, people).astype(np.int8 if t < 128 else np.uint8)
                                                 for t in top)
    population = Population(age_band=age, risk=risk, conditions=cond, cluster=cluster, forum=forum,
                            deprivation=dep, residence=res, age_band_names=(), condition_names=(),
                            cluster_names=(), forum_names=())
    ids, keys = _place_cohorts(population)
    expected_keys, expected_ids = np.unique(_pack(age, risk, cond, res, dep, np.zeros(1, dtype=np.int64)),
                                            return_inverse=True)
    assert np.array_equal(keys, expected_keys)
    assert np.array_equal(ids, expected_ids)
