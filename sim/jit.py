"""The one place where numba flags are decided (imported by every jitted module)."""

import os

from numba import njit

# cache=True: compiled code is written beside the module so only the first run pays the compile.
# fastmath stays off: the fast engine must reproduce the reference engine's floating point.
JIT_OPTIONS = {"cache": os.environ.get("CARESIM_NO_CACHE") != "1", "fastmath": False, "nogil": True}


def jit(func):
    """Compile *func* with the project's numba options."""
    return njit(**JIT_OPTIONS)(func)
