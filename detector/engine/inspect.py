"""Inspection: the first K payload bytes of each TCP flow direction, in order,
through the signature automaton; matched flows are handed to Python.

Runs after `update_flows` over the same decoded batch. Per flow row it keeps
the first K bytes of each direction, placed by TCP sequence number
(retransmitted bytes are dropped, one out-of-order segment is held until the
gap fills), and feeds every newly contiguous byte to `match_payload`. When a
signature fires, the flow becomes a *candidate*: its buffered bytes and
every later payload packet go to Python as events (the protocol parsers
decide whether it really is mining and follow jobs and shares). Events carry
their stream position; bytes already sent are not sent again, and a segment
past a hole is sent as it comes (the hole's bytes still count as new when they
arrive): Python puts them back in order (handoff.TrackedFlow.in_order). Python turns
inspection off for a flow by setting its state to INSPECT_OFF.

A flow leaves inspection early when a direction opens with a TLS record or an SSH
banner (encrypted: its ClientHello is read, nothing is matched), or with bytes no
text protocol sends (opens_as_text) unless a proxy request opened the flow or the
bytes open as a binary signature may (rules.binary_openings): the mining protocols
but Stratum V2 are text both ways. These are judged once the opening is in
(opening_length), however the sender cut it.

Memory is fixed at construction, whatever the traffic: 2 x capacity head slots
of K bytes (each with its packet records) plus a few words per row. A direction
takes a slot when its first bytes arrive and its row gives both back when the
flow leaves inspection (K bytes seen both ways, encrypted, a candidate) or the
row is reused, so the memory actually touched follows the streams being matched
at the same time (a few thousand), not the size of the flow table.

Events (EVENT_DTYPE) carry their bytes in an arena (uint8), so they outlive
the batch buffer and the flow row (a row can be reused within the batch).

A signature reload keeps these arrays (carry_state) and runs the new automaton
over the heads of the flows still matching, from byte 0 (rematch_heads).
"""

import numpy as np

from .bytes_ import copy_bytes
from .client_hello import HELLO_MALFORMED, hello_record_end, server_name_at
from .config import inline_kernel, kernel
from .dns_skip import is_skipped
from .dtypes import DECODE_OK
from .match import eval_signatures, match_payload

INSPECT_MATCHING = 0   # buffering and matching the first K bytes
INSPECT_CANDIDATE = 1  # a signature fired: Python follows every payload packet
INSPECT_OFF = 2        # nothing more to look at (K bytes clean, not TCP, or Python said so)
INSPECT_TLS = 3        # the client opened with a TLS handshake: its head is buffered
                       # until the ClientHello record is complete (one EV_HELLO); no matching

EV_FIRED = 0   # the flow became a candidate; arena holds its fired-signature words
EV_HEAD = 1    # arena holds the head bytes one packet brought (buffered before the match)
EV_DATA = 2    # arena holds one later payload segment of a candidate flow
EV_PEEK = 3    # arena holds new contiguous client head bytes of a peeked flow (a proxy
               # CONNECT/SOCKS request and the ClientHello behind it): Python reads names
EV_DNS = 4     # arena holds the payload of one UDP datagram from port 53 (a DNS answer
               # with at least one answer record); name_at/name_len: its question name
EV_HELLO = 5   # arena holds a whole ClientHello record (the flow's first client bytes);
               # name_at/name_len: its server name inside them (name_len 0: none)

PEEK_OFF = 0   # peek[row]: nothing to hand over
PEEK_ON = 1    # hand over new client head bytes (Python sets PEEK_DONE when it has enough)
PEEK_DONE = 2  # the client opened with a proxy request; Python has the names it needs
TEXT_WINDOW = 64   # opening bytes of a direction looked at for bytes no text protocol sends
OPENING_BYTES = 4  # a direction's opening (TLS record header, "SSH-") is judged once these
                   # bytes are in, or a proxy request's when they may begin one (opening_length)
MAX_OPENING = 11   # the longest opening_length: a SOCKS5 greeting with 9 methods
CONNECT = np.frombuffer(b"CONN", np.uint8)   # what proxy_request_length reads of "CONNECT "
DNS_PORT = 53
DNS_HEADER = 12
PROTO_UDP = 17

EVENT_DTYPE = np.dtype([
    ("flow_id", np.int64),     # the flow the event belongs to (FLOW_DTYPE flow_id)
    ("row", np.int32),         # its flow-table row (valid while rows[row] has that flow_id)
    ("kind", np.uint8),        # EV_*
    ("direction", np.uint8),   # 0 client->server, 1 server->client
    ("frame", np.int64),       # 1-based record number of the packet (EV_FIRED: the one
                               # that completed the match)
    ("ts_ns", np.int64),       # timestamp of that packet
    ("stream_pos", np.int64),  # offset of the first byte within its direction's stream
    ("arena_off", np.int64),   # where the bytes are in the arena
    ("length", np.int64),      # how many bytes
    ("name_at", np.int32),     # EV_HELLO: offset of the server name in the event's bytes;
                               # EV_DNS: of the question name (wire form)
    ("name_len", np.int32),    # its length (0: the hello names no server)
])

