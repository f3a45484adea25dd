"""detector.rules: loading, validation errors (file:line [field]), lint, and the shipped
signatures against real captures (should fire / must not fire)."""

import csv
import textwrap
from collections import Counter
from pathlib import Path

import pytest

from detector.errors import SignatureError
from detector.rules import (CONFIDENCE, SignatureSet, binary_openings, check_signatures,
                            compile_patterns, load_signatures)
from tests.corpus import corpus_dir
from tests.unit.flowbytes import first_bytes, fired_signatures

REPO = Path(__file__).resolve().parents[2]
SIG_DIR = REPO / "signatures"
SHIPPED = ("stratum_v1.yaml", "xmrig.yaml", "ethproxy.yaml", "ethereumstratum.yaml",
           "zcash.yaml", "stratum_v2.yaml", "http_mining.yaml", "negatives.yaml")


@pytest.fixture(scope="module")
def sigset():
    return load_signatures(SIG_DIR)


@pytest.fixture(scope="module")
def tables(sigset):
    return compile_patterns(sigset)


# --------------------------------------------------------------------------- shipped files

def test_every_shipped_file_loads(sigset):
    names = {Path(f.path).name for f in sigset.files}
    assert set(SHIPPED) <= names
    assert isinstance(sigset, SignatureSet) and len(sigset) >= 40
    for sig in sigset:
        assert sig.confidence == CONFIDENCE[sig.strength]
        assert sig.id.startswith(sig.family + ".")
        assert sig.transport == "tcp" and sig.references
        assert sig.patterns or sig.requires.all_of or sig.requires.any_of


@pytest.mark.parametrize("name", SHIPPED)
def test_each_file_loads_alone(tmp_path, name):
    """Every file stands alone except for `requires` across families (zcash -> stratum-v1)."""
    (tmp_path / name).write_bytes((SIG_DIR / name).read_bytes())
    if name == "zcash.yaml":
        for dep in ("stratum_v1.yaml", "ethereumstratum.yaml"):
            (tmp_path / dep).write_bytes((SIG_DIR / dep).read_bytes())
    load_signatures(tmp_path)


def test_shipped_signatures_pass_lint():
    problems = [p for p in check_signatures(SIG_DIR)
                if "capture not found: ../shared/" not in p]
    assert problems == []


@pytest.mark.corpus
def test_shipped_example_captures_exist():
    corpus_dir()
    assert check_signatures(SIG_DIR) == []


def test_compiled_tables_are_consistent(sigset, tables):
    n_pat = sum(len(s.patterns) for s in sigset)
    assert tables.n_patterns == n_pat
    assert tables.dfa.goto.shape == (tables.n_states, 1 << tables.dfa.class_shift)
    assert tables.dfa.byte_class.max() < tables.dfa.goto.shape[1]
    assert tables.dfa.goto.min() >= 0 and tables.dfa.goto.max() < tables.n_states
    assert tables.out_start[tables.dfa.first_out_state] == 0
    assert tables.out_start[-1] == len(tables.out_pattern)
    assert (tables.out_start[1:] >= tables.out_start[:-1]).all()
    assert len(tables.sig_order) == len(sigset)


def test_no_generic_method_alone_is_conclusive(sigset):
    """STYLE §3: login/submit/job alone only raise candidates for the parser."""
    for sig in sigset:
        if sig.strength == "conclusive" and len(sig.patterns) == 1:
            token = sig.patterns[0].data.strip(b'"').lower()
            assert token not in (b"login", b"submit", b"job", b"worker", b"getblocktemplate")


# --------------------------------------------------------------------------- samples

def _samples(sigset):
    return [(s.id, i, data) for s in sigset for i, data in enumerate(s.samples)]


@pytest.mark.parametrize("sig_id,i,data", _samples(load_signatures(SIG_DIR)),
                         ids=lambda v: v if isinstance(v, str) else None)
def test_every_sample_fires_its_signature(sigset, tables, sig_id, i, data):
    sig = sigset[sig_id]
    toserver, toclient = (data, b"") if sig.direction in ("client", "any") else (b"", data)
    assert sig_id in fired_signatures(tables, toserver, toclient)


