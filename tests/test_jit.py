"""The compiler hints in sim.jit change no value: `nonneg` and `prefetch`."""

import numpy as np
import pytest
from numba import njit
from numba.core.errors import TypingError

from sim.jit import nonneg, prefetch


@njit
def _read_with_hints(a, rows):
    total = 0.0
    for k in range(rows.shape[0]):
        i = nonneg(rows[k])
        prefetch(a, i, 0)
        total += a[i, 0] * (k + 1) + a[i, a.shape[1] - 1]
    return total


@njit
def _read_plainly(a, rows):
    total = 0.0
    for k in range(rows.shape[0]):
        i = rows[k]
        total += a[i, 0] * (k + 1) + a[i, a.shape[1] - 1]
    return total


@njit
def _through(x):
    return nonneg(x)


def test_nonneg_returns_its_argument():
    for x in (0, 1, 7, 2**31, 2**62):
        assert _through(np.int64(x)) == x
        assert _through(np.int32(min(x, 2**31 - 1))) == min(x, 2**31 - 1)


def test_reads_through_the_hints_are_the_plain_reads():
    rng = np.random.default_rng(3)
    a = rng.random((1000, 5))
    rows = rng.integers(0, 1000, 5000)
    assert _read_with_hints(a, rows) == _read_plainly(a, rows)


def test_nonneg_takes_only_signed_integers():
    with pytest.raises(TypingError):
        _through(1.5)
    with pytest.raises(TypingError):
        _through(np.uint64(3))
