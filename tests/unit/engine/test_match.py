"""detector.engine.match against a naive reference (bytes.find at every position).

Also run under NUMBA_DISABLE_JIT=1 (test_kernels_without_jit spawns it).
"""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from detector.engine.match import eval_signatures, match_payload
from detector.rules import (Pattern, Requires, Signature, SignatureSet, build_automaton,
                            compile_patterns)

REPO = Path(__file__).resolve().parents[3]
ALPHABET = b"abAB\x00\xff-"


def make_set(specs, requires=None):
    """One signature per pattern spec (data, nocase, offset, depth, direction)."""
    requires = requires or {}
    sigs = []
    for i, (data, nocase, offset, depth, direction) in enumerate(specs):
        sigs.append(Signature(
            id=f"t.s{i}", family="t", variant="t", description="t", references=("x",),
            transport="tcp", direction=direction,
            patterns=(Pattern(data, nocase, offset, depth),) if data else (),
            requires=requires.get(i, Requires()), strength="weak", confidence="low",
            parser="t"))
    return SignatureSet(signatures=tuple(sigs), files=())


def run(tables, data, direction, splits=(), stream_pos=0, pad=0):
    """Feed `data` as segments cut at `splits`; returns (hits, final state)."""
    buf = np.frombuffer(b"\xee" * pad + data + b"\xee" * pad, np.uint8)
    hits = np.zeros(tables.n_words, np.uint64)
    state = np.int32(0)
    cuts = [0] + sorted(set(c for c in splits if 0 < c < len(data))) + [len(data)]
    for a, b in zip(cuts[:-1], cuts[1:]):
        state = match_payload(*tables.automaton, buf, pad + a, pad + b,
                              stream_pos + a, direction, state, hits)
    return hits, int(state)


def bits(hits, n):
    return {p for p in range(n) if (int(hits[p >> 6]) >> (p & 63)) & 1}


def naive(specs, data, direction, stream_pos=0):
    """Pattern ids whose bytes occur in `data` (stream starting at stream_pos) in their window."""
    out = set()
    mask = {"client": 1, "server": 2, "any": 3}
    for p, (pat, nocase, offset, depth, dname) in enumerate(specs):
        if not mask[dname] & (1 << direction):
            continue
        hay, needle = (data.lower(), pat.lower()) if nocase else (data, pat)
        for j in range(len(hay) - len(needle) + 1):
            start = stream_pos + j
            if start < offset or (depth is not None and start + len(pat) > offset + depth):
                continue
            if hay[j:j + len(needle)] == needle:
                out.add(p)
                break
    return out


small_bytes = st.lists(st.sampled_from(ALPHABET), min_size=1, max_size=5).map(bytes)


@st.composite
def pattern_spec(draw):
    data = draw(small_bytes)
    depth = draw(st.one_of(st.none(), st.integers(len(data), len(data) + 12)))
    return (data, draw(st.booleans()), draw(st.integers(0, 12)), depth,
            draw(st.sampled_from(["client", "server", "any"])))


specs_st = st.lists(pattern_spec(), min_size=1, max_size=12)
data_st = st.lists(st.sampled_from(ALPHABET), max_size=160).map(bytes)


@settings(max_examples=300, deadline=None)
@given(specs=specs_st, data=data_st, direction=st.integers(0, 1),
       stream_pos=st.integers(0, 8))
def test_automaton_matches_naive_reference(specs, data, direction, stream_pos):
    tables = compile_patterns(make_set(specs))
    hits, _ = run(tables, data, direction, stream_pos=stream_pos, pad=3)
    assert bits(hits, len(specs)) == naive(specs, data, direction, stream_pos)


@settings(max_examples=300, deadline=None)
@given(specs=specs_st, data=data_st, direction=st.integers(0, 1),
       splits=st.lists(st.integers(0, 160), max_size=8))
def test_resumable_across_any_split_points(specs, data, direction, splits):
    tables = compile_patterns(make_set(specs))
    whole_hits, whole_state = run(tables, data, direction)
    split_hits, split_state = run(tables, data, direction, splits=splits, pad=2)
    assert bits(split_hits, len(specs)) == bits(whole_hits, len(specs))
    assert split_state == whole_state


@settings(max_examples=200, deadline=None)
@given(keys=st.lists(small_bytes, min_size=1, max_size=15, unique=True))
def test_case_sensitive_dfa_is_the_aho_corasick_trie(keys):
    """For exact keys the DFA has one state per distinct prefix (the AC trie nodes)."""
    goto, outputs = build_automaton([(k, False) for k in keys])
    prefixes = {k[:i] for k in keys for i in range(len(k) + 1)}
    assert goto.shape[0] == len(prefixes)
    # AC output(state) = the keys that are suffixes of the state's prefix
    assert sum(len(o) for o in outputs) == \
        sum(1 for pre in prefixes for k in keys if pre.endswith(k))


def test_nocase_folds_only_ascii_letters():
    specs = [(b"X-Min:", True, 0, None, "client"), (b"\xc3\xa9", True, 0, None, "client"),
             (b"Exact", False, 0, None, "client")]
    tables = compile_patterns(make_set(specs))
    hits, _ = run(tables, b"x-MIN: \xc3\x89 exact", 0)
    assert bits(hits, 3) == {0}          # \xc3\x89 is not folded; "exact" != "Exact"
    hits, _ = run(tables, b"\xc3\xa9Exact", 0)
    assert bits(hits, 3) == {1, 2}