WHITESPACE_VARIANTS = [
    b'{"id":1,"method":"mining.subscribe","params":[]}\n',
    b'{"id": 1, "method": "mining.subscribe", "params": []}\n',
    b'{ "id" : 1 , "method" : "mining.subscribe" , "params" : [ ] }\n',
    b'{"id":1,\n "method"\t:\t"mining.subscribe",\n "params":[]}\n',
    b'{"params":["x"],"id":1,"method":"mining.subscribe"}\r\n',
]


@pytest.mark.parametrize("line", WHITESPACE_VARIANTS)
def test_value_anchored_literals_ignore_json_whitespace(tables, line):
    assert "stratum-v1.subscribe" in fired_signatures(tables, line, b"")


LOOKALIKES = {
    "electrum": (b'{"id": 0, "method": "server.version", "params": ["electrum/4.5", "1.4"]}\n'
                 b'{"id": 1, "method": "blockchain.headers.subscribe", "params": []}\n',
                 b'{"jsonrpc": "2.0", "result": ["ElectrumX 1.16.0", "1.4"], "id": 0}\n'),
    "eth-node-rpc": (b'{"jsonrpc":"2.0","method":"eth_blockNumber","params":[],"id":1}',
                     b'{"jsonrpc":"2.0","id":1,"result":"0x10d4f"}'),
    "generic-login": (b'{"method":"login","params":{"user":"bob","password":"x"},"id":1}',
                      b'{"id":1,"result":{"token":"abc"}}'),
    "mqtt-subscribe": (b'\x82\x0f\x00\x01\x00\x0amining/sub\x00', b'\x90\x03\x00\x01\x00'),
    "quoted-in-chat": (b'PRIVMSG #help :my log says mining.subscribe failed\r\n', b''),
    "server-echoes-subscribe": (b'', b'{"id":1,"method":"mining.subscribe","params":[]}\n'),
}


@pytest.mark.parametrize("name", sorted(LOOKALIKES))
def test_lookalikes_fire_nothing_conclusive(sigset, tables, name):
    toserver, toclient = LOOKALIKES[name]
    fired = fired_signatures(tables, toserver, toclient)
    assert not [s for s in fired if sigset[s].strength == "conclusive"], fired


# --------------------------------------------------------------------------- validation errors

GOOD_SIG = """\
schema_version: 1
family: demo
signatures:
  - id: demo.one
    variant: demo
    description: demo signature
    references: [https://example.org/spec]
    transport: tcp
    direction: client
    patterns:
      - literal: '"demo.method"'
    strength: conclusive
    parser: demo
"""


def _write(tmp_path, text, name="demo.yaml"):
    (tmp_path / name).write_text(textwrap.dedent(text))
    return tmp_path / name


def _error(tmp_path, text, name="demo.yaml"):
    path = _write(tmp_path, text, name)
    with pytest.raises(SignatureError) as info:
        load_signatures(tmp_path)
    return path, info.value


def test_good_minimal_file_loads(tmp_path):
    _write(tmp_path, GOOD_SIG)
    sigs = load_signatures(tmp_path)
    assert sigs["demo.one"].patterns[0].data == b'"demo.method"'
    assert sigs["demo.one"].confidence == "high"