# per-row, per-direction stream state, columns of the int64 `streams` array
S_BASE = 0        # TCP sequence number of stream byte 0 (valid when S_HAS_BASE)
S_HAS_BASE = 1
S_CONTIG = 2      # bytes known contiguously from stream byte 0
S_PEND_AT = 3     # an out-of-order range [at, at+len) already in the head buffer
S_PEND_LEN = 4
S_AC = 5          # automaton state after the contiguous bytes
S_NSEG = 6        # head segments recorded (see `segs`)
S_WIDTH = 7

HEAD_SEGMENTS = 16   # packets of a head whose frame and time are remembered; bytes past
                     # the last one are attributed to it

IM_EVENTS = 0     # events written by the last call
IM_ARENA = 1      # arena bytes used by the last call
IM_GAPS = 2       # segments beyond the one pending range, dropped from inspection
IM_CANDIDATES = 3  # flows that became candidates
IM_EXCLUDED = 4   # flows whose stream opens with TLS or SSH (no cleartext mining inside)
IM_PEEKS = 5      # EV_HELLO and EV_PEEK events written (TLS ClientHellos, proxy requests)
IM_DNS = 6        # EV_DNS events written (DNS answers)
IM_SLOTS_FREE = 7   # head slots given back, on the free_slots stack
IM_SLOTS_FRESH = 8  # head slots taken at least once (the next never-used one)
IM_DNS_SKIPPED = 9  # DNS answers dropped here: their question was rejected before (dns_skip)
IM_NOT_TEXT = 10  # flows one of whose directions opens with bytes no text protocol sends,
                  # and not as a binary signature may (rules.binary_openings)
IM_SIZE = 11

TCP_SYN = 0x02
PROTO_TCP = 6


def new_inspector(capacity, k_bytes, n_words, n_sig_words):
    """Arrays of the inspection state for a flow table of `capacity` rows:
    (insp_fid, insp_state, streams, head, segs, hits, fired, peek, slot_of, free_slots,
    imeta). head and segs are indexed by slot (slot_of[row, direction], -1: none yet);
    np.zeros leaves their pages untouched until a slot is first used."""
    n_slots = 2 * capacity
    return (
        np.full(capacity, -1, np.int64),                  # insp_fid: flow_id owning the row
        np.zeros(capacity, np.uint8),                     # insp_state: INSPECT_*
        np.zeros((capacity, 2, S_WIDTH), np.int64),       # streams
        np.zeros((n_slots, k_bytes), np.uint8),           # head bytes per slot
        np.zeros((n_slots, HEAD_SEGMENTS, 3), np.int64),  # segs: (stream pos, frame, ts)
        np.zeros((capacity, max(1, n_words)), np.uint64),     # pattern bits
        np.zeros((capacity, max(1, n_sig_words)), np.uint64),  # fired signature bits
        np.zeros(capacity, np.uint8),                     # peek: PEEK_*
        np.full((capacity, 2), -1, np.int32),             # slot_of: head slot per direction
        np.zeros(n_slots + 1, np.int32),                  # free_slots: stack of slots given back
        np.zeros(IM_SIZE, np.int64),                      # meta counters
    )


# The slot helpers touch every array they get on every path (the branches are on
# scalars): inlined, numba then drops their reference counting (see the note above
# not_cleartext).

@inline_kernel
def take_slot(row, d, slot_of, free_slots, imeta):
    """The head slot of direction d of `row`, taken when it has none: the one given back
    last (its memory is likely still cached), else a never-used one."""
    slot = np.int64(slot_of[row, d])
    top = imeta[IM_SLOTS_FREE]
    fresh = imeta[IM_SLOTS_FRESH]
    last_freed = np.int64(free_slots[max(top - 1, np.int64(0))])
    if slot < 0 and top > 0:
        slot = last_freed
        top -= 1
    elif slot < 0:
        slot = fresh
        fresh += 1
    slot_of[row, d] = slot
    imeta[IM_SLOTS_FREE] = top
    imeta[IM_SLOTS_FRESH] = fresh
    return slot


@inline_kernel
def release_slots(row, slot_of, free_slots, imeta):
    """Give back the head slots of `row` (its flow left inspection, or the row is reused).
    A direction without a slot (-1) is written at the stack top too, then left there:
    free_slots has one entry more than there are slots for it."""
    top = imeta[IM_SLOTS_FREE]
    for d in range(2):
        free_slots[top] = slot_of[row, d]
        top += np.int64(slot_of[row, d] >= 0)
        slot_of[row, d] = -1
    imeta[IM_SLOTS_FREE] = top


