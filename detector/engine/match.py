"""Signature matching kernels: run the compiled automaton over a flow's first bytes.

Tables come from ``detector.rules.compile_patterns`` (MatcherTables.automaton;
detector.automaton explains their layout). Per-flow state is two automaton
states (int32, one per direction, start at 0) and one bitmask row of fired
patterns (uint64[n_words], start at 0). Feed each payload
segment of a direction in stream order with ``match_payload`` (state carries
over segment boundaries, so a pattern split across segments is still found);
stop after the first K bytes per direction (K = 4096 by default, the caller's
choice). Then ``eval_signatures`` turns the pattern bits into fired signatures.

Directions: 0 = client->server (toserver), 1 = server->client (toclient).
Stream positions are 0-based byte offsets within one direction's stream.
"""

import numpy as np

from detector.engine.config import inline_kernel, kernel

DIR_TOSERVER = 0
DIR_TOCLIENT = 1


@inline_kernel
def match_payload(goto, byte_class, class_shift, start_pairs, phase_start, tail_map,
                  tail_from, out_start, out_pattern, pat_info, first_out_state,
                  data, start, end, stream_pos, direction, state, hits):
    """Run the automaton over data[start:end] and record the patterns that fire.

    Parameters
    ----------
    goto .. first_out_state : MatcherTables.automaton (detector.automaton describes them)
    data            : uint8[::1]            buffer holding the segment (e.g. the batch buffer)
    start, end      : int64                 segment bounds in `data`, start inclusive, end
                                            exclusive; 0 <= start <= end <= len(data)
    stream_pos      : int64                 stream offset of data[start] in this direction
                                            (0 for the first payload byte)
    direction       : int                   0 client->server, 1 server->client
    state           : int32                 automaton state after the previous segment of the
                                            same flow direction (0 before the first)
    hits            : uint64[n_words]       the flow's pattern bitmask; bit p of word p >> 6 is
                                            set when pattern p matches inside its window

    Returns
    -------
    int32  the state to pass with the next segment of this flow direction (a phase-1
           state once the stream reaches tail_from). Never raises; reads only
           data[start:end]; writes only `hits` (bits are only set).

    One function, no helpers and no array views: inlined into the inspection loop,
    every array it receives would otherwise be reference-counted per call. Indices
    are unsigned, so numba emits no negative-index fix-up per byte.
    """
    dbit = np.int64(1) << np.int64(direction)
    base = np.int64(stream_pos) - np.int64(start) + 1   # stream end position of data[i] is base + i
    sh = np.uint32(class_shift)
    one = np.uint64(1)
    s = np.uint32(state)
    i = np.uint64(start)
    phase = 0
    cross = np.int64(end)                                  # where phase 1 begins in `data`
    if np.int64(stream_pos) < tail_from:
        cross = np.int64(start) + (tail_from - np.int64(stream_pos))
    else:
        phase = 1
    while True:
        stop = np.uint64(end) if phase == 1 else np.uint64(min(np.int64(end), cross))
        begin = np.uint32(phase_start[phase])
        while i < stop:
            if s == begin:
                # At the start state most bytes lead back to it: skip them two at a time
                # (class pairs that return without an output), then one at a time,
                # without the load-to-load dependency of the automaton step.
                while i + one < stop:
                    c0 = np.uint32(byte_class[data[i]])
                    if start_pairs[phase, (c0 << sh) | np.uint32(byte_class[data[i + one]])]:
                        i += np.uint64(2)
                    elif goto[begin, c0] == begin:
                        i += one
                    else:
                        break
                if i + one == stop and goto[begin, byte_class[data[i]]] == begin:
                    i = stop
                if i == stop:
                    break
            s = np.uint32(goto[s, byte_class[data[i]]])
            if s >= first_out_state:
                e = base + np.int64(i)
                for k in range(out_start[s], out_start[s + 1]):
                    p = out_pattern[k]
                    if (pat_info[p, 0] & dbit) != 0 and pat_info[p, 1] <= e <= pat_info[p, 2]:
                        hits[p >> 6] |= np.uint64(1) << np.uint64(p & 63)
            i += one
        if phase == 1 or np.int64(stop) < cross:
            return np.int32(s)
        s = np.uint32(tail_map[s])                         # the stream reached tail_from
        phase = 1


@kernel
def eval_signatures(sig_pat_start, sig_pat, sig_all_start, sig_all, sig_any_start, sig_any,
                    sig_order, hits, fired):
    """Set the bit of every signature whose patterns and requires are satisfied.

    Parameters
    ----------
    sig_pat_start, sig_pat : int32 CSR  patterns of each signature (all must be set in `hits`)
    sig_all_start, sig_all : int32 CSR  signatures that must all have fired
    sig_any_start, sig_any : int32 CSR  signatures of which at least one must have fired
                                        (no constraint when the row is empty)
    sig_order       : int32[n_signatures]  evaluation order, required signatures first
    hits            : uint64[n_words]      the flow's pattern bitmask (match_payload)
    fired           : uint64[n_sig_words]  output: bit j set when signature j fired;
                                           bits are only set, never cleared

    Returns
    -------
    int  number of signatures whose bit is set in `fired` after the call. Never raises.
    """
    one = np.uint64(1)
    for j in range(sig_order.shape[0]):
        sig = sig_order[j]
        ok = True
        for k in range(sig_pat_start[sig], sig_pat_start[sig + 1]):
            p = sig_pat[k]
            if (hits[p >> 6] >> np.uint64(p & 63)) & one == 0:
                ok = False
                break
        if ok:
            for k in range(sig_all_start[sig], sig_all_start[sig + 1]):
                r = sig_all[k]
                if (fired[r >> 6] >> np.uint64(r & 63)) & one == 0:
                    ok = False
                    break
        if ok and sig_any_start[sig + 1] > sig_any_start[sig]:
            found = False
            for k in range(sig_any_start[sig], sig_any_start[sig + 1]):
                r = sig_any[k]
                if (fired[r >> 6] >> np.uint64(r & 63)) & one != 0:
                    found = True
                    break
            ok = found
        if ok:
            fired[sig >> 6] |= one << np.uint64(sig & 63)
    n = 0
    for j in range(sig_order.shape[0]):
        if (fired[j >> 6] >> np.uint64(j & 63)) & one != 0:
            n += 1
    return n
