"""The one place where numba flags are decided (imported by every jitted module)."""

import hashlib
import os
from pathlib import Path

from llvmlite import ir
from numba import njit, types
from numba.core import cgutils, config
from numba.extending import intrinsic

# cache=True: compiled code is kept on disk so only the first run pays the compile.
# fastmath stays off: the fast engine must reproduce the reference engine's floating point.
JIT_OPTIONS = {"cache": os.environ.get("CARESIM_NO_CACHE") != "1", "fastmath": False, "nogil": True}

# Kernels never allocate: every array they touch is made, and kept alive, by the Python
# wrapper that calls them. So they are compiled without numba's reference counting, which
# would otherwise increment and decrement (atomically) every array argument of every call;
# in the fast engine that counting took more time than the simulation itself.
KERNEL_OPTIONS = {**JIT_OPTIONS, "_nrt": False}

# Every module whose code or constants end up inside compiled code. numba checks a cached
# function against its own file only: a change in a function it calls from another module,
# or in a constant it reads from one (a counter's column, a pool's index), would leave a
# stale cache in use. So the caches live in a folder named by a hash of all of these files,
# and any change to one of them starts a fresh folder. NUMBA_CACHE_DIR, when set, wins.
COMPILED_SOURCES = ("jit.py", "randomness.py", "distributions.py", "hazard.py", "flow.py",
                    "result.py", "population.py", "engine_fast.py")


def _cache_dir() -> Path:
    here = Path(__file__).resolve().parent
    digest = hashlib.sha256()
    for name in COMPILED_SOURCES:
        path = here / name
        digest.update(name.encode())
        digest.update(path.read_bytes() if path.exists() else b"")
    return here / "__pycache__" / f"numba-{digest.hexdigest()[:16]}"


if JIT_OPTIONS["cache"] and not os.environ.get("NUMBA_CACHE_DIR"):
    config.CACHE_DIR = str(_cache_dir())  # type: ignore[attr-defined]


def jit(func):
    """Compile *func* with the project's numba options."""
    return njit(**JIT_OPTIONS)(func)


def kernel(func=None, *, inline=False):
    """Compile *func*, which must not allocate arrays, without reference counting.

    ``inline=True`` pastes it into its callers before they are compiled (numba's
    ``inline="always"``): for the few hot functions whose calls would pass many arrays.
    """
    if func is None:
        return lambda f: kernel(f, inline=inline)
    options = {**KERNEL_OPTIONS, "inline": "always"} if inline else KERNEL_OPTIONS
    return njit(**options)(func)


@intrinsic
def prefetch(typingctx, array, row, col):
    """Ask the processor to start loading the cache line of ``array[row, col, 0...]``.

    A hint only: it changes no value and never faults, so any index is safe.
    """
    if not (isinstance(array, types.Array) and array.ndim >= 2
            and isinstance(row, types.Integer) and isinstance(col, types.Integer)):
        return None

    def codegen(context, builder, signature, args):
        array_type = signature.args[0]
        data = context.make_array(array_type)(context, builder, value=args[0])
        row_col = [context.cast(builder, value, kind, types.intp)
                   for value, kind in zip(args[1:], signature.args[1:], strict=True)]
        index = row_col + [context.get_constant(types.intp, 0)] * (array_type.ndim - 2)
        pointer = cgutils.get_item_pointer(context, builder, array_type, data, index,
                                           wraparound=False)
        byte_pointer = ir.IntType(8).as_pointer()
        i32 = ir.IntType(32)
        function_type = ir.FunctionType(ir.VoidType(), [byte_pointer, i32, i32, i32])
        function = cgutils.get_or_insert_function(builder.module, function_type,
                                                  "llvm.prefetch.p0")
        # A read (0), kept in every cache level (3), of data (1).
        builder.call(function, [builder.bitcast(pointer, byte_pointer), i32(0), i32(3), i32(1)])
        return context.get_dummy_value()

    return types.void(array, row, col), codegen


@intrinsic
def nonneg(typingctx, x):
    """Return the integer *x*, telling the compiler that it is not negative.

    numba lets an array index count from the end (``a[-1]``), so every access with an index
    the compiler cannot prove to be 0 or more first adds the length to a negative index.
    Indices passed through here (a person, a cohort, a year) skip that. Only for values that
    are never negative: the compiler may assume anything of a negative one.
    """
    if not isinstance(x, types.Integer) or not x.signed:
        return None

    def codegen(context, builder, signature, args):
        [value] = args
        function = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(ir.VoidType(), [ir.IntType(1)]), "llvm.assume")
        builder.call(function, [builder.icmp_signed(">=", value, ir.Constant(value.type, 0))])
        return value

    return x(x), codegen
