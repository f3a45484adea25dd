"""Flow table: open addressing on the canonical bidirectional 5-tuple.

State is plain arrays built by `new_flow_table` (pynndescent's make_heap
style); `update_flows` folds a decoded batch into it and emits finished flows
into a bounded output array; `flush_flows` empties it at the end of a capture.

Layout
------
rows        FLOW_DTYPE[capacity]   one row per live flow; a row keeps its
                                   index for the flow's whole life, so side
                                   tables (payload buffers, match state) can
                                   be indexed by row
index       int32[2^k >= 2*cap]    row or EMPTY; linear probing, deletion by
                                   backward shift (no tombstones)
lru_prev/next int32[capacity]      doubly linked list, least recently seen
                                   first (each packet moves its flow to the
                                   tail): idle expiry and forced eviction
                                   both take the head, O(1)
free_rows   int32[capacity]        stack of unused rows
frag        int64[FRAG_SLOTS, 7]   direct-mapped IP-id table: the ports of a
                                   first fragment, so later fragments of the
                                   same datagram find their flow
meta        int64[META_SIZE]       counters and list heads (META_* below)
sync        int64[SYNC_SLOTS, 6]   direct-mapped per-server table of the last push
                                   (server address and port, time, flow): pushes
                                   of one server to several clients within the
                                   sync window count in each flow's t_synced

Memory is fixed at construction, whatever the traffic: a SYN flood or a
scan only turns over rows faster (counted in META_FORCED).
"""

import numpy as np

from .config import kernel
from .dtypes import (DECODE_OK, END_ACTIVE, END_FORCED, END_IDLE,
                     FLOW_DTYPE, FRAG_FIRST, FRAG_LATER, HANDSHAKE_WRITES)
from .prefetch import prefetch, prefetch_row

EMPTY = -1

META_LIVE = 0          # live flows
META_FREE_TOP = 1      # number of rows on the free stack
META_LRU_HEAD = 2      # least recently seen row (EMPTY when none)
META_LRU_TAIL = 3      # most recently seen row
META_NEXT_ID = 4       # flow_id given to the next new flow
META_FORCED = 5        # flows expired early because the table was full
META_NOW_NS = 6        # latest timestamp seen (the table's clock)
META_IDLE_NS = 7       # idle timeout in ns, 0 = never
META_ACTIVE_NS = 8     # active timeout in ns, 0 = never
META_OUT_N = 9         # rows written to the output array by the current call
META_FRAG_ORPHANS = 10  # later fragments whose first fragment was never seen
META_FRAGS = 11        # later fragments attributed to a flow
META_PACKETS = 12      # decoded packets folded into flows
META_BURST_NS = 13     # payload packets of one direction closer than this are one write
META_REPLY_NS = 14     # a server packet this soon after an unanswered send is its reply
META_SYNC_NS = 15      # pushes of one server closer than this coincide (one broadcast)
META_SIZE = 16

SYNC_SLOTS = 1 << 16   # servers whose last push is remembered (direct-mapped)
SYNC_WIDTH = 6         # server hi, server lo ^ port, last push ns, flow_id, row, credited
# default windows (seconds); scan takes them from signatures/timing.yaml
BURST_S = 0.010
REPLY_S = 0.5
SYNC_S = 0.2

FRAG_SLOTS = 4096      # in-flight fragmented datagrams remembered (direct-mapped)
FRAG_WIDTH = 7         # src_hi, src_lo, dst_hi, dst_lo, ip_id|proto<<32, ports, used

DYNAMIC_PORT_MIN = 32768     # Linux's default ephemeral range starts here (IANA: 49152)
REGISTERED_PORT_MIN = 1024
TCP_SYN = 0x02
TCP_ACK = 0x10
PROTO_TCP = 6

# update_flows asks for the index slot of packet i + LOOKAHEAD and, half that many
# packets later, for the row found there: the random misses of several packets
# overlap instead of coming one after another (a hint only, results are unchanged)
LOOKAHEAD = 8
LOOKAHEAD_RING = 16    # power of two > LOOKAHEAD: hashes of the packets in flight