@inline_kernel
def reset_row(row, fid, proto, insp_fid, insp_state, streams, hits, fired, peek, slot_of,
              free_slots, imeta):
    """Start inspecting a new flow in `row` (only TCP carries mining protocols)."""
    release_slots(row, slot_of, free_slots, imeta)
    insp_fid[row] = fid
    peek[row] = PEEK_OFF
    insp_state[row] = INSPECT_MATCHING if proto == PROTO_TCP else INSPECT_OFF
    for d in range(2):                       # loops, not slices: no array views per flow
        for c in range(S_WIDTH):
            streams[row, d, c] = 0
    for w in range(hits.shape[1]):
        hits[row, w] = 0
    for w in range(fired.shape[1]):
        fired[row, w] = 0


@kernel
def add_event(events, arena, imeta, fid, row, kind, direction, frame, ts, pos, src, start,
              length):
    """Append one event, copying src[start:start+length] into the arena."""
    k = imeta[IM_EVENTS]
    a = imeta[IM_ARENA]
    e = events[k]
    e["flow_id"] = fid
    e["row"] = row
    e["kind"] = kind
    e["direction"] = direction
    e["frame"] = frame
    e["ts_ns"] = ts
    e["stream_pos"] = pos
    e["arena_off"] = a
    e["length"] = length
    e["name_at"] = 0
    e["name_len"] = 0
    copy_bytes(arena, a, src, start, length)
    imeta[IM_EVENTS] = k + 1
    imeta[IM_ARENA] = a + length


# The per-packet helpers below read and write the inspector's arrays through (row,
# direction) indices and the head through the flat view `heads` (head.reshape(-1),
# slot s starting at s * K), never through per-row slices: each slice is an array
# view whose reference count numba updates atomically when it is made and dropped,
# which cost more than the inspection itself. They are inlined
# (config.inline_kernel) with one return and each array used on every path, so
# numba drops the reference counting of their arguments too; opens_proxy_request,
# run once per client stream, keeps some (its reads depend on the bytes).

@inline_kernel
def not_cleartext(heads, at):
    """True when the stream at heads[at:] opens with a TLS record header or an SSH banner.

    No mining protocol starts that way (JSON-RPC opens with '{', HTTP with a
    method, Stratum V2 frames with a zero extension type), and what follows is
    encrypted: TLS-wrapped mining is found from SNI, DNS and timing instead.
    """
    b0, b1, b2 = heads[at], heads[at + 1], heads[at + 2]
    tls = 0x14 <= b0 <= 0x17 and b1 == 0x03 and b2 <= 0x04
    ssh = b0 == 0x53 and b1 == 0x53 and b2 == 0x48 and heads[at + 3] == 0x2D    # "SSH-"
    return tls or ssh


@inline_kernel
def opens_as_text(heads, at, start, contig):
    """No byte of rules.NOT_TEXT_BYTES (C0 controls but tab, LF, CR) in the bytes
    [start, contig) of the stream at heads[at:] that lie in its first TEXT_WINDOW. JSON
    lines and HTTP requests and replies pass; binary protocols and encrypted bytes picked
    up mid-stream seldom do (a random byte is one of them with odds 29/256)."""
    text = True
    j = np.int64(start)
    n = min(contig, np.int64(TEXT_WINDOW))
    while text and j < n:
        b = heads[at + j]
        text = b >= 0x20 or b == 0x09 or b == 0x0A or b == 0x0D
        j += 1
    return text


@inline_kernel
def opens_binary_signature(heads, at, binary_openings):
    """The stream at heads[at:] (2 bytes or more) opens as a signature over bytes that
    are not text may (rules.binary_openings: first two bytes, -1 for any)."""
    found = False
    for r in range(binary_openings.shape[0]):
        b0, b1 = binary_openings[r, 0], binary_openings[r, 1]
        found = found or ((b0 < 0 or heads[at] == b0) and (b1 < 0 or heads[at + 1] == b1))
    return found


@inline_kernel
def opens_tls_handshake(heads, at):
    """A TLS handshake record header (content type 22, version 3.x): a ClientHello."""
    return heads[at] == 0x16 and heads[at + 1] == 0x03 and heads[at + 2] <= 0x04