# (description, edit of GOOD_SIG (old, new), expected line, key, message fragment)
BROKEN = [
    ("unknown key with suggestion", ("    patterns:\n", "    pattern:\n"), 10,
     "signatures[0].pattern", "did you mean 'patterns'"),
    ("unknown pattern key", ("      - literal: '\"demo.method\"'\n",
                             "      - literal: '\"demo.method\"'\n        nocas: true\n"), 12,
     "signatures[0].patterns[0].nocas", "did you mean 'nocase'"),
    ("missing id", ("  - id: demo.one\n    variant", "  - variant"), 4,
     "signatures[0].id", "missing required key 'id'"),
    ("bad hex", ("      - literal: '\"demo.method\"'\n", "      - hex: '00 0g'\n"), 11,
     "signatures[0].patterns[0].hex", "bad hex"),
    ("odd hex", ("      - literal: '\"demo.method\"'\n", "      - hex: '000'\n"), 11,
     "signatures[0].patterns[0].hex", "bad hex"),
    ("wrong type strength", ("    strength: conclusive\n", "    strength: 3\n"), 12,
     "signatures[0].strength", "expected a string, got an integer"),
    ("wrong type patterns", ("    patterns:\n      - literal: '\"demo.method\"'\n",
                             "    patterns: '\"demo.method\"'\n"), 10,
     "signatures[0].patterns", "expected a list"),
    ("wrong type offset", ("      - literal: '\"demo.method\"'\n",
                           "      - literal: '\"demo.method\"'\n        offset: two\n"), 12,
     "signatures[0].patterns[0].offset", "expected an integer"),
    ("bad strength value", ("    strength: conclusive\n", "    strength: conclusiv\n"), 12,
     "signatures[0].strength", "did you mean 'conclusive'"),
    ("bad direction", ("    direction: client\n", "    direction: upstream\n"), 9,
     "signatures[0].direction", "not one of client, server, any"),
    ("depth shorter than pattern", ("      - literal: '\"demo.method\"'\n",
                                    "      - literal: '\"demo.method\"'\n        depth: 4\n"),
     12, "signatures[0].patterns[0].depth", "can never match"),
    ("confidence contradicts strength", ("    strength: conclusive\n",
                                         "    strength: conclusive\n    confidence: low\n"),
     13, "signatures[0].confidence", "gives confidence 'high'"),
    ("id outside family", ("  - id: demo.one\n", "  - id: other.one\n"), 4,
     "signatures[0].id", "must start with the file's family"),
    ("malformed id", ("  - id: demo.one\n", "  - id: Demo One\n"), 4,
     "signatures[0].id", "not a valid id"),
    ("duplicate key", ("    parser: demo\n", "    parser: demo\n    parser: demo\n"), 14,
     "signatures[0].parser", "duplicate key"),
    ("port only", ("    patterns:\n      - literal: '\"demo.method\"'\n",
                   "    port_hints: [3333]\n"), 4, "signatures[0].patterns",
     "a port alone is never evidence"),
    ("port out of range", ("    parser: demo\n", "    parser: demo\n    port_hints: [70000]\n"),
     14, "signatures[0].port_hints[0]", "between 1 and 65535"),
    ("unknown requires", ("    parser: demo\n", "    parser: demo\n    requires: [demo.onee]\n"),
     14, "requires", "did you mean 'demo.one'"),
    ("self requires", ("    parser: demo\n", "    parser: demo\n    requires: [demo.one]\n"),
     14, "requires", "requires itself"),
    ("unknown top-level key", ("family: demo\n", "family: demo\nfamilly: x\n"), 3,
     "familly", "unknown key 'familly'"),
    ("schema version", ("schema_version: 1\n", "schema_version: 2\n"), 1,
     "schema_version", "unsupported schema_version 2"),
    ("yaml syntax", ("    transport: tcp\n", "    transport: [tcp\n"), None, None,
     "invalid YAML"),
    ("alias", ("    variant: demo\n    description: demo signature\n",
               "    variant: &v demo\n    description: *v\n"), 5,
     "signatures[0].description", "aliases"),
    ("empty literal", ("      - literal: '\"demo.method\"'\n", "      - literal: ''\n"), 11,
     "signatures[0].patterns[0].literal", "1..256 bytes"),
    ("literal and hex", ("      - literal: '\"demo.method\"'\n",
                         "      - literal: 'a'\n        hex: '61'\n"), None,
     "signatures[0].patterns[0]", "exactly one of 'literal' or 'hex'"),
]


@pytest.mark.parametrize("case", BROKEN, ids=[c[0] for c in BROKEN])
def test_validation_error_names_file_line_and_field(tmp_path, case):
    _, (old, new), line, key, fragment = case
    assert old in GOOD_SIG
    path, err = _error(tmp_path, GOOD_SIG.replace(old, new, 1))
    assert err.file == str(path)
    assert fragment in str(err)
    if key is not None:
        assert err.key == key
    if line is not None:
        assert err.line == line
        assert str(err).startswith(f"{path}:{line} ")
    elif case[0] == "yaml syntax":
        assert err.line is not None


def test_duplicate_id_across_files(tmp_path):
    _write(tmp_path, GOOD_SIG, "a.yaml")
    path, err = _error(tmp_path, GOOD_SIG, "b.yaml")
    assert err.file == str(path) and err.line == 4 and err.key == "id"
    assert "duplicate id 'demo.one'" in str(err) and "a.yaml:4" in str(err)


def test_requires_cycle(tmp_path):
    text = GOOD_SIG + """\
    requires: [demo.two]
  - id: demo.two
    variant: demo
    description: second
    references: [x]
    transport: tcp
    direction: server
    strength: weak
    parser: demo
    requires: [demo.one]
"""
    _, err = _error(tmp_path, text)
    assert "cycle" in str(err) and err.key == "requires"


