"""Live capture: Linux AF_PACKET sockets with a TPACKET_V3 mmap ring -> RecordBatch.

One `AfPacketRing` per worker process. `open_fanout_rings` opens them all in the
parent (where a missing interface or a missing CAP_NET_RAW is one clear error),
joins them to one PACKET_FANOUT group (flow hash, both directions of a flow to
the same socket; IP fragments reassembled first so they follow their flow) and
sets promiscuous mode. Each worker then takes its ring over (fork).

A ring is `block_count` blocks of `block_size` bytes. The kernel fills a block
with records and hands it over (block_status = TP_STATUS_USER) when it is full
or `block_timeout_ms` after its first record. `batches()` yields each handed-
over block as one RecordBatch over the ring's memory (no copy, no per-record
Python: `afpacket_walk.ring_block_walk`), and gives the block back to the kernel
only when the consumer asks for the next batch, i.e. after the engine is done
with it. When no block comes within the poll timeout it yields an empty batch
whose `clock_ns` lets the engine end idle flows.

Kernel interface: Documentation/networking/packet_mmap.rst, linux/if_packet.h.
"""

import logging
import mmap
import os
import select
import socket
import struct
import time

import numpy as np

from detector.capture.afpacket_walk import (
    BLOCK_STATUS, TP_STATUS_KERNEL, TP_STATUS_USER, ring_block_walk,
)
from detector.capture.batch import RecordBatch, release_map
from detector.errors import CaptureError

log = logging.getLogger(__name__)

# linux/if_packet.h, linux/if_ether.h, asm-generic/socket.h
SOL_PACKET = 263
PACKET_ADD_MEMBERSHIP = 1
PACKET_RX_RING = 5
PACKET_STATISTICS = 6
PACKET_VERSION = 10
PACKET_FANOUT = 18
TPACKET_V3 = 2
PACKET_MR_PROMISC = 1
PACKET_FANOUT_HASH = 0
PACKET_FANOUT_FLAG_UNIQUEID = 0x2000
PACKET_FANOUT_FLAG_DEFRAG = 0x8000
ETH_P_ALL = 0x0003
SO_ATTACH_FILTER = 26
SO_DETACH_FILTER = 27

TPACKET_ALIGNMENT = 16
FRAME_SIZE = 2048            # only for the ring request's arithmetic: V3 packs records
MIN_RECORD_BYTES = 64        # tpacket3_hdr (48) + the smallest frame, aligned
DROP_ALL = struct.pack("HBBI", 0x06, 0, 0, 0)   # BPF "ret #0": until the fanout is joined

# ARPHRD_* (linux/if_arp.h) -> LINKTYPE_* of what a SOCK_RAW packet socket delivers
ARPHRD_LINKTYPES = {1: 1, 772: 1,           # Ethernet, loopback: Ethernet frames
                    65534: 101, 519: 101}   # none (tun), raw IP: IP packets


def interface_linktype(iface):
    """LINKTYPE_* of the frames a raw packet socket on `iface` delivers.

    Raises CaptureError for a missing interface or a link type the decoder
    does not read from a packet socket.
    """
    try:
        socket.if_nametoindex(iface)
    except OSError:
        raise CaptureError(iface, "no such network interface") from None
    try:
        with open(f"/sys/class/net/{iface}/type", encoding="ascii") as f:
            arphrd = int(f.read().strip())
    except (OSError, ValueError):
        arphrd = 1
    if arphrd not in ARPHRD_LINKTYPES:
        raise CaptureError(iface, f"unsupported interface type (ARPHRD {arphrd})")
    return ARPHRD_LINKTYPES[arphrd]


def check_ring_geometry(block_size, block_count):
    """Raise CaptureError unless the kernel can take this ring (page-aligned blocks)."""
    page = mmap.PAGESIZE
    if block_size < page or block_size % page:
        raise CaptureError("--ring-block-size", f"must be a multiple of the page size "
                           f"({page} bytes), got {block_size}")
    if block_count < 1:
        raise CaptureError("--ring-blocks", f"must be at least 1, got {block_count}")


