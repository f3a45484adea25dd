"""detector.automaton's layout (byte classes, two phases, start pairs) against the plain
256-column DFA of build_automaton: same outputs after every byte, on random data."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from detector.automaton import build_automaton, compile_automaton
from detector.engine.match import match_payload
from detector.rules import compile_patterns
from tests.unit.engine.test_match import make_set

BIG = np.iinfo(np.int64).max
ALPHABET = b"abAB\x00\x01\n\""

keys_st = st.lists(st.tuples(st.lists(st.sampled_from(ALPHABET), min_size=1, max_size=4)
                             .map(bytes), st.booleans()),
                   min_size=1, max_size=10, unique_by=lambda k: (k[0].lower(), k[1]))
ends_st = st.one_of(st.none(), st.integers(1, 12))


def plain_outputs(keys, data):
    """Keys ending at each byte of `data`, stepping the 256-column DFA."""
    goto, outputs = build_automaton(keys)
    s, out = 0, []
    for b in data:
        s = goto[s, b]
        out.append(set(outputs[s]))
    return out


@settings(max_examples=300, deadline=None)
@given(keys=keys_st, data=st.data())
def test_layout_has_the_plain_dfa_outputs_at_every_byte(keys, data):
    keys = [(d.lower() if nc else d, nc) for d, nc in keys]
    ends = [BIG if e is None else e for e in data.draw(st.lists(ends_st, min_size=len(keys),
                                                                max_size=len(keys)))]
    text = data.draw(st.lists(st.sampled_from(ALPHABET + b"xyz"), max_size=80).map(bytes))
    auto = compile_automaton(keys, ends, BIG)
    finite = [e for e in ends if e < BIG]
    assert auto.tail_from == (max(finite) if finite else 0)
    # as few classes as distinct columns
    assert len(set(auto.byte_class)) == len({auto.goto[:, c].tobytes()
                                              for c in set(auto.byte_class)})
    expect = plain_outputs(keys, text)
    s = 0
    for pos, b in enumerate(text):
        if pos == auto.tail_from and auto.tail_from:
            s = auto.tail_map[s]
        phase = 1 if pos >= auto.tail_from else 0
        s = auto.goto[s, auto.byte_class[b]]
        want = expect[pos] if phase == 0 else {k for k in expect[pos] if ends[k] > auto.tail_from}
        assert set(auto.outputs[s]) == want
        assert (s >= auto.first_out_state) == bool(want)


@settings(max_examples=200, deadline=None)
@given(keys=keys_st, ends=st.lists(ends_st, min_size=10, max_size=10))
def test_start_pairs_are_exactly_the_pairs_that_return_silently(keys, ends):
    keys = [(d.lower() if nc else d, nc) for d, nc in keys]
    auto = compile_automaton(keys, [BIG if e is None else e for e in ends[:len(keys)]], BIG)
    sh, g = auto.class_shift, auto.goto
    n_classes = int(auto.byte_class.max()) + 1
    for phase, start in enumerate(auto.phase_start):
        for c0 in range(n_classes):
            s1 = g[start, c0]
            for c1 in range(n_classes):
                silent = s1 < auto.first_out_state and g[s1, c1] == start
                assert auto.start_pairs[phase, (c0 << sh) | c1] == silent


def test_windowed_patterns_leave_the_scan_after_their_window():
    """Stratum V2-like zero-byte patterns end by position 11: past it, zero bytes are
    skipped at the phase-1 start state, and a late match of them does not count."""
    specs = [(b"\x00\x00\x00", False, 0, 3, "client"), (b"\x02\x00\x02\x00", False, 7, 4,
                                                         "client"),
             (b'"mining.subscribe"', False, 0, None, "client")]
    tables = compile_patterns(make_set(specs))
    assert tables.dfa.tail_from == 11
    start1 = tables.dfa.phase_start[1]
    zero = tables.dfa.byte_class[0]
    assert tables.dfa.goto[0, zero] != 0                  # phase 0: a zero byte may start a frame
    assert tables.dfa.goto[start1, zero] == start1        # phase 1: it cannot
    hits = np.zeros(1, np.uint64)
    data = np.frombuffer(b"\x00\x00\x00\x06\x00\x00\x00\x02\x00\x02\x00" + b"\x00" * 40
                         + b'"mining.subscribe"', np.uint8)
    state = np.int32(0)
    for a in range(0, len(data), 5):                  # cross the boundary mid-segment
        state = match_payload(*tables.automaton, data, a, min(a + 5, len(data)), a, 0, state,
                              hits)
    assert int(hits[0]) == 0b111
    hits[:] = 0
    late = np.frombuffer(b"x" * 12 + b"\x00\x00\x00", np.uint8)
    match_payload(*tables.automaton, late, 0, len(late), 0, 0, np.int32(0), hits)
    assert int(hits[0]) == 0