def test_invalid_utf8_reports_line(tmp_path):
    (tmp_path / "x.yaml").write_bytes(b"schema_version: 1\nfamily: demo\n# \xff\xfe\n")
    with pytest.raises(SignatureError) as info:
        load_signatures(tmp_path)
    assert info.value.line == 3 and "UTF-8" in str(info.value)


def test_empty_file_and_empty_directory(tmp_path):
    with pytest.raises(SignatureError, match="no \\*.yaml"):
        load_signatures(tmp_path)
    with pytest.raises(SignatureError, match="not found"):
        load_signatures(tmp_path / "missing")
    (tmp_path / "e.yaml").write_text("")
    with pytest.raises(SignatureError, match="empty file"):
        load_signatures(tmp_path)


def test_check_reports_load_error_and_lint(tmp_path):
    _write(tmp_path, GOOD_SIG.replace("    strength: conclusive\n", "    strength: 3\n"))
    problems = check_signatures(tmp_path)
    assert len(problems) == 1 and ":12 [signatures[0].strength]" in problems[0]

    spaced = GOOD_SIG.replace("'\"demo.method\"'", "'\"method\": \"demo\"'")
    _write(tmp_path, spaced)
    assert any("depends on JSON whitespace" in p for p in check_signatures(tmp_path))

    generic = GOOD_SIG.replace("'\"demo.method\"'", "'\"login\"'")
    _write(tmp_path, generic)
    assert any("can never be conclusive" in p for p in check_signatures(tmp_path))

    with_example = GOOD_SIG + "    examples: [pcaps/nope.pcap]\n"
    _write(tmp_path, with_example)
    assert any("capture not found: pcaps/nope.pcap" in p for p in check_signatures(tmp_path))


def test_hex_nocase_offset_depth_are_parsed(tmp_path):
    text = GOOD_SIG.replace("      - literal: '\"demo.method\"'\n", textwrap.indent(
        textwrap.dedent("""\
        - hex: "00 0A ff"
          offset: 2
          depth: 5
        - literal: "X-Demo:"
          nocase: true
        - plain shorthand
        """), "      "))
    _write(tmp_path, text)
    pats = load_signatures(tmp_path)["demo.one"].patterns
    assert pats[0].data == b"\x00\x0a\xff" and pats[0].offset == 2 and pats[0].depth == 5
    assert pats[1].nocase and pats[1].data == b"X-Demo:"
    assert pats[2].data == b"plain shorthand" and not pats[2].nocase


def _patterns(tmp_path, yaml_patterns):
    """The demo signature with `yaml_patterns` (a YAML list, indented under patterns:)."""
    text = GOOD_SIG.replace("      - literal: '\"demo.method\"'\n",
                            textwrap.indent(textwrap.dedent(yaml_patterns), "      "))
    _write(tmp_path, text)
    return load_signatures(tmp_path)


def test_shipped_binary_openings_are_stratum_v2_frames(tables):
    """Only Stratum V2's frames hold bytes no text protocol sends; both of its
    signatures open with extension type 0x0000."""
    assert tables.binary_openings.tolist() == [[0, 0]]


@pytest.mark.parametrize("patterns, rows", [
    ('- literal: "mining.subscribe"\n', []),                       # text: no row
    ('- literal: "tab\\tand\\r\\nline"\n', []),                  # tab, CR, LF are text
    ('- hex: "00 00 01"\n  offset: 0\n  depth: 3\n', [[0, 0]]),
    ('- hex: "7f 05"\n  offset: 0\n  depth: 2\n- hex: "01"\n  offset: 9\n', [[127, 5]]),
    ('- hex: "1b"\n  offset: 0\n  depth: 1\n', [[27, -1]]),      # one byte: any second
    ('- literal: "a1"\n  nocase: true\n  offset: 0\n  depth: 2\n- hex: "00"\n',
     [[-1, 0x31]]),                                                 # a letter: either case
    ('- hex: "00 00 00"\n', [[-1, -1]]),                            # not anchored: any stream
    ('- hex: "00 00 00"\n  offset: 0\n  depth: 4\n', [[-1, -1]]),   # may start at byte 1
])
def test_binary_openings(tmp_path, patterns, rows):
    assert binary_openings(_patterns(tmp_path, patterns)).tolist() == rows


