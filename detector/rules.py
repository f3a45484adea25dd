"""Load, validate and compile the YAML signatures in signatures/*.yaml.

Three entry points:

- ``load_signatures(directory) -> SignatureSet``: parse every ``*.yaml`` file,
  validate it field by field and raise ``SignatureError(file, message, line,
  key)`` at the first problem (line numbers come from the YAML node marks;
  ``key`` is a dotted path such as ``signatures[2].patterns[0].hex``).
- ``check_signatures(directory) -> list[str]``: everything
  ``minewatch signatures check`` reports: the load error, if any, else lint
  problems (whitespace-dependent JSON literals, generic tokens marked
  conclusive, missing example captures). Empty list = clean.
- ``compile_patterns(signature_set) -> MatcherTables``: the numpy tables that
  ``detector.engine.match`` runs (a DFA equivalent to a full-goto Aho–Corasick
  automaton, with per-pattern ASCII case folding).

The format is documented in docs/signatures.md.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml

from detector.automaton import (MAX_STATES, Automaton, build_automaton,  # noqa: F401
                                compile_automaton)
from detector.errors import SignatureError

SCHEMA_VERSION = 1

#: strength (PROTOCOLS.md §14) -> confidence of a hit resting on it alone
CONFIDENCE = {"conclusive": "high", "strong": "medium", "weak": "low"}
#: direction name -> mask of stream directions (bit 0 client->server, bit 1 server->client)
DIRECTIONS = {"client": 1, "server": 2, "any": 3}
TRANSPORTS = ("tcp",)

MAX_PATTERN_BYTES = 256        # longest literal accepted
MAX_STREAM_OFFSET = 1 << 20    # offset/depth bound, bytes (the engine scans far less)

FILE_KEYS = ("schema_version", "family", "description", "signatures", "must_not_fire")
FILE_REQUIRED = ("schema_version", "family")
SIGNATURE_KEYS = ("id", "variant", "description", "references", "transport", "direction",
                  "patterns", "requires", "strength", "confidence", "parser", "port_hints",
                  "examples", "must_not_fire", "samples")
SIGNATURE_REQUIRED = ("id", "variant", "description", "references", "transport",
                      "direction", "strength", "parser")
PATTERN_KEYS = ("literal", "hex", "offset", "depth", "nocase")
REQUIRES_KEYS = ("all_of", "any_of")
CAPTURE_KEYS = ("path", "note")
SAMPLE_KEYS = ("literal", "hex")

_ID_RE = re.compile(r"^[a-z0-9][a-z0-9_-]*(\.[a-z0-9][a-z0-9_-]*)+$")
_FAMILY_RE = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
_NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")
_HEX_RE = re.compile(r"^(?:[0-9a-fA-F]{2}\s*)+$")

# Tokens that are never evidence of mining on their own (STYLE.md §3, PROTOCOLS.md §13).
GENERIC_TOKENS = frozenset({
    "login", "pass", "submit", "job", "job_id", "worker", "id", "method", "params",
    "result", "error", "jsonrpc", "agent", "algo", "nonce", "target", "blob", "status",
    "keepalived", "keepalive", "height",
})

#: a conclusive signature made only of generic tokens needs at least this many distinct
#: ones (a shape such as blob + job_id + target), never one method name alone
MIN_GENERIC_SHAPE = 3

_TAG = "tag:yaml.org,2002:"
_TYPE_NAMES = {"str": "a string", "int": "an integer", "bool": "a boolean",
               "float": "a number", "null": "null", "seq": "a list", "map": "a mapping",
               "timestamp": "a timestamp", "binary": "binary data"}


# --------------------------------------------------------------------------- model

@dataclass(frozen=True)
class Pattern:
    """One byte string to find in a flow direction's stream.

    data    the bytes (1..MAX_PATTERN_BYTES); nocase patterns keep their spelling
    nocase  ASCII letters match either case
    offset  the match must start at stream byte >= offset (0-based, per direction)
    depth   if set, the match must end at or before stream byte offset + depth (exclusive)
    """

    data: bytes
    nocase: bool = False
    offset: int = 0
    depth: int | None = None
    line: int | None = None


@dataclass(frozen=True)
class Requires:
    """Other signatures that must also have fired on the same flow."""

    all_of: tuple = ()   # every one of these ids
    any_of: tuple = ()   # at least one of these ids (ignored when empty)


@dataclass(frozen=True)
class Capture:
    """A capture path (relative to the repository root) and an optional note."""

    path: str
    note: str = ""


@dataclass(frozen=True)
class Signature:
    """One validated signature (see docs/signatures.md for every field)."""

    id: str
    family: str
    variant: str
    description: str
    references: tuple
    transport: str
    direction: str
    patterns: tuple          # of Pattern; all must match (AND)
    requires: Requires
    strength: str
    confidence: str
    parser: str
    port_hints: tuple = ()
    examples: tuple = ()     # of Capture: each must make the signature fire
    must_not_fire: tuple = ()  # of Capture: the signature must not fire there
    samples: tuple = ()      # of bytes: streams in `direction` that match every pattern
    file: str = ""
    line: int | None = None

    @property
    def direction_mask(self) -> int:
        """Bit 0 = client->server stream, bit 1 = server->client stream."""
        return DIRECTIONS[self.direction]


@dataclass(frozen=True)
class SignatureFile:
    """File-level data: the family and the captures where nothing conclusive may fire."""

    path: str
    family: str
    description: str
    must_not_fire: tuple     # of Capture


@dataclass(frozen=True)
class SignatureSet:
    """Every signature of a directory, in file order then position in file."""

    signatures: tuple
    files: tuple
    directory: str = ""
    _index: dict = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self):
        self._index.update({s.id: i for i, s in enumerate(self.signatures)})

    def __len__(self):
        return len(self.signatures)

    def __iter__(self):
        return iter(self.signatures)

    def index(self, sig_id: str) -> int:
        """Position of signature `sig_id` (also its bit in the fired-signature mask)."""
        return self._index[sig_id]

    def __getitem__(self, sig_id: str) -> Signature:
        return self.signatures[self._index[sig_id]]


# --------------------------------------------------------------------------- YAML walking

def _kind(node) -> str:
    if isinstance(node, yaml.MappingNode):
        return "map"
    if isinstance(node, yaml.SequenceNode):
        return "seq"
    tag = node.tag
    return tag[len(_TAG):] if tag.startswith(_TAG) else tag


class _Doc:
    """Typed, line-aware access to one composed YAML document."""

    def __init__(self, file: str):
        self.file = file
        self.seen: set[int] = set()
        self._ctor = yaml.SafeLoader("")

    def fail(self, node, message, key=None):
        line = node.start_mark.line + 1 if node is not None else None
        raise SignatureError(self.file, message, line=line, key=key)

    def visit(self, node, key):
        """Refuse anchors/aliases: a node reached twice (also stops alias bombs)."""
        if id(node) in self.seen:
            self.fail(node, "YAML aliases (*name) are not supported in signature files", key)
        self.seen.add(id(node))

    def expect(self, node, kind, key):
        self.visit(node, key)
        got = _kind(node)
        if got != kind:
            self.fail(node, f"expected {_TYPE_NAMES.get(kind, kind)}, "
                            f"got {_TYPE_NAMES.get(got, got)}", key)
        return node

    def mapping(self, node, allowed, required, key):
        """Return {name: (key_node, value_node)}; unknown, duplicate and missing keys fail."""
        self.expect(node, "map", key)
        out = {}
        for knode, vnode in node.value:
            if _kind(knode) != "str":
                self.fail(knode, "mapping keys must be plain strings", key)
            name = knode.value
            where = f"{key}.{name}" if key else name
            if name not in allowed:
                close = difflib.get_close_matches(name, allowed, n=1, cutoff=0.6)
                hint = f"; did you mean '{close[0]}'?" if close else \
                    f"; valid keys: {', '.join(allowed)}"
                self.fail(knode, f"unknown key '{name}'{hint}", where)
            if name in out:
                self.fail(knode, f"duplicate key '{name}'", where)
            out[name] = (knode, vnode)
        for name in required:
            if name not in out:
                self.fail(node, f"missing required key '{name}'",
                          f"{key}.{name}" if key else name)
        return out

    def scalar(self, node, kind, key):
        self.expect(node, kind, key)
        try:
            return self._ctor.construct_object(node, deep=True)
        except (ValueError, yaml.YAMLError) as exc:
            self.fail(node, f"invalid {_TYPE_NAMES[kind]}: {exc}", key)

    def string(self, node, key, nonempty=True):
        value = self.scalar(node, "str", key)
        if nonempty and not value.strip():
            self.fail(node, "must not be empty", key)
        return value

    def integer(self, node, key, lo, hi):
        value = self.scalar(node, "int", key)
        if not lo <= value <= hi:
            self.fail(node, f"must be between {lo} and {hi}, got {value}", key)
        return value

    def boolean(self, node, key):
        return self.scalar(node, "bool", key)

    def choice(self, node, key, choices):
        value = self.string(node, key)
        if value not in choices:
            close = difflib.get_close_matches(value, choices, n=1, cutoff=0.6)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            self.fail(node, f"'{value}' is not one of {', '.join(choices)}{hint}", key)
        return value

    def sequence(self, node, key):
        return self.expect(node, "seq", key).value


# --------------------------------------------------------------------------- parsing

def _parse_bytes(doc, fields, key):
    """literal or hex -> (bytes, node); exactly one of the two must be given."""
    given = [k for k in ("literal", "hex") if k in fields]
    if len(given) != 1:
        node = next(iter(fields.values()))[0] if fields else None
        doc.fail(node, "give exactly one of 'literal' or 'hex'", key)
    name = given[0]
    node = fields[name][1]
    text = doc.string(node, f"{key}.{name}", nonempty=False)
    if name == "literal":
        data = text.encode("utf-8", "surrogatepass")
    else:
        compact = text.strip()
        if not _HEX_RE.match(compact):
            doc.fail(node, f"bad hex '{text}': use byte pairs such as '00 0a ff'", f"{key}.hex")
        data = bytes.fromhex("".join(compact.split()))
    if not 1 <= len(data) <= MAX_PATTERN_BYTES:
        doc.fail(node, f"must be 1..{MAX_PATTERN_BYTES} bytes, got {len(data)}", f"{key}.{name}")
    return data, node


def _parse_pattern(doc, node, key):
    if _kind(node) == "str":   # shorthand: a bare string is a case-sensitive literal
        text = doc.string(node, key)
        data = text.encode("utf-8", "surrogatepass")
        if len(data) > MAX_PATTERN_BYTES:
            doc.fail(node, f"must be 1..{MAX_PATTERN_BYTES} bytes, got {len(data)}", key)
        return Pattern(data=data, line=node.start_mark.line + 1)
    fields = doc.mapping(node, PATTERN_KEYS, (), key)
    data, _ = _parse_bytes(doc, fields, key)
    nocase = doc.boolean(fields["nocase"][1], f"{key}.nocase") if "nocase" in fields else False
    offset = doc.integer(fields["offset"][1], f"{key}.offset", 0, MAX_STREAM_OFFSET) \
        if "offset" in fields else 0
    depth = None
    if "depth" in fields:
        depth = doc.integer(fields["depth"][1], f"{key}.depth", 1, MAX_STREAM_OFFSET)
        if depth < len(data):
            doc.fail(fields["depth"][1], f"depth {depth} is shorter than the pattern "
                                         f"({len(data)} bytes): it can never match",
                     f"{key}.depth")
    return Pattern(data=data, nocase=nocase, offset=offset, depth=depth,
                   line=node.start_mark.line + 1)


def _parse_ids(doc, node, key):
    out = []
    for i, item in enumerate(doc.sequence(node, key)):
        value = doc.string(item, f"{key}[{i}]")
        if not _ID_RE.match(value):
            doc.fail(item, f"'{value}' is not a signature id", f"{key}[{i}]")
        out.append((value, item))
    if not out:
        doc.fail(node, "must list at least one signature id", key)
    return out


def _parse_requires(doc, node, key):
    """A list of ids (all of them) or a mapping with all_of and/or any_of."""
    if _kind(node) == "seq":
        return _parse_ids(doc, node, key), []
    fields = doc.mapping(node, REQUIRES_KEYS, (), key)
    if not fields:
        doc.fail(node, "give all_of and/or any_of", key)
    all_of = _parse_ids(doc, fields["all_of"][1], f"{key}.all_of") if "all_of" in fields else []
    any_of = _parse_ids(doc, fields["any_of"][1], f"{key}.any_of") if "any_of" in fields else []
    return all_of, any_of


def _parse_captures(doc, node, key):
    out = []
    for i, item in enumerate(doc.sequence(node, key)):
        where = f"{key}[{i}]"
        if _kind(item) == "str":
            path, note = doc.string(item, where), ""
        else:
            fields = doc.mapping(item, CAPTURE_KEYS, ("path",), where)
            path = doc.string(fields["path"][1], f"{where}.path")
            note = doc.string(fields["note"][1], f"{where}.note") if "note" in fields else ""
        if Path(path).is_absolute():
            doc.fail(item, "capture paths are relative to the repository root", where)
        out.append(Capture(path=path, note=note))
    return tuple(out)


def _parse_samples(doc, node, key):
    out = []
    for i, item in enumerate(doc.sequence(node, key)):
        where = f"{key}[{i}]"
        if _kind(item) == "str":
            out.append(doc.string(item, where).encode("utf-8", "surrogatepass"))
        else:
            fields = doc.mapping(item, SAMPLE_KEYS, (), where)
            out.append(_parse_bytes(doc, fields, where)[0])
    return tuple(out)


def _parse_signature(doc, node, key, family):
    f = doc.mapping(node, SIGNATURE_KEYS, SIGNATURE_REQUIRED, key)

    def val(name):
        return f[name][1]

    sig_id = doc.string(val("id"), f"{key}.id")
    if not _ID_RE.match(sig_id):
        doc.fail(val("id"), f"'{sig_id}' is not a valid id (lowercase, dotted: "
                            f"'{family}.name')", f"{key}.id")
    if not sig_id.startswith(family + "."):
        doc.fail(val("id"), f"id must start with the file's family '{family}.'", f"{key}.id")
    variant = doc.string(val("variant"), f"{key}.variant")
    if not _NAME_RE.match(variant):
        doc.fail(val("variant"), "variant must be lowercase letters, digits and '_'",
                 f"{key}.variant")
    parser = doc.string(val("parser"), f"{key}.parser")
    if not _NAME_RE.match(parser):
        doc.fail(val("parser"), "parser must name a module of detector/protocols "
                                "(lowercase letters, digits, '_')", f"{key}.parser")
    refs = tuple(doc.string(r, f"{key}.references[{i}]")
                 for i, r in enumerate(doc.sequence(val("references"), f"{key}.references")))
    if not refs:
        doc.fail(val("references"), "cite at least one spec or source", f"{key}.references")
    strength = doc.choice(val("strength"), f"{key}.strength", tuple(CONFIDENCE))
    confidence = CONFIDENCE[strength]
    if "confidence" in f:
        given = doc.choice(val("confidence"), f"{key}.confidence", tuple(CONFIDENCE.values()))
        if given != confidence:
            doc.fail(val("confidence"), f"strength '{strength}' gives confidence "
                                        f"'{confidence}', not '{given}'", f"{key}.confidence")
    patterns = ()
    if "patterns" in f:
        patterns = tuple(_parse_pattern(doc, p, f"{key}.patterns[{i}]")
                         for i, p in enumerate(doc.sequence(val("patterns"), f"{key}.patterns")))
    all_of, any_of = ([], [])
    if "requires" in f:
        all_of, any_of = _parse_requires(doc, val("requires"), f"{key}.requires")
    if not patterns and not all_of and not any_of:
        doc.fail(node, "a signature needs patterns or requires (a port alone is never "
                       "evidence)", f"{key}.patterns")
    ports = ()
    if "port_hints" in f:
        ports = tuple(doc.integer(p, f"{key}.port_hints[{i}]", 1, 65535)
                      for i, p in enumerate(doc.sequence(val("port_hints"), f"{key}.port_hints")))
    samples = _parse_samples(doc, val("samples"), f"{key}.samples") if "samples" in f else ()
    if samples and not patterns:
        doc.fail(val("samples"), "samples need patterns to test", f"{key}.samples")
    sig = Signature(
        id=sig_id, family=family, variant=variant,
        description=doc.string(val("description"), f"{key}.description"),
        references=refs,
        transport=doc.choice(val("transport"), f"{key}.transport", TRANSPORTS),
        direction=doc.choice(val("direction"), f"{key}.direction", tuple(DIRECTIONS)),
        patterns=patterns,
        requires=Requires(tuple(i for i, _ in all_of), tuple(i for i, _ in any_of)),
        strength=strength, confidence=confidence, parser=parser, port_hints=ports,
        examples=_parse_captures(doc, val("examples"), f"{key}.examples")
        if "examples" in f else (),
        must_not_fire=_parse_captures(doc, val("must_not_fire"), f"{key}.must_not_fire")
        if "must_not_fire" in f else (),
        samples=samples, file=doc.file, line=node.start_mark.line + 1,
    )
    refs_nodes = all_of + any_of
    return sig, refs_nodes


def _read_text(path: Path) -> str:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise SignatureError(path, f"cannot read: {exc.strerror or exc}") from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        raise SignatureError(path, "not valid UTF-8", line=line) from None


def _compose(path: Path, text: str):
    try:
        return yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        raise SignatureError(path, f"invalid YAML: {exc.problem or exc.context}",
                             line=line) from None
    except yaml.YAMLError as exc:
        raise SignatureError(path, f"invalid YAML: {exc}") from None
    except RecursionError:
        raise SignatureError(path, "invalid YAML: nesting too deep") from None


def load_signature_file(path) -> tuple[SignatureFile, list]:
    """Parse one file -> (SignatureFile, [(Signature, [(required id, node)...])...]).

    Raises SignatureError at the first problem. Cross-file checks (duplicate
    ids, unknown or cyclic `requires`) are done by load_signatures.
    """
    path = Path(path)
    root = _compose(path, _read_text(path))
    doc = _Doc(str(path))
    if root is None:
        raise SignatureError(path, "empty file: expected schema_version, family, signatures")
    top = doc.mapping(root, FILE_KEYS, FILE_REQUIRED, "")
    version = doc.integer(top["schema_version"][1], "schema_version", 1, 1 << 30)
    if version != SCHEMA_VERSION:
        doc.fail(top["schema_version"][1], f"unsupported schema_version {version} "
                                           f"(this Minewatch reads {SCHEMA_VERSION})",
                 "schema_version")
    family = doc.string(top["family"][1], "family")
    if not _FAMILY_RE.match(family):
        doc.fail(top["family"][1], "family must be lowercase letters, digits, '-' and '_'",
                 "family")
    sigs = []
    if "signatures" in top:
        for i, node in enumerate(doc.sequence(top["signatures"][1], "signatures")):
            sigs.append(_parse_signature(doc, node, f"signatures[{i}]", family))
    sfile = SignatureFile(
        path=str(path), family=family,
        description=doc.string(top["description"][1], "description")
        if "description" in top else "",
        must_not_fire=_parse_captures(doc, top["must_not_fire"][1], "must_not_fire")
        if "must_not_fire" in top else (),
    )
    return sfile, sigs


# Data files that live beside the signatures but are not signatures; each has
# its own loader (ledger/power.py, ledger/config.py, pools and timing).
DATA_FILES = frozenset({"power.yaml", "ledger.yaml", "pools.yaml", "timing.yaml"})


def load_signatures(directory) -> SignatureSet:
    """Load and validate every ``*.yaml`` file of `directory` (sorted by name) but DATA_FILES.

    Raises SignatureError(file, message, line, key) at the first problem: YAML
    syntax, unknown key (with the nearest valid one), missing or mistyped
    field, bad hex, duplicate id (across files), unknown, self or cyclic
    `requires`.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise SignatureError(directory, "signature directory not found")
    paths = sorted(p for p in directory.glob("*.yaml") if p.name not in DATA_FILES)
    if not paths:
        raise SignatureError(directory, "no *.yaml signature files")
    files, parsed = [], []
    for path in paths:
        sfile, sigs = load_signature_file(path)
        files.append(sfile)
        parsed.extend(sigs)
    seen = {}
    for sig, _ in parsed:
        if sig.id in seen:
            first = seen[sig.id]
            raise SignatureError(sig.file, f"duplicate id '{sig.id}' (first defined at "
                                           f"{first.file}:{first.line})",
                                 line=sig.line, key="id")
        seen[sig.id] = sig
    for sig, refs in parsed:
        for ref, node in refs:
            if ref == sig.id:
                raise SignatureError(sig.file, f"'{ref}' requires itself",
                                     line=node.start_mark.line + 1, key="requires")
            if ref not in seen:
                close = difflib.get_close_matches(ref, list(seen), n=1, cutoff=0.6)
                hint = f"; did you mean '{close[0]}'?" if close else ""
                raise SignatureError(sig.file, f"requires unknown signature '{ref}'{hint}",
                                     line=node.start_mark.line + 1, key="requires")
    sigset = SignatureSet(signatures=tuple(s for s, _ in parsed), files=tuple(files),
                          directory=str(directory))
    _topological_order(sigset)   # raises on cycles
    return sigset


