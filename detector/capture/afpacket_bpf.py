"""Compile a tcpdump-syntax filter to classic BPF with libpcap (ctypes), once at start.

The program is what `tcpdump -ddd -y EN10MB FILTER` prints, as the bytes of
struct sock_filter[] (u16 code, u8 jt, u8 jf, u32 k), ready for
SO_ATTACH_FILTER. libpcap comes with tcpdump (install.sh).
"""

import ctypes
import ctypes.util
import struct

from detector.errors import ConfigError

PCAP_NETMASK_UNKNOWN = 0xFFFFFFFF
SNAPLEN = 262144
LINKTYPE_TO_DLT = {1: 1, 101: 12}     # Ethernet -> DLT_EN10MB, raw IP -> DLT_RAW (Linux)


class BpfInsn(ctypes.Structure):
    _fields_ = [("code", ctypes.c_ushort), ("jt", ctypes.c_ubyte), ("jf", ctypes.c_ubyte),
                ("k", ctypes.c_uint)]


class BpfProgram(ctypes.Structure):
    _fields_ = [("bf_len", ctypes.c_uint), ("bf_insns", ctypes.POINTER(BpfInsn))]


def load_libpcap():
    name = ctypes.util.find_library("pcap") or "libpcap.so.0.8"
    try:
        lib = ctypes.CDLL(name)
    except OSError:
        raise ConfigError("--bpf needs libpcap (apt-get install libpcap0.8, "
                          "which tcpdump brings)") from None
    lib.pcap_open_dead.restype = ctypes.c_void_p
    lib.pcap_open_dead.argtypes = [ctypes.c_int, ctypes.c_int]
    lib.pcap_compile.restype = ctypes.c_int
    lib.pcap_compile.argtypes = [ctypes.c_void_p, ctypes.POINTER(BpfProgram), ctypes.c_char_p,
                                 ctypes.c_int, ctypes.c_uint32]
    lib.pcap_geterr.restype = ctypes.c_char_p
    lib.pcap_geterr.argtypes = [ctypes.c_void_p]
    lib.pcap_freecode.argtypes = [ctypes.POINTER(BpfProgram)]
    lib.pcap_close.argtypes = [ctypes.c_void_p]
    return lib


def compile_filter(expression, linktype=1):
    """Bytes of the optimised BPF program for `expression` on frames of `linktype`.

    Raises ConfigError with libpcap's message for an invalid expression.
    """
    lib = load_libpcap()
    handle = lib.pcap_open_dead(LINKTYPE_TO_DLT.get(linktype, 1), SNAPLEN)
    if not handle:
        raise ConfigError("--bpf: libpcap could not start a compiler")
    try:
        prog = BpfProgram()
        if lib.pcap_compile(handle, ctypes.byref(prog), expression.encode(), 1,
                            PCAP_NETMASK_UNKNOWN) != 0:
            message = lib.pcap_geterr(handle).decode(errors="replace")
            raise ConfigError(f"--bpf {expression!r}: {message}")
        try:
            return b"".join(struct.pack("HBBI", i.code, i.jt, i.jf, i.k)
                            for i in prog.bf_insns[:prog.bf_len])
        finally:
            lib.pcap_freecode(ctypes.byref(prog))
    finally:
        lib.pcap_close(handle)
