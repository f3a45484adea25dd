"""Read a YAML subscriber map into MapEntries (format: docs/subscribers.md).

Top-level keys: `subscribers` (id -> free fields), `static`, `leases`, `cgnat`.
The document is composed, not constructed: every value is read from its node
as written, so errors carry the node's line and YAML's own typing (dates,
octal-looking numbers) never changes a value behind the user's back.
"""

from __future__ import annotations

import difflib

import yaml

from . import values
from .entries import MapEntries

TOP_KEYS = ("subscribers", "static", "leases", "cgnat")
LEASE_KEYS = ("ip", "start", "end", "subscriber")
CGNAT_KEYS = ("ip", "ports", "start", "end", "subscriber")
STATIC_ADDRESS_KEYS = ("cidr", "ip")

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_NULL_TAG = "tag:yaml.org,2002:null"


class _Reader:
    def __init__(self, entries: MapEntries, file: int):
        self.entries, self.file = entries, file
        self.seen: set[int] = set()

    def where(self, node):
        return self.file, node.start_mark.line + 1

    def fail(self, node, message):
        self.entries.fail(self.where(node), message)

    def visit(self, node):
        """Refuse a node reached twice: YAML aliases (also stops alias bombs)."""
        if id(node) in self.seen:
            self.fail(node, "YAML aliases (*name) are not supported in subscriber maps")
        self.seen.add(id(node))

    def mapping(self, node, what, allowed=None):
        """{key: (key_node, value_node)}; duplicate keys fail, unknown ones if `allowed`."""
        self.visit(node)
        if not isinstance(node, yaml.MappingNode):
            self.fail(node, f"{what} must be a mapping")
        out = {}
        for knode, vnode in node.value:
            name = self.text(knode, "key")
            if allowed is not None and name not in allowed:
                close = difflib.get_close_matches(name, allowed, n=1, cutoff=0.6)
                hint = f"; did you mean '{close[0]}'?" if close else \
                    f"; valid keys: {', '.join(allowed)}"
                self.fail(knode, f"unknown key '{name}' in {what}{hint}")
            if name in out:
                self.fail(knode, f"duplicate key '{name}' in {what}")
            out[name] = (knode, vnode)
        return out

    def sequence(self, node, what):
        self.visit(node)
        if is_null(node):
            return []
        if not isinstance(node, yaml.SequenceNode):
            self.fail(node, f"'{what}' must be a list")
        return node.value

    def text(self, node, what):
        if not isinstance(node, yaml.ScalarNode):
            self.fail(node, f"{what} must be a plain value, not a list or mapping")
        return node.value

    def value(self, fields, name, parse, what, node):
        """Parse field `name` of an entry with `parse`; missing or bad -> FILE:LINE error."""
        if name not in fields or is_null(fields[name][1]):
            self.fail(node, f"{what} has no '{name}'")
        vnode = fields[name][1]
        try:
            return parse(self.text(vnode, f"'{name}'"))
        except ValueError as exc:
            self.fail(vnode, str(exc))

    def end(self, fields):
        if "end" not in fields or is_null(fields["end"][1]):
            return values.OPEN_END_NS, None
        vnode = fields["end"][1]
        try:
            return values.time_ns(self.text(vnode, "'end'")), vnode
        except ValueError as exc:
            self.fail(vnode, str(exc))

    def free_fields(self, pairs, what):
        out = {}
        for name, (knode, vnode) in pairs:
            if is_null(vnode):
                continue
            out[name] = self.text(vnode, f"{what} field '{name}'").strip()
        return out


def is_null(node) -> bool:
    return isinstance(node, yaml.ScalarNode) and node.tag == _NULL_TAG


def read_yaml(path, text: str, entries: MapEntries):
    """Parse `text` (the contents of `path`) into `entries`."""
    file = entries.add_file(path)
    try:
        root = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        entries.fail((file, mark.line + 1 if mark else None),
                     f"YAML syntax error: {exc.problem or exc.context}")
    except yaml.YAMLError as exc:
        entries.fail((file, None), f"YAML error: {exc}")
    if root is None or is_null(root):
        return
    r = _Reader(entries, file)
    top = r.mapping(root, "a subscriber map", TOP_KEYS)
    # The registry first, so references anywhere in the file can be checked.
    if "subscribers" in top:
        _read_registry(r, top["subscribers"][1])
    if "static" in top:
        for node in r.sequence(top["static"][1], "static"):
            _read_static(r, node)
    if "leases" in top:
        for node in r.sequence(top["leases"][1], "leases"):
            _read_block(r, node, "lease", LEASE_KEYS, entries.leases)
    if "cgnat" in top:
        for node in r.sequence(top["cgnat"][1], "cgnat"):
            _read_block(r, node, "CGNAT block", CGNAT_KEYS, entries.cgnat)


def _read_registry(r: _Reader, node):
    r.visit(node)
    r.entries.has_registry = True
    if is_null(node):
        return
    if not isinstance(node, yaml.MappingNode):
        r.fail(node, "'subscribers' must map each subscriber id to its fields")
    seen = {}
    for knode, vnode in node.value:
        try:
            sub_id = values.subscriber_id(r.text(knode, "a subscriber id"))
        except ValueError as exc:
            r.fail(knode, str(exc))
        if sub_id in seen:
            r.fail(knode, f"subscriber '{sub_id}' declared twice (first at line {seen[sub_id]})")
        seen[sub_id] = knode.start_mark.line + 1
        if is_null(vnode):
            fields = {}
        else:
            fields = r.free_fields(r.mapping(vnode, f"subscriber '{sub_id}'").items(),
                                   f"subscriber '{sub_id}'")
        r.entries.declare(sub_id, fields, r.where(knode))


def _read_static(r: _Reader, node):
    fields = r.mapping(node, "a static entry")
    given = [k for k in STATIC_ADDRESS_KEYS if k in fields]
    if len(given) != 1:
        r.fail(node, "a static entry needs exactly one of 'cidr' or 'ip'")
    if given[0] == "ip" and "/" in r.text(fields["ip"][1], "'ip'"):
        r.fail(fields["ip"][1], "'ip' takes one address; use 'cidr' for a prefix")
    network, bits = r.value(fields, given[0], values.prefix, "a static entry", node)
    sub_id = r.value(fields, "subscriber", values.subscriber_id, "a static entry", node)
    extra = [(k, v) for k, v in fields.items() if k not in ("cidr", "ip", "subscriber")]
    code = r.entries.code(sub_id)
    where = r.where(node)
    r.entries.add_fields(code, r.free_fields(extra, "static entry"), where)
    r.entries.static.add(network, bits, code, where)


def _read_block(r: _Reader, node, what, keys, table):
    fields = r.mapping(node, f"a {what}", keys)
    addr = r.value(fields, "ip", values.address, f"a {what}", node)
    if "ports" in keys:
        lo, hi = r.value(fields, "ports", values.port_range, f"a {what}", node)
    else:
        lo, hi = 0, values.PORT_MAX
    start = r.value(fields, "start", values.time_ns, f"a {what}", node)
    end, end_node = r.end(fields)
    if end <= start:
        r.fail(end_node, f"end {fields['end'][1].value} is not after start "
                         f"{fields['start'][1].value}")
    sub_id = r.value(fields, "subscriber", values.subscriber_id, f"a {what}", node)
    table.add(addr, lo, hi, start, end, r.entries.code(sub_id), r.where(node))