@inline_kernel
def proxy_request_length(heads, at, n):
    """The bytes opens_proxy_request reads of the proxy request the first n bytes at
    heads[at:] may begin: 2 + its methods for a SOCKS5 greeting (5, n methods, n
    bytes), 9 for a SOCKS4 CONNECT, 8 for an HTTP "CONNECT "; 0 when they begin none."""
    need = np.int64(0)
    if n >= 2 and heads[at] == 0x05 and 1 <= heads[at + 1] <= 9:
        need = 2 + np.int64(heads[at + 1])
    elif n >= 2 and heads[at] == 0x04 and heads[at + 1] == 0x01:
        need = np.int64(9)
    else:
        connect = True
        for j in range(min(n, np.int64(len(CONNECT)))):
            connect = connect and heads[at + j] == CONNECT[j]
        if connect:
            need = np.int64(8)
    return need


@inline_kernel
def opens_proxy_request(heads, at, contig):
    """HTTP CONNECT, a SOCKS5 greeting or a SOCKS4 CONNECT (proxy_request_length): the
    target host of a proxied connection follows in the client's first bytes."""
    need = proxy_request_length(heads, at, contig)
    found = 0 < need <= contig
    if found and heads[at] == 0x05:
        for j in range(2, need):
            if heads[at + j] > 0x09 and heads[at + j] != 0xFF:   # IANA method numbers
                found = False
    elif found and heads[at] == 0x43:
        found = heads[at + 7] == 0x20                                  # "CONNECT "
    return found


@inline_kernel
def opening_length(heads, at, n, d):
    """How many bytes of a direction's opening are read before it is judged (TLS, SSH, a
    proxy request, text), given its first n contiguous bytes at heads[at:]: OPENING_BYTES,
    or what a client's proxy request that they may begin needs (proxy_request_length).
    The judgement then reads the opening whole, however the sender cut it: a ClientHello
    or a SOCKS greeting split after a byte or two is a known way around DPI."""
    need = np.int64(OPENING_BYTES)
    if d == 0 and n >= 2:
        proxy = proxy_request_length(heads, at, n)
        if proxy > 0:
            need = proxy
    return need


@inline_kernel
def first_judged_byte(streams, segs, row, d, slot, old):
    """0, or 1 when the stream's first byte came alone: a lone byte decides nothing (a
    keepalive probe's garbage byte can be the first a capture sees of an idle
    connection). Reads the head segments of the packets before this one."""
    n = streams[row, d, S_NSEG]
    first_end = segs[slot, 1, 0] if n >= 2 else old      # where the second packet began
    return np.int64(1) if old > 0 and first_end == 1 else np.int64(0)


@inline_kernel
def bare_ack(p):
    """A packet with no payload and no SYN (a bare ACK, or an empty datagram): it changes
    nothing in inspection, so the loop drops it before reading its flow's row."""
    return p["payload_caplen"] == 0 and (p["tcp_flags"] & TCP_SYN) == 0


@inline_kernel
def hits_sum(hits, row):
    """A checksum of a row's pattern bitmask: bits are only ever set, so it changes iff
    one was."""
    total = np.uint64(0)
    for w in range(hits.shape[1]):
        total += hits[row, w]
    return total


@inline_kernel
def may_teach_names(fired, learn_sigs, row):
    """Whether one of the signatures that fired on `row` marks a flow whose bytes can
    teach pool names (pool-url: stratum URLs): once Python reads them, a DNS question
    rejected before may be wanted."""
    teaches = False
    for w in range(fired.shape[1]):
        teaches = teaches or (fired[row, w] & learn_sigs[w]) != 0
    return teaches


@kernel
def emit_heads(events, arena, imeta, fid, row, heads, k_bytes, segs, streams, slot_of, frame,
               ts):
    """EV_HEAD events for the heads of both directions of `row`: one per remembered
    packet, in capture order (a flow that fires late is read as its conversation went:
    a share after the difficulty the server set before it), then each direction's
    out-of-order range waiting for its hole (attributed to `frame`)."""
    slot0, slot1 = np.int64(slot_of[row, 0]), np.int64(slot_of[row, 1])
    n0 = streams[row, 0, S_NSEG] if slot0 >= 0 else np.int64(0)
    n1 = streams[row, 1, S_NSEG] if slot1 >= 0 else np.int64(0)
    k0, k1 = np.int64(0), np.int64(0)
    while k0 < n0 or k1 < n1:
        d = np.int64(k0 >= n0 or (k1 < n1 and segs[slot1, k1, 1] < segs[slot0, k0, 1]))
        slot, k, n = (slot1, k1, n1) if d else (slot0, k0, n0)
        lo = segs[slot, k, 0]
        hi = segs[slot, k + 1, 0] if k + 1 < n else streams[row, d, S_CONTIG]
        if hi > lo:
            add_event(events, arena, imeta, fid, row, EV_HEAD, d, segs[slot, k, 1],
                      segs[slot, k, 2], lo, heads, slot * k_bytes + lo, hi - lo)
        k0 += 1 - d
        k1 += d
    for d in range(2):
        slot = np.int64(slot_of[row, d])
        pend_at, pend_len = streams[row, d, S_PEND_AT], streams[row, d, S_PEND_LEN]
        if slot >= 0 and pend_len > 0:
            add_event(events, arena, imeta, fid, row, EV_HEAD, d, frame, ts, pend_at, heads,
                      slot * k_bytes + pend_at, pend_len)