def new_flow_table(capacity, idle_timeout_s=0.0, active_timeout_s=0.0,
                   timing_windows_s=(BURST_S, REPLY_S, SYNC_S)):
    """Allocate every array of a table holding at most `capacity` flows.

    timing_windows_s: (burst, reply, sync) windows of the payload timing
    (META_BURST_NS, META_REPLY_NS, META_SYNC_NS)."""
    if capacity < 1:
        raise ValueError("capacity must be at least 1")
    size = 1
    while size < 2 * capacity:
        size *= 2
    meta = np.zeros(META_SIZE, np.int64)
    meta[META_FREE_TOP] = capacity
    meta[META_LRU_HEAD] = EMPTY
    meta[META_LRU_TAIL] = EMPTY
    meta[META_NEXT_ID] = 1
    meta[META_NOW_NS] = np.iinfo(np.int64).min
    meta[META_IDLE_NS] = int(idle_timeout_s * 1e9)
    meta[META_ACTIVE_NS] = int(active_timeout_s * 1e9)
    burst_s, reply_s, sync_s = timing_windows_s
    meta[META_BURST_NS] = int(burst_s * 1e9)
    meta[META_REPLY_NS] = int(reply_s * 1e9)
    meta[META_SYNC_NS] = int(sync_s * 1e9)
    return (
        np.zeros(capacity, FLOW_DTYPE),
        np.full(size, EMPTY, np.int32),
        np.full(capacity, EMPTY, np.int32),
        np.full(capacity, EMPTY, np.int32),
        np.arange(capacity - 1, -1, -1, dtype=np.int32),
        np.zeros((FRAG_SLOTS, FRAG_WIDTH), np.int64),
        meta,
        np.zeros((SYNC_SLOTS, SYNC_WIDTH), np.int64),
    )


@kernel
def mix64(h, v):
    """Fold the 64-bit value `v` into hash `h` (xor-multiply, splitmix finaliser)."""
    h ^= v
    h *= np.uint64(0x9E3779B97F4A7C15)
    h ^= h >> np.uint64(29)
    return h


@kernel
def endpoint_less(a_hi, a_lo, a_port, b_hi, b_lo, b_port):
    """True when endpoint a sorts before endpoint b (address, then port)."""
    if a_hi != b_hi:
        return a_hi < b_hi
    if a_lo != b_lo:
        return a_lo < b_lo
    return a_port < b_port


@kernel
def tuple_hash(a_hi, a_lo, a_port, b_hi, b_lo, b_port, proto):
    """Hash of a canonical (a < b) 5-tuple; never 0 so rows can tell it apart."""
    h = np.uint64(0x243F6A8885A308D3)
    h = mix64(h, a_hi)
    h = mix64(h, a_lo)
    h = mix64(h, b_hi)
    h = mix64(h, b_lo)
    h = mix64(h, (np.uint64(a_port) << np.uint64(24)) | (np.uint64(b_port) << np.uint64(8))
              | np.uint64(proto))
    return h | np.uint64(1)


@kernel
def lru_unlink(row, lru_prev, lru_next, meta):
    p = lru_prev[row]
    n = lru_next[row]
    if p != EMPTY:
        lru_next[p] = n
    else:
        meta[META_LRU_HEAD] = n
    if n != EMPTY:
        lru_prev[n] = p
    else:
        meta[META_LRU_TAIL] = p
    lru_prev[row] = EMPTY
    lru_next[row] = EMPTY


@kernel
def lru_append(row, lru_prev, lru_next, meta):
    tail = meta[META_LRU_TAIL]
    lru_prev[row] = tail
    lru_next[row] = EMPTY
    if tail != EMPTY:
        lru_next[tail] = row
    else:
        meta[META_LRU_HEAD] = row
    meta[META_LRU_TAIL] = row


