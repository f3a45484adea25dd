"""Structured dtypes shared by every kernel, declared once.

Addresses are 128-bit pairs (hi, lo); IPv4 is stored IPv4-mapped
(::ffff:a.b.c.d), so one code path serves both families.
"""

import numpy as np

IPV4_MAPPED = np.uint64(0x0000FFFF00000000)

# --- decode status: why a record did or did not yield a packet -------------
DECODE_OK = 0
DECODE_TRUNCATED = 1        # the capture ends inside a header (snaplen, cut record)
DECODE_MALFORMED = 2        # a header contradicts itself (version, lengths)
DECODE_UNSUPPORTED_LINK = 3  # link type Minewatch does not decode
DECODE_NOT_IP = 4           # a valid frame that carries no IP (ARP, LLDP, STP...)
DECODE_TUNNEL_DEPTH = 5     # more nested encapsulations than MAX_TUNNEL_DEPTH

DECODE_REASONS = ("ok", "truncated", "malformed", "unsupported_link", "not_ip",
                  "tunnel_too_deep")
MAX_TUNNEL_DEPTH = 4

# --- tunnel bits: which encapsulations a packet (or flow) came through -------
TUNNEL_GRE = 1 << 0
TUNNEL_ERSPAN = 1 << 1
TUNNEL_VXLAN = 1 << 2
TUNNEL_GTPU = 1 << 3
TUNNEL_IPIP = 1 << 4      # IPv4 in IPv4
TUNNEL_6IN4 = 1 << 5
TUNNEL_4IN6 = 1 << 6
TUNNEL_6IN6 = 1 << 7
TUNNEL_TEREDO = 1 << 8
TUNNEL_NAMES = ("gre", "erspan", "vxlan", "gtpu", "ipip", "6in4", "4in6", "6in6",
                "teredo")

# --- fragment kinds -----------------------------------------------------------
FRAG_NONE = 0
FRAG_FIRST = 1   # offset 0 with more-fragments set: carries the ports
FRAG_LATER = 2   # offset > 0: no L4 header, attributed to its flow by IP id

# --- link types (tcpdump.org/linktypes.html) ----------------------------------
LINKTYPE_NULL = 0
LINKTYPE_ETHERNET = 1
LINKTYPE_PPP = 9
LINKTYPE_RAW_BSD12 = 12
LINKTYPE_RAW_BSD14 = 14
LINKTYPE_PPP_HDLC = 50
LINKTYPE_PPP_ETHER = 51       # PPPoE session without the Ethernet header
LINKTYPE_RAW = 101
LINKTYPE_C_HDLC = 104
LINKTYPE_LOOP = 108
LINKTYPE_LINUX_SLL = 113
LINKTYPE_PPI = 192            # Per-Packet Information header, then a frame of its own DLT
LINKTYPE_IPV4 = 228
LINKTYPE_IPV6 = 229
LINKTYPE_LINUX_SLL2 = 276
SUPPORTED_LINKTYPES = frozenset({
    LINKTYPE_NULL, LINKTYPE_ETHERNET, LINKTYPE_PPP, LINKTYPE_RAW_BSD12,
    LINKTYPE_RAW_BSD14, LINKTYPE_PPP_HDLC, LINKTYPE_PPP_ETHER, LINKTYPE_RAW,
    LINKTYPE_C_HDLC, LINKTYPE_LOOP, LINKTYPE_LINUX_SLL, LINKTYPE_IPV4,
    LINKTYPE_IPV6, LINKTYPE_LINUX_SLL2, LINKTYPE_PPI,
})

# One decoded record (the innermost IP packet of it).
PACKET_DTYPE = np.dtype([
    ("status", np.uint8),         # DECODE_* of this record
    ("ip_version", np.uint8),     # 4 or 6 (innermost); 0 when not decoded
    ("proto", np.uint8),          # innermost L4 protocol number (6 TCP, 17 UDP...)
    ("tcp_flags", np.uint8),      # TCP flags byte (FIN=1 SYN=2 RST=4 PSH=8 ACK=16)
    ("frag", np.uint8),           # FRAG_NONE / FRAG_FIRST / FRAG_LATER
    ("tunnel", np.uint16),        # TUNNEL_* bits of every encapsulation crossed
    ("src_hi", np.uint64), ("src_lo", np.uint64),
    ("dst_hi", np.uint64), ("dst_lo", np.uint64),
    ("sport", np.uint16), ("dport", np.uint16),  # 0 for protocols without ports
    ("ip_id", np.uint32),         # IPv4 id or IPv6 fragment-header id (fragments)
    ("seq", np.uint32), ("ack", np.uint32),      # TCP only
    ("payload_offset", np.int64),  # absolute offset of L4 payload in the batch buffer
    ("payload_caplen", np.int32),  # captured L4 payload bytes (<= payload_len)
    ("payload_len", np.int32),     # L4 payload bytes on the wire, from IP lengths
    ("l4_anomaly", np.uint8),      # L4_* below: the ports were read, the rest of the
                                   # TCP/UDP header was cut or bogus (payload then empty)
])