def _topological_order(sigset: SignatureSet) -> list[int]:
    """Signature indices ordered so that every `requires` target comes first."""
    order, state = [], {}

    for start in range(len(sigset)):
        stack = [(start, 0)]
        while stack:
            idx, nxt = stack.pop()
            if nxt == 0:
                if state.get(idx) == 2:
                    continue
                state[idx] = 1
            sig = sigset.signatures[idx]
            deps = [sigset.index(r) for r in sig.requires.all_of + sig.requires.any_of]
            if nxt < len(deps):
                stack.append((idx, nxt + 1))
                dep = deps[nxt]
                if state.get(dep) == 1:
                    raise SignatureError(sig.file, f"requires cycle through "
                                                   f"'{sigset.signatures[dep].id}'",
                                         line=sig.line, key="requires")
                if state.get(dep) != 2:
                    stack.append((dep, 0))
                continue
            state[idx] = 2
            order.append(idx)
    return order


# --------------------------------------------------------------------------- lint

def _json_spacing_dependent(data: bytes) -> bool:
    """True when a literal spells JSON punctuation together with whitespace (nDPI trap)."""
    return bool(re.search(rb'"\s*:\s+|"\s+:|,\s+"|\[\s+"|\{\s+"', data))


# Bytes no text protocol sends raw: the C0 controls except tab, LF and CR. JSON must
# escape them inside strings and allows only those three as whitespace (RFC 8259 §2, §7);
# HTTP/1.x allows none in its start line and header fields (RFC 9112 §2.2, RFC 9110 §5.5).
NOT_TEXT_BYTES = frozenset(range(0x20)) - {0x09, 0x0A, 0x0D}