@kernel
def hand_over(events, arena, imeta, fid, row, d, frame, ts, insp_state, fired, heads, k_bytes,
              segs, streams, slot_of, free_slots):
    """A signature fired on `row` (completed by `frame`, direction d): the flow becomes a
    candidate; its fired words (EV_FIRED) and both heads (EV_HEAD) go to Python, which has
    the bytes from now on, so the row gives its head slots back."""
    insp_state[row] = INSPECT_CANDIDATE
    imeta[IM_CANDIDATES] += 1
    add_event(events, arena, imeta, fid, row, EV_FIRED, d, frame, ts, 0,
              fired[row].view(np.uint8), 0, 8 * fired.shape[1])
    emit_heads(events, arena, imeta, fid, row, heads, k_bytes, segs, streams, slot_of, frame,
               ts)
    release_slots(row, slot_of, free_slots, imeta)


@inline_kernel
def place_range(contig, pend_at, pend_len, rel, length, k_bytes):
    """Where a segment at stream offset `rel` goes in its head: one out-of-order range is
    kept, later holes are dropped (counted as gaps).

    Scalars only, so that it inlines without reference counting. Returns (lo, hi,
    contig, pend_at, pend_len, gaps): copy its stream bytes [lo, hi) (none when hi <= lo),
    then the new contiguous end, out-of-order range and gap count (0 or 1).
    """
    end_rel = rel + length
    hi = min(end_rel, k_bytes)
    lo = hi
    gaps = 0
    if end_rel <= contig:
        pass                                   # retransmission of bytes we have
    elif rel > contig:                         # a hole before this segment
        if pend_len != 0 and rel != pend_at + pend_len:
            gaps = 1
        else:
            lo = max(rel, np.int64(0))
            if pend_len == 0:
                pend_at = rel
            pend_len = max(hi, pend_at) - pend_at
    else:
        lo = contig
        contig = max(contig, hi)
        if pend_len != 0 and pend_at <= contig:   # the hole is filled
            contig = max(contig, pend_at + pend_len)
            pend_len = np.int64(0)
    return lo, hi, contig, pend_at, pend_len, gaps


@kernel
def dns_has_answers(buf, off):
    """A DNS response (QR set), NOERROR, with at least one answer record (RFC 1035
    4.1.1): the only datagrams whose addresses can name a pool."""
    return (buf[off + 2] & 0x80) != 0 and (buf[off + 3] & 0x0F) == 0 and \
        (buf[off + 6] != 0 or buf[off + 7] != 0)


@kernel
def dns_question_length(buf, off, n):
    """Wire length of the first question's name (labels and the closing zero, RFC 1035
    4.1.2) of the DNS message buf[off:off+n]; 0 when there is none, or it is cut or
    compressed (no question to match against the pool list)."""
    if n < DNS_HEADER + 5 or (buf[off + 4] == 0 and buf[off + 5] == 0):
        return np.int64(0)
    pos = np.int64(DNS_HEADER)
    labels = 0
    while pos < n and labels < 128:
        length = np.int64(buf[off + pos])
        if length == 0:
            return pos + 1 - DNS_HEADER if labels else np.int64(0)
        if length > 63:
            return np.int64(0)
        pos += 1 + length
        labels += 1
    return np.int64(0)


@kernel
def take_hello(events, arena, imeta, fid, row, head_row, contig, k_bytes, frame, ts,
               insp_state):
    """Once the ClientHello record at the head of a TLS flow is complete, hand it to
    Python as one EV_HELLO and stop inspecting the flow. A hello longer than the
    head, or one whose framing is wrong, is not followed (no event)."""
    end = hello_record_end(head_row, contig)
    if end == 0 or contig < end <= k_bytes:
        return                                   # more of the record is coming
    insp_state[row] = INSPECT_OFF
    if end > k_bytes:
        return
    name_at, name_len = server_name_at(head_row, end)
    if name_at == HELLO_MALFORMED:
        return
    add_event(events, arena, imeta, fid, row, EV_HELLO, 0, frame, ts, 0, head_row, 0, end)
    e = events[imeta[IM_EVENTS] - 1]
    e["name_at"] = max(name_at, np.int64(0))
    e["name_len"] = name_len
    imeta[IM_PEEKS] += 1