# L4 header anomalies of packets that still join their flow by their ports
L4_CLEAN = 0
L4_TRUNCATED = 1     # capture ends inside the TCP/UDP header, after the ports
L4_MALFORMED = 2     # TCP data offset / UDP length contradict the IP length
L4_ANOMALIES = ("clean", "l4_header_truncated", "l4_header_malformed")

# Reasons a flow record was emitted.
END_IDLE = 0      # no packet for idle_timeout
END_ACTIVE = 1    # open longer than active_timeout; the flow goes on in a new record
END_FORCED = 2    # table full: the least recently seen flow made room
END_EOF = 3       # the capture ended
END_REASONS = ("idle", "active", "forced", "eof")

# One flow, client = initiator (sender of a SYN without ACK, else first seen).
FLOW_DTYPE = np.dtype([
    ("hash", np.uint64),          # hash of the canonical 5-tuple (table bookkeeping)
    ("client_hi", np.uint64), ("client_lo", np.uint64),
    ("server_hi", np.uint64), ("server_lo", np.uint64),
    ("client_port", np.uint16), ("server_port", np.uint16),
    ("proto", np.uint8),
    ("ip_version", np.uint8),
    ("tunnel", np.uint16),        # TUNNEL_* bits seen on any packet of the flow
    ("flags_c2s", np.uint8), ("flags_s2c", np.uint8),  # OR of TCP flags per direction
    ("end_reason", np.uint8),     # END_* (set when emitted)
    ("packets_c2s", np.uint64), ("packets_s2c", np.uint64),
    ("bytes_c2s", np.uint64), ("bytes_s2c", np.uint64),      # wire bytes of the records
    ("payload_c2s", np.uint64), ("payload_s2c", np.uint64),  # L4 payload bytes (wire)
    ("fragments", np.uint64),     # later fragments attributed to this flow by IP id
    ("first_ts", np.int64), ("last_ts", np.int64),           # ns since the epoch
    ("first_frame", np.int64),    # 1-based record number of the flow's first packet
    ("flow_id", np.int64),        # creation order within one run (1, 2, ...)
    # --- timing of the payload (flowtable.note_timing; PROTOCOLS.md 11 flow shape) ---
    # A "send" is a client payload packet more than the burst window after the
    # previous one; a server payload packet is a "reply" when it comes within the
    # reply window after a send not yet answered, a "push" (a job) otherwise.
    ("t_last_c2s", np.int64), ("t_last_s2c", np.int64),  # last payload packet per direction (ns)
    ("t_last_push", np.int64),    # last push (ns)
    ("t_idle_max", np.int64),     # longest silence between two packets of the flow (ns)
    ("t_sends", np.uint32), ("t_pushes", np.uint32), ("t_replies", np.uint32),
    ("t_synced", np.uint32),      # pushes within the sync window of the same server's push
                                  # to another client (a job broadcast to a pool's miners)
    # sizes leave out the first HANDSHAKE_WRITES payload packets of each direction (TLS
    # handshake, proxy request): what follows is the application's own rhythm
    ("t_pl_c2s", np.uint32), ("t_pl_s2c", np.uint32),    # payload packets per direction
    ("t_c2s_max", np.uint32), ("t_s2c_max", np.uint32),  # largest payload per direction
    ("t_c2s_size", np.float32), ("t_s2c_size", np.float32),  # sum of payload sizes
    ("t_send_iat", np.float32), ("t_send_iat2", np.float32),  # sum, sum of squares of the
    ("t_push_iat", np.float32), ("t_push_iat2", np.float32),  # gaps between sends / pushes (s)
    ("t_c2s_size2", np.float32), ("t_s2c_size2", np.float32),  # sum of squared payload sizes
])

HANDSHAKE_WRITES = 4
TIMING_FIELDS = tuple(name for name in FLOW_DTYPE.names if name.startswith("t_"))