def _holds_binary(sig) -> bool:
    """A pattern of `sig` holds a byte of NOT_TEXT_BYTES (a binary protocol's)."""
    return any(NOT_TEXT_BYTES.intersection(p.data) for p in sig.patterns)


def _anchored(sig) -> list:
    """The patterns of `sig` that must start at stream byte 0 (offset 0, depth their
    length): they say how a stream it matches opens."""
    return [p for p in sig.patterns if p.offset == 0 and p.depth == len(p.data)]


def check_signatures(directory, examples=True) -> list[str]:
    """Problems for ``minewatch signatures check``, one line each (empty = clean).

    The load error (file:line [field]: message) if loading fails; otherwise
    lint problems: literals that depend on JSON whitespace, conclusive
    signatures resting on fewer than MIN_GENERIC_SHAPE generic JSON tokens
    (e.g. "login" alone), binary patterns without an anchored opening (every
    binary stream would then stay in inspection: binary_openings), and, with
    `examples`, examples whose file is missing (paths resolved against the
    signature directory's parent).
    """
    try:
        sigset = load_signatures(directory)
    except SignatureError as exc:
        return [str(exc)]
    problems = []
    root = Path(directory).resolve().parent
    for sig in sigset:
        where = f"{sig.file}:{sig.line} [{sig.id}]"
        for i, pat in enumerate(sig.patterns):
            if _json_spacing_dependent(pat.data):
                problems.append(f"{where}: patterns[{i}] depends on JSON whitespace; "
                                "anchor on the value instead (e.g. '\"mining.subscribe\"')")
        if sig.strength == "conclusive" and sig.patterns and not sig.requires.all_of \
                and not sig.requires.any_of:
            tokens = {p.data.strip(b'"{}:, ').decode("utf-8", "replace").lower()
                      for p in sig.patterns}
            if tokens <= GENERIC_TOKENS and len(tokens) < MIN_GENERIC_SHAPE:
                problems.append(f"{where}: generic tokens {sorted(tokens)} can never be "
                                "conclusive; mark it weak and let the parser decide")
        if _holds_binary(sig) and not _anchored(sig):
            problems.append(f"{where}: patterns hold bytes no text protocol sends, but none "
                            "is anchored at stream byte 0 (offset: 0, depth: its length), so "
                            "every binary stream stays in inspection; anchor its opening")
        caps = list(sig.examples) + list(sig.must_not_fire) if examples else []
        for cap in caps:
            if not (root / cap.path).exists():
                problems.append(f"{where}: capture not found: {cap.path}")
    for sfile in sigset.files if examples else []:
        for cap in sfile.must_not_fire:
            if not (root / cap.path).exists():
                problems.append(f"{sfile.path}: must_not_fire capture not found: {cap.path}")
    return problems


