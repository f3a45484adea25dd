"""prefetch(arr, i): ask the CPU to start loading arr's element i into the cache.

The engine's kernels touch memory the hardware cannot guess: a flow-table row
chosen by a hash, the next record header of a capture. Issued a few packets
ahead, a prefetch overlaps those memory latencies instead of waiting for each
in turn. It is a hint (x86 PREFETCHT0, llvm.prefetch): it never faults, even
for an address outside the array, and changes no result. `i` counts elements
of a C-contiguous array (a structured row, a byte, a row of a 2-D array when
given its flat index).

Under NUMBA_DISABLE_JIT=1 it is a Python function that does nothing.
"""

from llvmlite import ir
from numba import types
from numba.core import cgutils, config
from numba.extending import intrinsic


@intrinsic
def _prefetch(typingctx, arr, i):
    if not isinstance(arr, types.Array) or not isinstance(i, types.Integer):
        return None

    def codegen(context, builder, signature, args):
        arr_t, i_t = signature.args
        ary = context.make_array(arr_t)(context, builder, args[0])
        idx = context.cast(builder, args[1], i_t, types.intp)
        base = builder.ptrtoint(ary.data, cgutils.intp_t)
        addr = builder.add(base, builder.mul(idx, ary.itemsize))
        byte_ptr = ir.IntType(8).as_pointer()
        fnty = ir.FunctionType(ir.VoidType(), [byte_ptr, ir.IntType(32), ir.IntType(32),
                                               ir.IntType(32)])
        fn = cgutils.get_or_insert_function(builder.module, fnty, "llvm.prefetch.p0")
        # read, high temporal locality (keep in every cache level), data cache
        builder.call(fn, [builder.inttoptr(addr, byte_ptr), ir.Constant(ir.IntType(32), 0),
                          ir.Constant(ir.IntType(32), 3), ir.Constant(ir.IntType(32), 1)])
        return context.get_dummy_value()

    return types.void(arr, i), codegen


if config.DISABLE_JIT:
    def prefetch(arr, i):
        """No-op without the JIT (the interpreter has no use for cache hints)."""
else:
    prefetch = _prefetch