@kernel
def index_remove(rows, index, row):
    """Delete `row` from the probe sequence, shifting later entries back."""
    mask = np.uint64(len(index) - 1)
    pos = np.int64(rows[row]["hash"] & mask)
    while index[pos] != row:
        pos = (pos + 1) & np.int64(mask)
    j = pos
    while True:
        j = (j + 1) & np.int64(mask)
        r = index[j]
        if r == EMPTY:
            break
        home = np.int64(rows[r]["hash"] & mask)
        # r may move back to `pos` unless its home lies cyclically in (pos, j]
        if pos <= j:
            stays = pos < home <= j
        else:
            stays = home > pos or home <= j
        if not stays:
            index[pos] = r
            pos = j
    index[pos] = EMPTY


@kernel
def emit(rows, row, reason, out, meta):
    """Copy a flow row to the output array with its end reason."""
    k = meta[META_OUT_N]
    out[k] = rows[row]
    out[k]["end_reason"] = reason
    meta[META_OUT_N] = k + 1


@kernel
def expire(rows, index, lru_prev, lru_next, free_rows, row, reason, out, meta):
    """Emit a flow and give its row back: index, LRU list and free stack."""
    emit(rows, row, reason, out, meta)
    index_remove(rows, index, row)
    lru_unlink(row, lru_prev, lru_next, meta)
    free_rows[meta[META_FREE_TOP]] = row
    meta[META_FREE_TOP] += 1
    meta[META_LIVE] -= 1


@kernel
def find_row(rows, index, h, a_hi, a_lo, a_port, b_hi, b_lo, b_port, proto):
    """Return (row, slot): the flow's row or EMPTY, and the index slot probed last."""
    mask = np.int64(len(index) - 1)
    pos = np.int64(h) & mask
    while True:
        r = index[pos]
        if r == EMPTY:
            return EMPTY, pos
        f = rows[r]
        if f["hash"] == h and f["proto"] == proto:
            if (f["client_hi"] == a_hi and f["client_lo"] == a_lo and f["client_port"] == a_port
                    and f["server_hi"] == b_hi and f["server_lo"] == b_lo
                    and f["server_port"] == b_port):
                return r, pos
            if (f["client_hi"] == b_hi and f["client_lo"] == b_lo and f["client_port"] == b_port
                    and f["server_hi"] == a_hi and f["server_lo"] == a_lo
                    and f["server_port"] == a_port):
                return r, pos
        pos = (pos + 1) & mask


@kernel
def frag_slot(src_hi, src_lo, dst_hi, dst_lo, key, nslots):
    h = np.uint64(0x13198A2E03707344)
    h = mix64(h, src_hi)
    h = mix64(h, src_lo)
    h = mix64(h, dst_hi)
    h = mix64(h, dst_lo)
    h = mix64(h, np.uint64(key))
    return np.int64(h % np.uint64(nslots))


@kernel
def frag_remember(frag, p):
    """Store the ports of a first fragment under (src, dst, proto, ip id)."""
    key = np.int64(p["ip_id"]) | (np.int64(p["proto"]) << 32)
    s = frag_slot(p["src_hi"], p["src_lo"], p["dst_hi"], p["dst_lo"], key, frag.shape[0])
    frag[s, 0] = np.int64(p["src_hi"])
    frag[s, 1] = np.int64(p["src_lo"])
    frag[s, 2] = np.int64(p["dst_hi"])
    frag[s, 3] = np.int64(p["dst_lo"])
    frag[s, 4] = key
    frag[s, 5] = (np.int64(p["sport"]) << 16) | np.int64(p["dport"])
    frag[s, 6] = 1


@kernel
def frag_lookup(frag, p):
    """Ports (sport << 16 | dport) of the datagram a later fragment belongs to, or -1."""
    key = np.int64(p["ip_id"]) | (np.int64(p["proto"]) << 32)
    s = frag_slot(p["src_hi"], p["src_lo"], p["dst_hi"], p["dst_lo"], key, frag.shape[0])
    if (frag[s, 6] == 1 and frag[s, 4] == key and frag[s, 0] == np.int64(p["src_hi"])
            and frag[s, 1] == np.int64(p["src_lo"]) and frag[s, 2] == np.int64(p["dst_hi"])
            and frag[s, 3] == np.int64(p["dst_lo"])):
        return frag[s, 5]
    return np.int64(-1)


