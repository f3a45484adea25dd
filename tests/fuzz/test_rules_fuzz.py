"""hypothesis: the signature loader on arbitrary input raises nothing but SignatureError."""

from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from detector.errors import SignatureError
from detector.rules import check_signatures, compile_patterns, load_signatures

REPO = Path(__file__).resolve().parents[2]
SEED = (REPO / "signatures" / "stratum_v1.yaml").read_text()
SETTINGS = settings(max_examples=200, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])


def load_bytes(tmp_path, raw: bytes):
    """Write `raw` as the only signature file and load it; True when it loaded."""
    for old in tmp_path.glob("*.yaml"):
        old.unlink()
    (tmp_path / "fuzz.yaml").write_bytes(raw)
    try:
        sigset = load_signatures(tmp_path)
    except SignatureError as exc:
        assert str(exc).startswith(str(tmp_path))
        return False
    compile_patterns(sigset)          # anything that loads also compiles
    check_signatures(tmp_path)
    return True


@SETTINGS
@given(text=st.text(max_size=400))
def test_arbitrary_text(tmp_path, text):
    load_bytes(tmp_path, text.encode("utf-8", "surrogatepass"))


@SETTINGS
@given(raw=st.binary(max_size=400))
def test_arbitrary_bytes(tmp_path, raw):
    load_bytes(tmp_path, raw)


yaml_tokens = st.sampled_from(
    [": ", "- ", "\n", "  ", "[", "]", "{", "}", ",", "'", '"', "&a ", "*a", "!!binary ",
     "!!python/object ", "0x_", "1e9", "~", "null", "true", "? ", "#", "\\x00", "|", ">",
     "hex", "literal", "depth", "offset", "-1", "99999999999999999999", "requires",
     "all_of", "any_of", "stratum-v1.subscribe", "%YAML 1.1\n", "---\n", "...\n", "\t"])


@SETTINGS
@given(cut=st.integers(0, len(SEED)), length=st.integers(0, 40),
       insert=st.lists(yaml_tokens, max_size=6))
def test_mutated_real_file(tmp_path, cut, length, insert):
    mutated = SEED[:cut] + "".join(insert) + SEED[cut + length:]
    load_bytes(tmp_path, mutated.encode("utf-8", "surrogatepass"))


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2, 70000) | st.text(max_size=12)
    | st.sampled_from(["00 0a", "zz", "tcp", "client", "conclusive", "stratum-v1.x", "x.y"]),
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.sampled_from(["id", "variant", "description", "references",
                                       "transport", "direction", "patterns", "requires",
                                       "strength", "confidence", "parser", "literal", "hex",
                                       "offset", "depth", "nocase", "all_of", "any_of",
                                       "examples", "samples", "path", "note", "port_hints"]),
                      inner, max_size=6),
    max_leaves=25)


@SETTINGS
@given(sigs=st.lists(json_values, max_size=3), family=st.sampled_from(["x", "Bad Family"]))
def test_structured_documents(tmp_path, sigs, family):
    doc = {"schema_version": 1, "family": family, "signatures": sigs}
    load_bytes(tmp_path, yaml.safe_dump(doc).encode())


def test_alias_bomb_is_never_expanded(tmp_path):
    """9 * 6**11 leaves if expanded; aliases are refused instead (each node visited once)."""
    items = ["&a0 [x, x, x, x, x, x, x, x, x]"]
    items += [f"&a{i} [*a{i-1}, *a{i-1}, *a{i-1}, *a{i-1}, *a{i-1}, *a{i-1}]"
              for i in range(1, 12)]
    text = "schema_version: 1\nfamily: x\nmust_not_fire: [" + ", ".join(items) + "]\n"
    assert not load_bytes(tmp_path, text.encode())


def test_deep_nesting(tmp_path):
    assert not load_bytes(tmp_path, b"[" * 5000 + b"]" * 5000)