@kernel
def inspect_batch(pkts, buf, ts_ns, first_record, flow_of_packet, fid_of_packet,
                  side_of_packet, start, insp_fid, insp_state, streams, head, segs, hits,
                  fired, peek, slot_of, free_slots, imeta,
                  goto, byte_class, class_shift, start_pairs, phase_start, tail_map,
                  tail_from, out_start, out_pattern, pat_info, first_out_state,
                  sig_pat_start, sig_pat, sig_all_start, sig_all, sig_any_start, sig_any,
                  sig_order, learn_sigs, binary_openings, skip_keys, skip_names, skip_lengths,
                  skip_seed, events, arena):
    """Inspect the payload of packets pkts[start:]; return where to resume.

    Parameters
    ----------
    pkts            PACKET_DTYPE[n]  the decoded batch; buf is its buffer
    flow_of_packet  int32[n]   row each packet was folded into (update_flows), -1 none
    fid_of_packet   int64[n]   flow_id of that flow at the time
    side_of_packet  uint8[n]   0: from the flow's client, 1: from its server
                    (update_flows wrote these three, so the kernel needs no flow table:
                    by now a row may hold a flow that started after one that ended later
                    in the batch, whose packets are inspected all the same)
    insp_fid .. imeta          the inspector (new_inspector): indexed by row, except head
                               and segs, indexed by the slot slot_of gives a row's direction
    goto .. sig_order          MatcherTables.automaton, then its signature arrays
    learn_sigs      uint64[n_sig_words]  signatures whose flows may teach pool names
    binary_openings int16[n, 2]  MatcherTables.binary_openings: how a direction whose
                                 opening is not text (opens_as_text) may open and still be
                                 matched; its flow leaves inspection otherwise
    skip_keys .. skip_seed     DnsSkipSet.arrays: questions whose answers are dropped here,
                               until a flow that may teach names hands over bytes (Python
                               may want more names once it has read them)
    events, arena   outputs; imeta[IM_EVENTS] / imeta[IM_ARENA] say how much is used
                    (reset by this call)

    Returns
    -------
    int  n when done, or the first packet not inspected when `events` or `arena`
         filled up (hand the events to Python, then call again from there).
    """
    imeta[IM_EVENTS] = 0
    imeta[IM_ARENA] = 0
    k_bytes = np.int64(head.shape[1])
    heads = head.reshape(-1)            # one view for the call (see the helpers above)
    n = len(pkts)
    skipping = True
    for i in range(start, n):
        row = flow_of_packet[i]
        if row < 0:
            continue
        p = pkts[i]
        if p["status"] != DECODE_OK:
            continue
        if bare_ack(p):
            continue
        fid = fid_of_packet[i]
        if insp_fid[row] != fid:
            reset_row(row, fid, p["proto"], insp_fid, insp_state, streams, hits, fired, peek,
                      slot_of, free_slots, imeta)
        if (p["proto"] == PROTO_UDP and p["sport"] == DNS_PORT
                and p["payload_caplen"] > DNS_HEADER):
            dns_at = np.int64(p["payload_offset"])
            dns_len = np.int64(p["payload_caplen"])
            name_len = dns_question_length(buf, dns_at, dns_len)
            if name_len == 0 or not dns_has_answers(buf, dns_at):
                continue
            if skipping and is_skipped(skip_keys, skip_names, skip_lengths, skip_seed, buf,
                                       dns_at + DNS_HEADER, name_len):
                imeta[IM_DNS_SKIPPED] += 1
                continue
            if imeta[IM_EVENTS] + 1 > len(events) or imeta[IM_ARENA] + dns_len > len(arena):
                return i
            add_event(events, arena, imeta, fid, row, EV_DNS, 1, np.int64(first_record) + i + 1,
                      ts_ns[i], 0, buf, dns_at, dns_len)
            e = events[imeta[IM_EVENTS] - 1]
            e["name_at"] = DNS_HEADER
            e["name_len"] = name_len
            imeta[IM_DNS] += 1
            continue
        state = insp_state[row]
        if state == INSPECT_OFF:
            continue
        d = np.int64(side_of_packet[i])
        flags = p["tcp_flags"]
        if flags & TCP_SYN:
            streams[row, d, S_BASE] = (np.int64(p["seq"]) + 1) & 0xFFFFFFFF
            streams[row, d, S_HAS_BASE] = 1
        length = np.int64(p["payload_caplen"])
        if length <= 0:
            continue
        if streams[row, d, S_HAS_BASE] == 0:  # picked up mid-stream: this byte is byte 0
            streams[row, d, S_BASE] = np.int64(p["seq"])
            streams[row, d, S_HAS_BASE] = 1
        rel = (np.int64(p["seq"]) - streams[row, d, S_BASE]) & 0xFFFFFFFF
        if rel >= 0x80000000:
            rel -= 0x100000000                # before byte 0 (retransmitted SYN data...)
        off = np.int64(p["payload_offset"])
        frame = np.int64(first_record) + i + 1
        # room for the worst this packet can add: a candidate handoff (the fired words,
        # both heads and their out-of-order ranges) or one data event
        if (imeta[IM_EVENTS] + 2 + 2 * (HEAD_SEGMENTS + 1) > len(events)
                or imeta[IM_ARENA] + 8 * fired.shape[1] + 3 * k_bytes + length > len(arena)):
            return i
        if state == INSPECT_CANDIDATE:
            end_rel = rel + length
            contig = streams[row, d, S_CONTIG]
            if end_rel <= contig:
                continue                      # retransmission
            skip = max(np.int64(0), contig - rel)
            skipping = skipping and not may_teach_names(fired, learn_sigs, row)
            add_event(events, arena, imeta, fid, row, EV_DATA, d, frame, ts_ns[i], rel + skip,
                      buf, off + skip, length - skip)
            pend_at, pend_len = streams[row, d, S_PEND_AT], streams[row, d, S_PEND_LEN]
            if rel > contig:                  # out of order: Python holds it until the hole fills
                pend_end = pend_at + pend_len
                if pend_len == 0:
                    streams[row, d, S_PEND_AT] = rel
                    streams[row, d, S_PEND_LEN] = length
                elif pend_at <= rel <= pend_end:
                    streams[row, d, S_PEND_LEN] = max(end_rel, pend_end) - pend_at
                else:
                    imeta[IM_GAPS] += 1
                continue
            if pend_len != 0 and pend_at <= end_rel:   # the hole is filled
                end_rel = max(end_rel, pend_at + pend_len)
                streams[row, d, S_PEND_LEN] = 0
            streams[row, d, S_CONTIG] = end_rel
            continue
        if state == INSPECT_TLS and d == 1:
            continue                          # a TLS flow: only its client's hello is read
        # INSPECT_MATCHING, or INSPECT_TLS on the client side: place the bytes in the head
        old = streams[row, d, S_CONTIG]
        if old >= k_bytes:
            continue
        slot = take_slot(row, d, slot_of, free_slots, imeta)
        at = slot * k_bytes                         # this direction's head in `heads`
        lo, hi, contig, pend_at, pend_len, gaps = place_range(
            old, streams[row, d, S_PEND_AT], streams[row, d, S_PEND_LEN], rel, length, k_bytes)
        streams[row, d, S_PEND_AT] = pend_at
        streams[row, d, S_PEND_LEN] = pend_len
        imeta[IM_GAPS] += gaps
        copy_bytes(heads, at + lo, buf, off + (lo - rel), hi - lo)
        # the opening was judged before this packet (settled), or is now (opened)
        settled = old >= MAX_OPENING or old >= opening_length(heads, at, old, d)
        opened = not settled and contig >= opening_length(heads, at, contig, d)
        if (opened and state == INSPECT_MATCHING and d == 0
                and opens_tls_handshake(heads, at)):
            state = INSPECT_TLS                  # no cleartext inside: only its ClientHello
            insp_state[row] = state
            imeta[IM_EXCLUDED] += 1
        if state == INSPECT_TLS:
            streams[row, 0, S_CONTIG] = contig
            take_hello(events, arena, imeta, fid, row, head[slot], contig, k_bytes,
                       frame, ts_ns[i], insp_state)
            if insp_state[row] == INSPECT_OFF:
                release_slots(row, slot_of, free_slots, imeta)
            continue
        if opened and not_cleartext(heads, at):
            insp_state[row] = INSPECT_OFF
            imeta[IM_EXCLUDED] += 1
            release_slots(row, slot_of, free_slots, imeta)
            continue
        if opened and d == 0 and opens_proxy_request(heads, at, contig):
            peek[row] = PEEK_ON                  # matching goes on: cleartext may follow
        # a binary opening: no text signature can match this direction, and a text
        # mining protocol needs both to be text; a proxy's binary framing (SOCKS) is
        # spared. The first TEXT_WINDOW bytes are read from the opening on, as they come.
        if ((opened or settled) and old < TEXT_WINDOW and peek[row] == PEEK_OFF
                and not opens_as_text(heads, at, old if settled else first_judged_byte(
                    streams, segs, row, d, slot, old), contig)
                and not opens_binary_signature(heads, at, binary_openings)):
            insp_state[row] = INSPECT_OFF
            imeta[IM_NOT_TEXT] += 1
            release_slots(row, slot_of, free_slots, imeta)
            continue
        if d == 0 and contig > old and peek[row] == PEEK_ON:
            seen = 0 if opened else old          # the opening's bytes go with it
            add_event(events, arena, imeta, fid, row, EV_PEEK, 0, frame, ts_ns[i], seen,
                      heads, at + seen, contig - seen)
            imeta[IM_PEEKS] += 1
        if contig > old:
            k = streams[row, d, S_NSEG]
            if k < HEAD_SEGMENTS:             # remember where this packet's bytes start
                segs[slot, k, 0] = old
                segs[slot, k, 1] = frame
                segs[slot, k, 2] = ts_ns[i]
                streams[row, d, S_NSEG] = k + 1
            before = hits_sum(hits, row)
            streams[row, d, S_AC] = match_payload(
                goto, byte_class, class_shift, start_pairs, phase_start, tail_map, tail_from,
                out_start, out_pattern, pat_info, first_out_state, heads, at + old,
                at + contig, old, d, np.int32(streams[row, d, S_AC]), hits[row])
            streams[row, d, S_CONTIG] = contig
            nfired = 0
            if hits_sum(hits, row) != before:    # a new pattern: signatures may fire now
                nfired = eval_signatures(sig_pat_start, sig_pat, sig_all_start, sig_all,
                                         sig_any_start, sig_any, sig_order, hits[row],
                                         fired[row])
            if nfired > 0:
                skipping = skipping and not may_teach_names(fired, learn_sigs, row)
                hand_over(events, arena, imeta, fid, row, d, frame, ts_ns[i], insp_state,
                          fired, heads, k_bytes, segs, streams, slot_of, free_slots)
                continue
        if streams[row, 0, S_CONTIG] >= k_bytes and streams[row, 1, S_CONTIG] >= k_bytes:
            insp_state[row] = INSPECT_OFF
            release_slots(row, slot_of, free_slots, imeta)
    return n