@kernel
def sender_is_server(p, sport, dport):
    """Whether the first packet seen of a flow came from its server.

    A SYN comes from the client and a SYN+ACK from the server. Without either
    (the capture began mid-flow) the port in the service range is the
    server's: a packet from a port below the dynamic range to a higher,
    registered-or-dynamic port (3333 -> 46080, 53 -> 51000) is a reply.
    Otherwise the first sender is taken as the client.
    """
    if p["proto"] == PROTO_TCP and (p["tcp_flags"] & TCP_SYN) != 0:
        return (p["tcp_flags"] & TCP_ACK) != 0
    return sport < dport and sport < DYNAMIC_PORT_MIN and dport >= REGISTERED_PORT_MIN


@kernel
def new_row(rows, index, lru_prev, lru_next, free_rows, slot, h, p, sport, dport, ts,
            frame, meta):
    """Start a flow in a free row, oriented by `sender_is_server`."""
    meta[META_FREE_TOP] -= 1
    row = free_rows[meta[META_FREE_TOP]]
    meta[META_LIVE] += 1
    index[slot] = row
    f = rows[row]
    if sender_is_server(p, sport, dport):
        f["client_hi"], f["client_lo"], f["client_port"] = p["dst_hi"], p["dst_lo"], dport
        f["server_hi"], f["server_lo"], f["server_port"] = p["src_hi"], p["src_lo"], sport
    else:
        f["client_hi"], f["client_lo"], f["client_port"] = p["src_hi"], p["src_lo"], sport
        f["server_hi"], f["server_lo"], f["server_port"] = p["dst_hi"], p["dst_lo"], dport
    f["hash"] = h
    f["proto"] = p["proto"]
    f["ip_version"] = p["ip_version"]
    f["tunnel"] = 0
    f["end_reason"] = 0
    reset_counters(f, ts, frame)
    start_timing(f)
    f["flow_id"] = meta[META_NEXT_ID]
    meta[META_NEXT_ID] += 1
    lru_append(row, lru_prev, lru_next, meta)
    return row


@kernel
def reset_counters(f, ts, frame):
    """Start a new record of the flow at `ts` (new flow, or after an active timeout)."""
    f["flags_c2s"] = 0
    f["flags_s2c"] = 0
    f["packets_c2s"] = 0
    f["packets_s2c"] = 0
    f["bytes_c2s"] = 0
    f["bytes_s2c"] = 0
    f["payload_c2s"] = 0
    f["payload_s2c"] = 0
    f["fragments"] = 0
    f["first_ts"] = ts
    f["last_ts"] = ts
    f["first_frame"] = frame
    f["t_idle_max"] = 0
    f["t_sends"] = 0
    f["t_pushes"] = 0
    f["t_replies"] = 0
    f["t_synced"] = 0
    f["t_pl_c2s"] = 0
    f["t_pl_s2c"] = 0
    f["t_c2s_max"] = 0
    f["t_s2c_max"] = 0
    f["t_send_iat"] = 0
    f["t_send_iat2"] = 0
    f["t_push_iat"] = 0
    f["t_push_iat2"] = 0
    f["t_c2s_size2"] = 0
    f["t_s2c_size2"] = 0
    f["t_c2s_size"] = 0
    f["t_s2c_size"] = 0


@kernel
def start_timing(f):
    """A new flow has no earlier payload (an active-timeout record keeps them: gaps go on)."""
    f["t_last_c2s"] = 0
    f["t_last_s2c"] = 0
    f["t_last_push"] = 0


@kernel
def note_sync(rows, row, f, ts, sync, meta):
    """Count a push that coincides with the same server's last push to another flow
    (and, once per broadcast, that flow's push too)."""
    key_lo = np.int64(f["server_lo"] ^ (np.uint64(f["server_port"]) << np.uint64(48)))
    key_hi = np.int64(f["server_hi"])
    h = mix64(np.uint64(0x452821E638D01377), np.uint64(key_hi))
    s = np.int64(mix64(h, np.uint64(key_lo)) % np.uint64(sync.shape[0]))
    fid = f["flow_id"]
    credited = 0
    if sync[s, 0] == key_hi and sync[s, 1] == key_lo and sync[s, 3] != 0:
        if sync[s, 3] != fid and ts - sync[s, 2] <= meta[META_SYNC_NS]:
            f["t_synced"] += 1
            credited = 1
            if sync[s, 5] == 0:
                other = sync[s, 4]
                if rows[other]["flow_id"] == sync[s, 3]:
                    rows[other]["t_synced"] += 1
    sync[s, 0] = key_hi
    sync[s, 1] = key_lo
    sync[s, 2] = ts
    sync[s, 3] = fid
    sync[s, 4] = row
    sync[s, 5] = credited