def open_packet_socket(iface):
    """An AF_PACKET socket receiving nothing yet (protocol 0: not bound)."""
    try:
        return socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
    except PermissionError:
        raise CaptureError(iface, "permission denied opening a packet socket: live capture "
                           "needs CAP_NET_RAW (run as root, or see docs/live.md)") from None
    except OSError as e:
        raise CaptureError(iface, f"cannot open a packet socket: {e.strerror or e}") from None


def attach_filter(sock, program):
    """SO_ATTACH_FILTER with a classic BPF program (bytes of struct sock_filter)."""
    import ctypes
    n = len(program) // 8
    code = ctypes.create_string_buffer(program, len(program))
    fprog = struct.pack("@HP", n, ctypes.addressof(code))
    sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, fprog)


class AfPacketRing:
    """One packet socket with its TPACKET_V3 ring; yields its blocks as RecordBatch.

    name          str    the interface (names the capture in hits)
    records       int    records handed out so far
    received      int    packets the kernel queued to this ring (PACKET_STATISTICS)
    dropped       int    packets the kernel dropped because the ring was full
    """

    def __init__(self, iface, linktype, block_size, block_count, block_timeout_ms):
        self.name = iface
        self.path = iface
        self.linktype = linktype
        self.block_size = block_size
        self.block_count = block_count
        self.block_timeout_ms = block_timeout_ms
        self.records = 0
        self.received = 0
        self.dropped = 0
        self.stopping = False
        self.errors = []              # socket errors not yet reported (link down...)
        self._next = 0
        self._deadline = None
        self.sock = open_packet_socket(iface)
        self.ring = None
        self._map = None
        try:
            self._setup_ring()
        except OSError as e:
            self.close()
            raise CaptureError(iface, f"cannot set up the capture ring "
                               f"({block_count} x {block_size} bytes): {e.strerror or e}") from None
        # the kernel writes status words and records; we read records and give blocks back
        self.status = np.ndarray((block_count,), np.uint32, buffer=self._map,
                                 offset=BLOCK_STATUS, strides=(block_size,))
        m = block_size // MIN_RECORD_BYTES + 1
        self.arrays = (np.empty(m, np.int64), np.empty(m, np.uint32), np.empty(m, np.uint32),
                       np.empty(m, np.int64), np.empty(m, np.uint16))

    def _setup_ring(self):
        s = self.sock
        s.setsockopt(SOL_PACKET, PACKET_VERSION, TPACKET_V3)
        frames = self.block_size // FRAME_SIZE * self.block_count
        req = struct.pack("7I", self.block_size, self.block_count, FRAME_SIZE, frames,
                          self.block_timeout_ms, 0, 0)
        s.setsockopt(SOL_PACKET, PACKET_RX_RING, req)
        self._map = mmap.mmap(s.fileno(), self.block_size * self.block_count,
                              mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
        self.ring = np.frombuffer(self._map, np.uint8)

    # --- socket set-up (parent, before the workers start) -------------------------------
    def bind(self, program, fanout_id):
        """Receive from the interface through `program` (None: everything), as a member
        of fanout group `fanout_id` (None: create a new group). Returns the group id.

        A socket receives every packet between bind and joining the group, so a
        drop-all filter holds it closed until it has joined; then `program` replaces it.
        """
        s = self.sock
        attach_filter(s, DROP_ALL)
        s.bind((self.name, ETH_P_ALL))
        mode = PACKET_FANOUT_HASH | PACKET_FANOUT_FLAG_DEFRAG
        if fanout_id is None:
            s.setsockopt(SOL_PACKET, PACKET_FANOUT,
                         struct.pack("I", (mode | PACKET_FANOUT_FLAG_UNIQUEID) << 16))
            fanout_id = s.getsockopt(SOL_PACKET, PACKET_FANOUT) & 0xFFFF
        else:
            s.setsockopt(SOL_PACKET, PACKET_FANOUT, struct.pack("I", fanout_id | (mode << 16)))
        mreq = struct.pack("iHH8s", socket.if_nametoindex(self.name), PACKET_MR_PROMISC, 0,
                           b"")
        s.setsockopt(SOL_PACKET, PACKET_ADD_MEMBERSHIP, mreq)
        self.statistics()              # counters start now
        if program is None:
            s.setsockopt(socket.SOL_SOCKET, SO_DETACH_FILTER, 0)
        else:
            attach_filter(s, program)
        return fanout_id

    def statistics(self):
        """Fold the kernel's counters (reset by each read) into received/dropped."""
        raw = self.sock.getsockopt(SOL_PACKET, PACKET_STATISTICS, 12)
        packets, drops, _freeze = struct.unpack("3I", raw)
        self.received += packets      # the kernel's tp_packets already includes tp_drops
        self.dropped += drops
        return self.received, self.dropped

    # --- reading (worker) ---------------------------------------------------------------
    def stop(self):
        """Finish after the blocks already received: call from a signal handler."""
        self.stopping = True

    def batches(self, poll_ms=200):
        """Yield one RecordBatch per block the kernel hands over, until `stop()`.

        Each batch is valid until the next one is requested; its block then goes
        back to the kernel. Empty batches carry `clock_ns` (see module doc). After
        `stop()`, what the kernel has received is still read: blocks keep being read
        until the kernel has had time to hand over the last partly filled one (twice
        the block timeout), and at most one ring's worth, so a busy link cannot keep
        a stopping worker running.
        """
        poller = select.poll()
        poller.register(self.sock.fileno(), select.POLLIN | select.POLLERR)
        lag_ns = 2 * self.block_timeout_ms * 1_000_000 + 50_000_000
        left = None        # after stop(): blocks still to read (one ring's worth at most)
        while True:
            if self.stopping and left is None:
                left = self.block_count
                self._deadline = time.monotonic() + lag_ns / 1e9
            b = self._next
            ready = self.status[b] & TP_STATUS_USER
            if left is not None and (left == 0 or (not ready
                                                   and time.monotonic() >= self._deadline)):
                return
            if ready:
                if left is not None:
                    left -= 1
                n = ring_block_walk(self.ring, b * self.block_size, self.block_size,
                                    self.linktype, *self.arrays)
                offset, caplen, wirelen, ts_ns, linktype = self.arrays
                batch = RecordBatch(self.ring, offset[:n], caplen[:n], wirelen[:n],
                                    ts_ns[:n], linktype[:n], self.records)
                self.records += n
                yield batch
                self.status[b] = TP_STATUS_KERNEL
                self._next = (b + 1) % self.block_count
                continue
            if any(ev & select.POLLERR for _fd, ev in poller.poll(poll_ms)):
                self.note_socket_error()
            if not self.status[self._next] & TP_STATUS_USER:
                # every record received more than `lag_ns` ago is in a handed-over block
                yield self.empty_batch(time.time_ns() - lag_ns)

    def note_socket_error(self):
        """Read (and so clear) a pending socket error, e.g. ENETDOWN when the link
        goes down; the socket receives again once it is back up."""
        code = self.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if code:
            self.errors.append(f"{self.name}: {os.strerror(code)}")

    def take_errors(self):
        out, self.errors = self.errors, []
        return out

    def empty_batch(self, clock_ns):
        offset, caplen, wirelen, ts_ns, linktype = self.arrays
        return RecordBatch(self.ring, offset[:0], caplen[:0], wirelen[:0], ts_ns[:0],
                           linktype[:0], self.records, clock_ns)

    def close(self):
        self.status = None
        self.ring = None
        if self._map is not None:
            release_map(self._map)
            self._map = None
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


def open_fanout_rings(iface, count, program=None, block_size=1 << 20, block_count=64,
                      block_timeout_ms=100):
    """Open `count` rings on `iface` in one new fanout group; list of AfPacketRing.

    `program` is a compiled BPF filter (afpacket_bpf.compile_filter) or None.
    Raises CaptureError (missing interface, no CAP_NET_RAW, ring too big...).
    """
    linktype = interface_linktype(iface)
    check_ring_geometry(block_size, block_count)
    rings = []
    fanout_id = None
    try:
        for _ in range(count):
            ring = AfPacketRing(iface, linktype, block_size, block_count, block_timeout_ms)
            rings.append(ring)
            try:
                fanout_id = ring.bind(program, fanout_id)
            except OSError as e:
                raise CaptureError(iface, f"cannot capture: {e.strerror or e}") from None
    except BaseException:
        for ring in rings:
            ring.close()
        raise
    log.debug("%s: %d rings in fanout group %d (pid %d)", iface, count, fanout_id, os.getpid())
    return rings