def carry_state(state, n_words, n_sig_words):
    """The inspection arrays of `state` for new signatures (a reload): the same arrays,
    except the pattern and fired-signature bits, which belong to the old automaton
    and are made afresh for the new one's sizes."""
    insp_fid, insp_state, streams, head, segs, _hits, _fired, *rest = state
    capacity = len(insp_fid)
    return (insp_fid, insp_state, streams, head, segs,
            np.zeros((capacity, max(1, n_words)), np.uint64),
            np.zeros((capacity, max(1, n_sig_words)), np.uint64), *rest)


@kernel
def rematch_heads(rows, start, insp_fid, insp_state, streams, head, segs, hits, fired,
                  slot_of, free_slots, imeta,
                  goto, byte_class, class_shift, start_pairs, phase_start, tail_map,
                  tail_from, out_start, out_pattern, pat_info, first_out_state,
                  sig_pat_start, sig_pat, sig_all_start, sig_all, sig_any_start, sig_any,
                  sig_order, events, arena):
    """Match the heads of `rows[start:]` from stream byte 0 with a new automaton.

    After a signature reload, the flows still in their first K bytes hold those
    bytes in their head slots, but their automaton states and pattern bits are
    the old signatures'. Each direction's head is run through the new automaton
    in one call (the state after it is where the next packet goes on); a flow on
    which a signature fires is handed over as the inspection loop does, from the
    last packet of its heads. Returns len(rows), or the first row not matched
    when `events` or `arena` filled up (hand them to Python, call again from there).
    """
    imeta[IM_EVENTS] = 0
    imeta[IM_ARENA] = 0
    k_bytes = np.int64(head.shape[1])
    heads = head.reshape(-1)
    for j in range(start, len(rows)):
        if (imeta[IM_EVENTS] + 1 + 2 * (HEAD_SEGMENTS + 1) > len(events)
                or imeta[IM_ARENA] + 8 * fired.shape[1] + 2 * k_bytes > len(arena)):
            return j
        row = np.int64(rows[j])
        frame, ts, last_d = np.int64(0), np.int64(0), np.int64(0)
        for d in range(2):
            slot = np.int64(slot_of[row, d])
            contig = streams[row, d, S_CONTIG]
            state = np.int32(0)
            if slot >= 0 and contig > 0:
                state = match_payload(goto, byte_class, class_shift, start_pairs, phase_start,
                                      tail_map, tail_from, out_start, out_pattern, pat_info,
                                      first_out_state, heads, slot * k_bytes,
                                      slot * k_bytes + contig, 0, d, state, hits[row])
                last = max(streams[row, d, S_NSEG] - 1, np.int64(0))
                if segs[slot, last, 1] > frame:
                    frame, ts, last_d = segs[slot, last, 1], segs[slot, last, 2], d
            streams[row, d, S_AC] = state
        if hits_sum(hits, row) != 0 and eval_signatures(
                sig_pat_start, sig_pat, sig_all_start, sig_all, sig_any_start, sig_any,
                sig_order, hits[row], fired[row]) > 0:
            hand_over(events, arena, imeta, insp_fid[row], row, last_d, frame, ts, insp_state,
                      fired, heads, k_bytes, segs, streams, slot_of, free_slots)
    return len(rows)