@kernel
def note_timing(rows, row, f, ts, from_client, payload, sync, meta):
    """Fold one payload packet into the flow's timing fields (FLOW_DTYPE t_*)."""
    size = np.float32(payload)
    burst = meta[META_BURST_NS]
    if from_client:
        f["t_pl_c2s"] += 1
        if f["t_pl_c2s"] > HANDSHAKE_WRITES:
            f["t_c2s_size"] += size
            f["t_c2s_size2"] += size * size
            if payload > f["t_c2s_max"]:
                f["t_c2s_max"] = payload
        last = f["t_last_c2s"]
        if last == 0 or ts - last > burst:
            if last != 0 and f["t_sends"] > 0:
                gap = np.float32((ts - last) * 1e-9)
                f["t_send_iat"] += gap
                f["t_send_iat2"] += gap * gap
            f["t_sends"] += 1
        f["t_last_c2s"] = ts
        return
    f["t_pl_s2c"] += 1
    if f["t_pl_s2c"] > HANDSHAKE_WRITES:
        f["t_s2c_size"] += size
        f["t_s2c_size2"] += size * size
        if payload > f["t_s2c_max"]:
            f["t_s2c_max"] = payload
    last_s = f["t_last_s2c"]
    last_c = f["t_last_c2s"]
    f["t_last_s2c"] = ts
    if last_s != 0 and ts - last_s <= burst:
        return                                   # the rest of one write
    if last_c != 0 and last_c >= last_s and ts - last_c <= meta[META_REPLY_NS]:
        f["t_replies"] += 1
        return
    lp = f["t_last_push"]
    if lp != 0 and f["t_pushes"] > 0:
        gap = np.float32((ts - lp) * 1e-9)
        f["t_push_iat"] += gap
        f["t_push_iat2"] += gap * gap
    f["t_pushes"] += 1
    f["t_last_push"] = ts
    note_sync(rows, row, f, ts, sync, meta)


@kernel
def packet_hash(p):
    """Hash of a packet's canonical 5-tuple, as `update_flows` computes it, or 0 for a
    packet whose ports are not its own (a later fragment) or that did not decode."""
    if p["status"] != DECODE_OK or p["frag"] == FRAG_LATER:
        return np.uint64(0)
    sport = p["sport"]
    dport = p["dport"]
    if endpoint_less(p["src_hi"], p["src_lo"], sport, p["dst_hi"], p["dst_lo"], dport):
        return tuple_hash(p["src_hi"], p["src_lo"], sport, p["dst_hi"], p["dst_lo"], dport,
                          p["proto"])
    return tuple_hash(p["dst_hi"], p["dst_lo"], dport, p["src_hi"], p["src_lo"], sport,
                      p["proto"])