# --------------------------------------------------------------------------- compile

@dataclass(frozen=True)
class MatcherTables:
    """Compiled signatures: the arrays detector.engine.match runs over.

    dfa           the Automaton over the pattern keys (n_states states; goto, byte
                  classes, phases: detector.automaton describes the layout)
    Its outputs as pattern ids:
      out_start   int32[n_states + 1]   CSR row pointers into out_pattern
      out_pattern int32[n_out]          pattern ids ending at each state
    Patterns (n_patterns, id = bit in the per-flow hits bitmask):
      pat_info    int64[n_patterns, 3]  (direction mask, min_end, max_end): a match ending at
                                        stream position e (exclusive) counts when the
                                        direction bit is set and min_end <= e <= max_end
      pat_sig     int32[n_patterns]     signature index of each pattern
    Signatures (n_signatures, index = bit in the fired bitmask):
      sig_pat_start/sig_pat   CSR: patterns that must all be set
      sig_all_start/sig_all   CSR: signatures that must all have fired
      sig_any_start/sig_any   CSR: signatures of which one must have fired (empty = none)
      sig_order   int32[n_signatures]   evaluation order (requires first)
    n_words / n_sig_words: uint64 words of the pattern / signature bitmasks.
    binary_openings int16[n, 2]     the first two bytes (-1: any) a stream that is not text
                                    (see binary_openings) must open with for a signature to
                                    match it; a row (-1, -1) lets every stream through
    signature_ids: signature id per index (for reporting; Python side only).
    `automaton` is the argument tuple match_payload takes before the data.
    """

    dfa: Automaton
    out_start: np.ndarray
    out_pattern: np.ndarray
    pat_info: np.ndarray
    pat_sig: np.ndarray
    sig_pat_start: np.ndarray
    sig_pat: np.ndarray
    sig_all_start: np.ndarray
    sig_all: np.ndarray
    sig_any_start: np.ndarray
    sig_any: np.ndarray
    sig_order: np.ndarray
    n_words: int
    n_sig_words: int
    binary_openings: np.ndarray
    signature_ids: tuple

    @property
    def n_states(self) -> int:
        return self.dfa.goto.shape[0]

    @property
    def automaton(self) -> tuple:
        """match_payload's table arguments, in order."""
        d = self.dfa
        return (d.goto, d.byte_class, d.class_shift, d.start_pairs, d.phase_start, d.tail_map,
                d.tail_from, self.out_start, self.out_pattern, self.pat_info, d.first_out_state)

    @property
    def n_patterns(self) -> int:
        return self.pat_sig.shape[0]

    def new_hits(self, n_flows: int = 1) -> np.ndarray:
        """Zeroed pattern bitmasks, uint64[n_flows, n_words] (one row per flow)."""
        return np.zeros((n_flows, self.n_words), np.uint64)

    def new_fired(self, n_flows: int = 1) -> np.ndarray:
        """Zeroed signature bitmasks, uint64[n_flows, n_sig_words]."""
        return np.zeros((n_flows, self.n_sig_words), np.uint64)