def test_offset_depth_window_and_direction():
    specs = [(b"\x00\x00\x00", False, 0, 3, "client"), (b"ab", False, 4, 3, "server")]
    tables = compile_patterns(make_set(specs))
    assert bits(run(tables, b"\x00\x00\x00\x01", 0)[0], 2) == {0}
    assert bits(run(tables, b"\x01\x00\x00\x00", 0)[0], 2) == set()    # starts at 1
    assert bits(run(tables, b"\x00\x00\x00", 1)[0], 2) == set()        # wrong direction
    assert bits(run(tables, b"....ab", 1)[0], 2) == {1}                # start 4, end 6 <= 7
    assert bits(run(tables, b".....ab", 1)[0], 2) == {1}               # end 7 <= 7
    assert bits(run(tables, b"......ab", 1)[0], 2) == set()            # end 8 > 7
    assert bits(run(tables, b"ab", 1, stream_pos=4)[0], 2) == {1}      # stream_pos counts


def test_more_than_64_patterns_use_several_words():
    specs = [(bytes([65 + i // 26, 97 + i % 26]), False, 0, None, "any") for i in range(130)]
    tables = compile_patterns(make_set(specs))
    assert tables.n_words == 3
    data = b" ".join(s[0] for s in specs[::7])
    assert bits(run(tables, data, 0)[0], 130) == naive(specs, data, 0)


def test_eval_signatures_all_of_any_of():
    specs = [(b"aa", False, 0, None, "client"), (b"bb", False, 0, None, "server"),
             (b"cc", False, 0, None, "client"),
             (b"", False, 0, None, "any"), (b"", False, 0, None, "any")]
    requires = {3: Requires(all_of=("t.s0", "t.s1")),
                4: Requires(all_of=("t.s3",), any_of=("t.s2", "t.s1"))}
    tables = compile_patterns(make_set(specs, requires))
    for toserver, toclient, expect in [
            (b"aa", b"", {0}), (b"aa", b"bb", {0, 1, 3, 4}), (b"cc", b"bb", {1, 2}),
            (b"aacc", b"", {0, 2}), (b"", b"", set())]:
        hits = np.zeros(tables.n_words, np.uint64)
        for direction, data in ((0, toserver), (1, toclient)):
            buf = np.frombuffer(data, np.uint8) if data else np.zeros(0, np.uint8)
            match_payload(*tables.automaton, buf, 0, len(buf), 0, direction, np.int32(0),
                          hits)
        fired = np.zeros(tables.n_sig_words, np.uint64)
        n = eval_signatures(tables.sig_pat_start, tables.sig_pat, tables.sig_all_start,
                            tables.sig_all, tables.sig_any_start, tables.sig_any,
                            tables.sig_order, hits, fired)
        assert bits(fired, 5) == expect and n == len(expect)


def test_empty_segment_keeps_state():
    tables = compile_patterns(make_set([(b"abc", False, 0, None, "any")]))
    hits = np.zeros(1, np.uint64)
    buf = np.frombuffer(b"ab", np.uint8)
    s = match_payload(*tables.automaton, buf, 0, 2, 0, 0, np.int32(0), hits)
    s2 = match_payload(*tables.automaton, buf, 1, 1, 2, 0, s, hits)
    assert s2 == s and s != 0 and int(hits[0]) == 0


NO_JIT_SCRIPT = """
import random
from tests.unit.engine.test_match import make_set, naive, run, bits
from detector.rules import compile_patterns
import detector.engine.match as m
assert not hasattr(m.match_payload, "py_func"), "JIT still on"
rng = random.Random(7)
for _ in range(40):
    specs = []
    for _ in range(rng.randint(1, 6)):
        pat = bytes(rng.choice(b"abA") for _ in range(rng.randint(1, 3)))
        depth = rng.choice([None, len(pat) + rng.randint(0, 6)])   # windowed: two phases
        specs.append((pat, rng.random() < .5, rng.randint(0, 4), depth,
                      rng.choice(["client", "server", "any"])))
    data = bytes(rng.choice(b"abAB") for _ in range(rng.randint(0, 60)))
    t = compile_patterns(make_set(specs))
    whole = bits(run(t, data, 0)[0], len(specs))
    split = bits(run(t, data, 0, splits=[rng.randint(0, 60) for _ in range(3)])[0], len(specs))
    assert whole == split == naive(specs, data, 0), (specs, data)
print("ok")
"""


def test_kernels_without_jit():
    env = dict(os.environ, NUMBA_DISABLE_JIT="1")
    proc = subprocess.run([sys.executable, "-c", NO_JIT_SCRIPT], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == "ok"


@pytest.mark.parametrize("direction", [0, 1])
def test_shipped_tables_match_naive_on_random_text(direction):
    """The real signature set on JSON-ish noise with planted patterns."""
    from detector.rules import load_signatures

    sigset = load_signatures(REPO / "signatures")
    tables = compile_patterns(sigset)
    specs = [(p.data, p.nocase, p.offset, p.depth, s.direction) for s in sigset
             for p in s.patterns]
    rng = np.random.default_rng(direction)
    pieces = [p[0] for p in specs] + [b'{"id":1,', b" ", b"\n", b'"', b":"]
    for _ in range(30):
        data = b"".join(pieces[i] for i in rng.integers(0, len(pieces), 40))
        data = data.swapcase() if rng.random() < .3 else data
        assert bits(run(tables, data, direction)[0], len(specs)) == \
            naive(specs, data, direction)