@kernel
def update_flows(rows, index, lru_prev, lru_next, free_rows, frag, meta, sync,
                 pkts, ts_ns, wirelen, first_record, start, out, flow_of_packet,
                 fid_of_packet, side_of_packet):
    """Fold decoded packets pkts[start:] into the table.

    Parameters
    ----------
    rows..sync      the table, as built by new_flow_table
    pkts            PACKET_DTYPE[n] decoded batch
    ts_ns, wirelen  int64[n], uint32[n] from the RecordBatch
    first_record    int, 0-based index of record 0 (frame number = index + 1)
    start           int, first packet to process (resume point)
    out             FLOW_DTYPE[m], m >= 4: finished flows are written here;
                    meta[META_OUT_N] says how many (reset by this call)
    flow_of_packet  int32[n]: row of the flow each packet was folded into,
                    EMPTY for packets that joined no flow
    fid_of_packet   int64[n]: flow_id of that flow (a row may be reused later in
                    the batch; the pair tells which flow a packet belonged to)
    side_of_packet  uint8[n]: 0 when the packet came from the flow's client, 1 from its
                    server (inspection reads these three instead of the rows)

    Returns
    -------
    int  index of the first packet not processed: n when the batch is done,
         less when `out` filled up (drain it and call again from there).
    """
    meta[META_OUT_N] = 0
    out_cap = len(out)
    idle = meta[META_IDLE_NS]
    active = meta[META_ACTIVE_NS]
    n = len(pkts)
    imask = np.int64(len(index) - 1)
    ring = np.zeros(LOOKAHEAD_RING, np.uint64)      # hash of packet q at q % RING, 0 none
    for q in range(start, min(start + LOOKAHEAD, n)):
        ring[q & (LOOKAHEAD_RING - 1)] = packet_hash(pkts[q])
    for i in range(start, n):
        q = i + LOOKAHEAD
        if q < n:
            hq = packet_hash(pkts[q])
            ring[q & (LOOKAHEAD_RING - 1)] = hq
            if hq != 0:
                prefetch(index, np.int64(hq) & imask)
        q = i + LOOKAHEAD // 2
        if q < n:
            hq = ring[q & (LOOKAHEAD_RING - 1)]
            if hq != 0:
                r = index[np.int64(hq) & imask]
                if r != EMPTY:
                    prefetch_row(rows, r)
                    prefetch(lru_prev, r)
                    prefetch(lru_next, r)
        flow_of_packet[i] = EMPTY
        p = pkts[i]
        if p["status"] != DECODE_OK:
            continue
        ts = ts_ns[i]
        if ts > meta[META_NOW_NS]:
            meta[META_NOW_NS] = ts
        now = meta[META_NOW_NS]
        if idle > 0:
            while True:
                head = meta[META_LRU_HEAD]
                if head == EMPTY or rows[head]["last_ts"] + idle > now:
                    break
                if meta[META_OUT_N] >= out_cap - 2:
                    return i
                expire(rows, index, lru_prev, lru_next, free_rows, head, END_IDLE, out, meta)
        if meta[META_OUT_N] >= out_cap - 2:
            return i  # room for a forced and an active-timeout record below

        sport = p["sport"]
        dport = p["dport"]
        if p["frag"] == FRAG_FIRST:
            frag_remember(frag, p)
        elif p["frag"] == FRAG_LATER:
            ports = frag_lookup(frag, p)
            if ports < 0:
                meta[META_FRAG_ORPHANS] += 1
                continue
            sport = np.uint16(ports >> 16)
            dport = np.uint16(ports & 0xFFFF)

        h = ring[i & (LOOKAHEAD_RING - 1)]      # computed LOOKAHEAD packets ago
        if h == 0:                              # a later fragment: ports from its first
            if endpoint_less(p["src_hi"], p["src_lo"], sport, p["dst_hi"], p["dst_lo"],
                             dport):
                h = tuple_hash(p["src_hi"], p["src_lo"], sport, p["dst_hi"], p["dst_lo"],
                               dport, p["proto"])
            else:
                h = tuple_hash(p["dst_hi"], p["dst_lo"], dport, p["src_hi"], p["src_lo"],
                               sport, p["proto"])
        frame = np.int64(first_record) + i + 1
        row, slot = find_row(rows, index, h, p["src_hi"], p["src_lo"], sport,
                             p["dst_hi"], p["dst_lo"], dport, p["proto"])
        if row != EMPTY and idle > 0 and rows[row]["last_ts"] + idle <= ts:
            # the flow went idle before this packet although the list head is not
            # idle yet (timestamps that go backwards, e.g. interfaces with their own
            # clocks): it ends, and this packet starts a new one
            expire(rows, index, lru_prev, lru_next, free_rows, row, END_IDLE, out, meta)
            row, slot = find_row(rows, index, h, p["src_hi"], p["src_lo"], sport,
                                 p["dst_hi"], p["dst_lo"], dport, p["proto"])
        if row == EMPTY:
            if meta[META_LIVE] == len(rows):
                victim = meta[META_LRU_HEAD]
                expire(rows, index, lru_prev, lru_next, free_rows, victim, END_FORCED, out, meta)
                meta[META_FORCED] += 1
                row, slot = find_row(rows, index, h, p["src_hi"], p["src_lo"], sport,
                                     p["dst_hi"], p["dst_lo"], dport, p["proto"])
            row = new_row(rows, index, lru_prev, lru_next, free_rows, slot, h, p, sport,
                          dport, ts, frame, meta)
        elif meta[META_LRU_TAIL] != row:     # bursts of one flow: already the tail
            lru_unlink(row, lru_prev, lru_next, meta)
            lru_append(row, lru_prev, lru_next, meta)
        f = rows[row]
        if active > 0 and ts - f["first_ts"] >= active:
            emit(rows, row, END_ACTIVE, out, meta)
            reset_counters(f, ts, frame)

        from_client = (f["client_hi"] == p["src_hi"] and f["client_lo"] == p["src_lo"]
                       and f["client_port"] == sport)
        if f["client_hi"] == f["server_hi"] and f["client_lo"] == f["server_lo"] \
                and f["client_port"] == f["server_port"]:
            from_client = True  # a flow to itself: one direction only
        size = np.uint64(wirelen[i])
        payload = np.uint64(max(p["payload_len"], 0))
        if from_client:
            f["packets_c2s"] += 1
            f["bytes_c2s"] += size
            f["payload_c2s"] += payload
            f["flags_c2s"] |= p["tcp_flags"]
        else:
            f["packets_s2c"] += 1
            f["bytes_s2c"] += size
            f["payload_s2c"] += payload
            f["flags_s2c"] |= p["tcp_flags"]
        if p["frag"] == FRAG_LATER:
            f["fragments"] += 1
            meta[META_FRAGS] += 1
        f["tunnel"] |= p["tunnel"]
        if payload > 0:
            note_timing(rows, row, f, ts, from_client, payload, sync, meta)
        if ts < f["first_ts"]:
            f["first_ts"] = ts
        if ts > f["last_ts"]:
            if ts - f["last_ts"] > f["t_idle_max"]:
                f["t_idle_max"] = ts - f["last_ts"]
            f["last_ts"] = ts
        meta[META_PACKETS] += 1
        flow_of_packet[i] = row
        fid_of_packet[i] = f["flow_id"]
        side_of_packet[i] = 0 if from_client else 1
    return n