def _csr(rows):
    start = np.zeros(len(rows) + 1, np.int32)
    for i, row in enumerate(rows):
        start[i + 1] = start[i] + len(row)
    flat = np.array([x for row in rows for x in row], np.int32)
    return start, flat


def binary_openings(sigset: SignatureSet) -> np.ndarray:
    """Where a stream that is not text can still be matched: int16[n, 2], rows of the
    first two bytes (-1: any) such a stream must open with.

    The inspection kernel stops matching a flow once the first bytes of one of its
    directions hold a byte of NOT_TEXT_BYTES (a binary protocol, or encrypted bytes
    picked up mid-stream), unless they open as a row here says. Text patterns cannot
    tell a mining protocol inside binary framing, so only the signatures with a
    pattern of such bytes need a row: the opening of their pattern anchored at stream
    byte 0 (offset 0, depth its length), or (-1, -1), every stream, when they have none.
    """
    rows = set()
    for sig in sigset:
        if not _holds_binary(sig):
            continue
        anchored = _anchored(sig)
        if not anchored:
            rows.add((-1, -1))
        for p in anchored:
            first = [-1 if p.nocase and 0x61 <= (b | 0x20) <= 0x7A else b for b in p.data[:2]]
            rows.add((first[0], first[1] if len(first) > 1 else -1))
    return np.array(sorted(rows), np.int16).reshape(-1, 2)


