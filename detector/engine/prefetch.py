"""prefetch(arr, i): ask the CPU to start loading arr's element i into the cache;
prefetch_row(arr, i): every cache line of element i (a flow-table row spans several).

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


CACHE_LINE = 64


def _emit(builder, addr):
    """llvm.prefetch(addr): read, high temporal locality (every cache level), data."""
    byte_ptr = ir.IntType(8).as_pointer()
    i32 = ir.IntType(32)
    fnty = ir.FunctionType(ir.VoidType(), [byte_ptr, i32, i32, i32])
    fn = cgutils.get_or_insert_function(builder.module, fnty, "llvm.prefetch.p0")
    builder.call(fn, [builder.inttoptr(addr, byte_ptr), ir.Constant(i32, 0),
                      ir.Constant(i32, 3), ir.Constant(i32, 1)])


def _element_address(context, builder, signature, args):
    arr_t, i_t = signature.args
    ary = context.make_array(arr_t)(context, builder, args[0])
    idx = context.cast(builder, args[1], i_t, types.intp)
    base = builder.ptrtoint(ary.data, cgutils.intp_t)
    return builder.add(base, builder.mul(idx, ary.itemsize))


@intrinsic
def _prefetch(typingctx, arr, i):
    if not isinstance(arr, types.Array) or not isinstance(i, types.Integer):
        return None

    def codegen(context, builder, signature, args):
        _emit(builder, _element_address(context, builder, signature, args))
        return context.get_dummy_value()

    return types.void(arr, i), codegen


@intrinsic
def _prefetch_row(typingctx, arr, i):
    if not isinstance(arr, types.Array) or not isinstance(i, types.Integer):
        return None

    def codegen(context, builder, signature, args):
        addr = _element_address(context, builder, signature, args)
        size = context.get_abi_sizeof(context.get_data_type(signature.args[0].dtype))
        last = builder.add(addr, ir.Constant(cgutils.intp_t, size - 1))
        _emit(builder, addr)
        # the element's other lines: one prefetch per 64 bytes, then its last byte's line
        for k in range(CACHE_LINE, size, CACHE_LINE):
            _emit(builder, builder.add(addr, ir.Constant(cgutils.intp_t, k)))
        _emit(builder, last)
        return context.get_dummy_value()

    return types.void(arr, i), codegen


if config.DISABLE_JIT:
    def prefetch(arr, i):
        """No-op without the JIT (the interpreter has no use for cache hints)."""

    def prefetch_row(arr, i):
        """No-op without the JIT."""
else:
    prefetch = _prefetch
    prefetch_row = _prefetch_row