def test_check_flags_binary_patterns_without_an_anchored_opening(tmp_path):
    """Such a signature keeps every binary stream in inspection (a (-1, -1) row)."""
    _patterns(tmp_path, '- hex: "00 00 00"\n  offset: 4\n')
    [problem] = check_signatures(tmp_path, examples=False)
    assert problem.startswith(f"{tmp_path / 'demo.yaml'}:4 [demo.one]: patterns hold bytes "
                              "no text protocol sends, but none is anchored")
    _patterns(tmp_path, '- hex: "00 00 00"\n  offset: 0\n  depth: 3\n')
    assert check_signatures(tmp_path, examples=False) == []


# --------------------------------------------------------------------------- captures

def _resolve(capture_path):
    """Absolute path of a signature capture; ../shared paths need the corpus."""
    if capture_path.startswith("../shared/"):
        corpus_dir()
    path = (REPO / capture_path).resolve()
    assert path.exists(), f"capture listed in signatures/ is missing: {capture_path}"
    return path


def _fired_per_flow(tables, path):
    return [fired_signatures(tables, f.toserver, f.toclient) for f in first_bytes(str(path))]


def _examples(sigset):
    return [(s.id, c.path) for s in sigset for c in s.examples]


def _must_not(sigset):
    return [(s.id, c.path) for s in sigset for c in s.must_not_fire]


@pytest.mark.corpus
@pytest.mark.parametrize("sig_id,capture", _examples(load_signatures(SIG_DIR)))
def test_signature_fires_on_its_examples(tables, sig_id, capture):
    per_flow = _fired_per_flow(tables, _resolve(capture))
    assert any(sig_id in fired for fired in per_flow), f"{sig_id} silent on {capture}"


@pytest.mark.corpus
@pytest.mark.parametrize("sig_id,capture", _must_not(load_signatures(SIG_DIR)))
def test_signature_silent_on_its_must_not_fire(tables, sig_id, capture):
    per_flow = _fired_per_flow(tables, _resolve(capture))
    assert not any(sig_id in fired for fired in per_flow)


def _file_negatives(sigset):
    return [c.path for f in sigset.files for c in f.must_not_fire]


@pytest.mark.corpus
@pytest.mark.parametrize("capture", _file_negatives(load_signatures(SIG_DIR)))
def test_nothing_conclusive_on_listed_negatives(sigset, tables, capture):
    per_flow = _fired_per_flow(tables, _resolve(capture))
    conclusive = {s for fired in per_flow for s in fired if sigset[s].strength == "conclusive"}
    assert not conclusive


def _labelled():
    root = REPO.parent / "shared" / "corpus"
    out = []
    for tsv in sorted(root.glob("*/LABELS.tsv")):
        with open(tsv, newline="") as fh:
            for row in csv.DictReader(fh, delimiter="\t"):
                if Path(row["file"]).suffix in (".pcap", ".pcapng", ".cap"):
                    out.append((f"{tsv.parent.name}/{row['file']}", row["label"]))
    return out


LABELLED = _labelled()


@pytest.mark.corpus
@pytest.mark.slow
def test_no_conclusive_signature_on_benign_corpus(sigset, tables, record_property):
    """Every benign / crypto_p2p capture of corpus/*/LABELS.tsv: nothing conclusive fires.

    Weaker signatures that do fire are recorded (junit property `weak_on_benign`).
    """
    root = corpus_dir()
    negatives = [(name, label) for name, label in LABELLED if label != "mining"]
    assert negatives
    conclusive, weaker = {}, Counter()
    for name, _ in negatives:
        for fired in _fired_per_flow(tables, root / name):
            for sid in fired:
                if sigset[sid].strength == "conclusive":
                    conclusive.setdefault(name, set()).add(sid)
                else:
                    weaker[(name, sid)] += 1
    record_property("weak_on_benign", dict(weaker))
    assert conclusive == {}


@pytest.mark.corpus
@pytest.mark.parametrize("name", [n for n, label in LABELLED if label == "mining"])
def test_every_mining_capture_fires_something_conclusive(sigset, tables, name):
    per_flow = _fired_per_flow(tables, corpus_dir() / name)
    assert any(sigset[s].strength == "conclusive" for fired in per_flow for s in fired)