@kernel
def flush_flows(rows, index, lru_prev, lru_next, free_rows, meta, out, reason):
    """Expire live flows, least recently seen first, until none is left or `out` is full.

    Returns the number of flows still live (call again after draining `out`).
    """
    meta[META_OUT_N] = 0
    while meta[META_LRU_HEAD] != EMPTY and meta[META_OUT_N] < len(out):
        expire(rows, index, lru_prev, lru_next, free_rows, meta[META_LRU_HEAD], reason,
               out, meta)
    return meta[META_LIVE]



@kernel
def expire_idle(rows, index, lru_prev, lru_next, free_rows, meta, out, now_ns):
    """Move the table's clock to `now_ns` (never back) and expire the flows idle by then.

    For sources where time passes without records (live capture): the caller
    promises that every record before `now_ns` has been folded in already.
    Returns 1 when `out` filled up before every idle flow was expired (drain
    it and call again), else 0; meta[META_OUT_N] says how many rows were written.
    """
    meta[META_OUT_N] = 0
    if now_ns > meta[META_NOW_NS]:
        meta[META_NOW_NS] = now_ns
    idle = meta[META_IDLE_NS]
    if idle <= 0:
        return 0
    now = meta[META_NOW_NS]
    while True:
        head = meta[META_LRU_HEAD]
        if head == EMPTY or rows[head]["last_ts"] + idle > now:
            return 0
        if meta[META_OUT_N] >= len(out):
            return 1
        expire(rows, index, lru_prev, lru_next, free_rows, head, END_IDLE, out, meta)
