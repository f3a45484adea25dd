"""The pattern automaton's tables, laid out for detector.engine.match.

``build_automaton`` turns pattern keys into a complete DFA (goto over 256
bytes). ``compile_automaton`` then lays it out for the scan loop:

- Two phases. Windowed patterns (a finite ``depth``) can only end early in a
  stream; past the last position any of them can end (``tail_from``) only the
  unwindowed keys can still match. Phase 0 runs the full DFA over stream
  bytes ``[0, tail_from)``, phase 1 a DFA of the unwindowed keys alone over
  the rest. Its start state is left far less often: a binary stream's zero
  bytes would otherwise keep restarting the Stratum V2 frame patterns.
  ``tail_map`` carries the state over the boundary (the phase-1 state is the
  phase-0 state's items restricted to the unwindowed keys).
- Byte classes. Bytes every state treats alike share a column, so a goto row
  is ``1 << class_shift`` entries (64 for the shipped signatures) instead of
  256, and pairs of classes index a small table.
- Start pairs. At a phase's start state, ``start_pairs[phase, c0 << shift | c1]``
  is 1 when bytes of classes c0, c1 lead back to it without an output: the
  scan skips such pairs two bytes at a time, without the load-to-load
  dependency of a DFA step, and leaves the start state only where two bytes
  begin a pattern.

Both phases live in one state numbering: phase-0 states without outputs
(state 0 = its start), phase-1 states without outputs, then the states with
outputs of either, so ``state >= first_out_state`` is the one test per step.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

MAX_STATES = 1 << 16           # bound on each phase's DFA


def _position_bytes(data: bytes, nocase: bool):
    """Per position, the tuple of input bytes that match it."""
    out = []
    for b in data:
        if nocase and (0x41 <= b <= 0x5A or 0x61 <= b <= 0x7A):
            out.append((b | 0x20, b & ~0x20))
        else:
            out.append((b,))
    return out


def build_automaton(keys, max_states=MAX_STATES):
    """DFA over `keys` [(bytes, nocase)] -> (goto int32[n,256], outputs list of key lists).

    Subset construction over (key, matched length) items; for case-sensitive
    keys it yields exactly the Aho–Corasick trie with full goto, and it keeps
    mixed nocase/exact keys exact without verification. State 0 = start.
    Raises ValueError when more than `max_states` states would be needed.
    """
    classes = [_position_bytes(d, nc) for d, nc in keys]
    lengths = [len(d) for d, _ in keys]
    root_items = [[] for _ in range(256)]
    for k, cls in enumerate(classes):
        for b in cls[0]:
            root_items[b].append((k, 1))
    ids = {frozenset(): 0}
    sets = [frozenset()]
    rows = []
    queue = deque([0])
    root_row = None
    while queue:
        sid = queue.popleft()
        items = sets[sid]
        nxt = {}
        for k, i in items:
            if i < lengths[k]:
                for b in classes[k][i]:
                    nxt.setdefault(b, []).append((k, i + 1))
        row = np.empty(256, np.int32) if root_row is None else root_row.copy()
        targets = range(256) if root_row is None else nxt.keys()
        for b in targets:
            target = frozenset(nxt.get(b, []) + root_items[b])
            tid = ids.get(target)
            if tid is None:
                tid = len(sets)
                if tid >= max_states:
                    raise ValueError(f"automaton needs more than {max_states} states")
                ids[target] = tid
                sets.append(target)
                queue.append(tid)
            row[b] = tid
        if root_row is None:
            root_row = row
        rows.append((sid, row))
    goto = np.empty((len(sets), 256), np.int32)
    for sid, row in rows:
        goto[sid] = row
    outputs = [sorted(k for k, i in s if i == lengths[k]) for s in sets]
    return goto, outputs


@dataclass(frozen=True)
class Automaton:
    """Phase-split, byte-class DFA (see the module docstring).

    goto        int32[n_states, 1 << class_shift]  next state for (state, byte class)
    byte_class  uint8[256]                         class of each byte
    class_shift int                                log2 of a goto row's width
    start_pairs uint8[2, 1 << 2 * class_shift]     per phase: 1 = class pair skippable at
                                                   that phase's start state
    phase_start int32[2]                           start state of phase 0 (0) and phase 1
    tail_map    int32[n_states]                    phase-0 state -> phase-1 state
    tail_from   int                                first stream position of phase 1
    outputs     list of key lists per state (states >= first_out_state have some)
    first_out_state int
    """

    goto: np.ndarray
    byte_class: np.ndarray
    class_shift: int
    start_pairs: np.ndarray
    phase_start: np.ndarray
    tail_map: np.ndarray
    tail_from: int
    outputs: list
    first_out_state: int


def _tail_map(full, tail):
    """For each state of DFA `full`, the state DFA `tail` (over a subset of its keys)
    is in after the same input. build_automaton numbers states in the order it finds
    them, so every state's first parent comes before it: one pass in id order."""
    out = np.full(full.shape[0], -1, np.int64)
    out[0] = 0
    for f in range(full.shape[0]):
        targets = full[f]
        new = out[targets] < 0
        out[targets[new]] = tail[out[f]][new]
    # the tail state is the full state's items restricted to the tail keys: a function
    # of the full state, whatever path led there
    if (out < 0).any() or not np.array_equal(out[full], tail[out]):
        raise AssertionError("tail automaton is not a projection of the full one")
    return out


