"""`sim.logarithm.log`, glibc's logarithm pasted into the compiled code.

It must be accurate everywhere (within glibc's stated 0.519 units in the last place of the
exact logarithm, checked against 50-digit mpmath), and give math.log's bits where math.log is
that same algorithm: glibc 2.28 or later on an x86-64 processor with fused multiply-add, as on
this project's machines. The engines take every logarithm of a uniform with it, so their
numbers are the same as with math.log there, and the same on every machine.
"""

from __future__ import annotations

import math
import platform
from pathlib import Path

import mpmath
import numpy as np
import pytest
from numba import njit

from sim.logarithm import log
from sim.randomness import uniforms


@njit
def _logs(x):
    out = np.empty_like(x)
    for j in range(x.shape[0]):
        out[j] = log(x[j])
    return out


@njit
def _math_logs(x):
    out = np.empty_like(x)
    for j in range(x.shape[0]):
        out[j] = math.log(x[j])
    return out


def _inputs(n: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(11)
    # The table's subintervals start at 0x1.6p-1 times a power of two: both sides of some.
    starts = np.ldexp(0.6875, np.arange(-60, 61))
    return {
        "the engines' uniforms": uniforms(7, 4, np.arange(n), 3),
        "within 7% of 1 (the second polynomial)": 1.0 + rng.uniform(-0.07, 0.07, n),
        "every magnitude": np.exp(rng.uniform(-700.0, 700.0, n)),
        "subinterval edges": np.concatenate([starts, np.nextafter(starts, 0.0), np.nextafter(starts, 2.0)]),
    }


def _glibc_log_is_this_algorithm() -> bool:
    libc, version = platform.libc_ver()
    if libc != "glibc" or platform.machine() != "x86_64":
        return False
    major, minor = (int(part) for part in version.split(".")[:2])
    cpuinfo = Path("/proc/cpuinfo")
    flags = cpuinfo.read_text() if cpuinfo.exists() else ""
    return (major, minor) >= (2, 28) and " fma " in flags


def test_within_glibcs_error_bound_of_the_exact_logarithm():
    mpmath.mp.dps = 50
    for name, x in _inputs(4_000).items():
        ours = _logs(x)
        for value, got in zip(x, ours, strict=True):
            exact = mpmath.log(mpmath.mpf(float(value)))
            error = abs(mpmath.mpf(float(got)) - exact) / float(np.spacing(abs(got)) if got != 0 else 5e-324)
            assert error <= 0.52, (name, float(value).hex(), float(got), error)


@pytest.mark.skipif(not _glibc_log_is_this_algorithm(),
                    reason="math.log here is not glibc >= 2.28 on an x86-64 processor with FMA")
def test_same_bits_as_math_log():
    for name, x in _inputs(2_000_000).items():
        ours, theirs = _logs(x), _math_logs(x)
        differ = ours.view(np.int64) != theirs.view(np.int64)
        assert not differ.any(), (name, x[differ][:5])


def test_special_values():
    x = np.array([1.0, 0.0, -0.0, -1.0, np.inf, -np.inf, np.nan, 5e-324, 2.0**-1022, 2.0**-1074 * 3])
    got = _logs(x)
    assert got[0] == 0.0 and not math.copysign(1.0, got[0]) < 0
    assert got[1] == -np.inf and got[2] == -np.inf
    assert np.isnan(got[3]) and got[4] == np.inf and np.isnan(got[5]) and np.isnan(got[6])
    # Subnormal and smallest normal numbers: the exact logarithm, correctly placed.
    for value, result in zip(x[7:], got[7:], strict=True):
        assert result == pytest.approx(float(mpmath.log(mpmath.mpf(float(value)))), rel=1e-15)