def compile_patterns(sigset: SignatureSet) -> MatcherTables:
    """Compile every pattern of `sigset` into MatcherTables (see its docstring).

    Identical (bytes, nocase) patterns share automaton outputs; each keeps its
    own pattern id, direction and window. Raises SignatureError if the
    automaton would exceed MAX_STATES.
    """
    patterns = []     # (signature index, Pattern, direction mask)
    for s_idx, sig in enumerate(sigset):
        for pat in sig.patterns:
            patterns.append((s_idx, pat, sig.direction_mask))
    key_ids, keys, key_pats = {}, [], []
    for p_id, (_, pat, _) in enumerate(patterns):
        key = (pat.data.lower() if pat.nocase else pat.data, pat.nocase)
        if key not in key_ids:
            key_ids[key] = len(keys)
            keys.append(key)
            key_pats.append([])
        key_pats[key_ids[key]].append(p_id)
    big = np.iinfo(np.int64).max
    key_ends = [max(big if patterns[p][1].depth is None
                    else patterns[p][1].offset + patterns[p][1].depth for p in pats)
                for pats in key_pats]
    try:
        auto = compile_automaton(keys, key_ends, big)
    except ValueError as exc:
        raise SignatureError(sigset.directory, str(exc)) from None
    out_rows = [sorted(p for k in keys_out for p in key_pats[k]) for keys_out in auto.outputs]
    out_start, out_pattern = _csr(out_rows)

    pat_info = np.zeros((len(patterns), 3), np.int64)
    pat_sig = np.zeros(len(patterns), np.int32)
    for p_id, (s_idx, pat, mask) in enumerate(patterns):
        pat_info[p_id, 0] = mask
        pat_info[p_id, 1] = pat.offset + len(pat.data)
        pat_info[p_id, 2] = big if pat.depth is None else pat.offset + pat.depth
        pat_sig[p_id] = s_idx
    sig_pats = [[] for _ in sigset.signatures]
    for p_id, (s_idx, _, _) in enumerate(patterns):
        sig_pats[s_idx].append(p_id)
    sig_pat_start, sig_pat = _csr(sig_pats)
    sig_all_start, sig_all = _csr([[sigset.index(r) for r in s.requires.all_of]
                                   for s in sigset])
    sig_any_start, sig_any = _csr([[sigset.index(r) for r in s.requires.any_of]
                                   for s in sigset])
    return MatcherTables(
        dfa=auto, out_start=out_start, out_pattern=out_pattern, pat_info=pat_info,
        pat_sig=pat_sig,
        sig_pat_start=sig_pat_start, sig_pat=sig_pat,
        sig_all_start=sig_all_start, sig_all=sig_all,
        sig_any_start=sig_any_start, sig_any=sig_any,
        sig_order=np.array(_topological_order(sigset), np.int32),
        n_words=max(1, (len(patterns) + 63) // 64),
        n_sig_words=max(1, (len(sigset) + 63) // 64),
        binary_openings=binary_openings(sigset),
        signature_ids=tuple(s.id for s in sigset),
    )