def _byte_classes(goto):
    """uint8[256] class per byte (numbered in order of first byte), number of classes:
    bytes whose goto columns are equal in every state share a class."""
    cls = np.empty(256, np.uint8)
    seen = {}
    for b in range(256):
        cls[b] = seen.setdefault(goto[:, b].tobytes(), len(seen))
    return cls, len(seen)


def compile_automaton(keys, key_ends, big, max_states=MAX_STATES):
    """Automaton for `keys` [(bytes, nocase)]; key_ends[k] = the largest stream position
    at which a match of key k counts (`big` = unbounded). Raises ValueError past
    `max_states` states in a phase."""
    full, full_out = build_automaton(keys, max_states)
    finite = [e for e in key_ends if e < big]
    tail_from = max(finite) if finite else 0
    if tail_from:
        keep = [k for k, e in enumerate(key_ends) if e > tail_from]
        tail, tail_local = build_automaton([keys[k] for k in keep], max_states)
        tail_out = [[keep[k] for k in o] for o in tail_local]
        tail_map = _tail_map(full, tail)
    else:                                  # no windowed key: phase 1 only, on the full DFA
        tail, tail_out, tail_map = full[:0], [], np.arange(full.shape[0])

    # one numbering: phase-0 plain, phase-1 plain, then every state with outputs
    nf = full.shape[0]
    both = np.concatenate([full, tail + nf])
    outputs = full_out + tail_out
    plain = [s for s in range(len(both)) if not outputs[s]]
    with_out = [s for s in range(len(both)) if outputs[s]]
    perm = np.empty(len(both), np.int64)
    perm[np.array(plain + with_out, np.int64)] = np.arange(len(both))
    goto256 = np.empty_like(both)
    goto256[perm] = perm[both]
    tail_start = perm[nf] if tail_from else 0
    new_map = np.arange(len(both), dtype=np.int32)        # phase-1 states: themselves
    new_map[perm[:nf]] = perm[tail_map + nf] if tail_from else perm[:nf]

    byte_class, n_classes = _byte_classes(goto256)
    shift = max(1, int(n_classes - 1).bit_length())
    width = 1 << shift
    goto = np.zeros((len(both), width), np.int32)
    goto[:, byte_class] = goto256
    first_out = len(plain)
    pairs = np.zeros((2, width * width), np.uint8)
    for phase, start in enumerate((0, tail_start)):
        first = goto[start]                                   # state after one byte
        ok = (goto[first] == start) & (first < first_out)[:, None]
        ok[n_classes:] = False
        ok[:, n_classes:] = False
        pairs[phase] = ok.ravel()
    return Automaton(goto=goto, byte_class=byte_class, class_shift=shift, start_pairs=pairs,
                     phase_start=np.array([0, tail_start], np.int32), tail_map=new_map,
                     tail_from=int(tail_from),
                     outputs=[outputs[s] for s in plain + with_out], first_out_state=first_out)
