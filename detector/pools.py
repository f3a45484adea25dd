"""Pool intelligence as data: signatures/pools.yaml (domain suffixes, addresses, JA4).

`PoolList.load(path)` validates the file (errors name file and entry);
`name_match(name)` returns the entry whose suffix covers a host name,
`address_match(ip)` the entry of a known address. `import_list(...)` merges a
plain domain list or a hosts file into a pools file: deterministic output
(sorted, deduplicated), no network access.
"""

from __future__ import annotations

import datetime
import ipaddress
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from .bundled import signatures_dir
from .errors import MinewatchError

DEFAULT_POOLS = signatures_dir() / "pools.yaml"
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
SINKHOLES = {"0.0.0.0", "127.0.0.1", "::", "::1", "255.255.255.255"}


class PoolsError(MinewatchError):
    """A pools file or an imported list is unusable."""


@dataclass
class PoolList:
    domains: dict = field(default_factory=dict)     # suffix -> entry dict
    addresses: dict = field(default_factory=dict)   # address text -> entry dict
    ja4: dict = field(default_factory=dict)         # fingerprint -> entry dict

    @classmethod
    def load(cls, path=DEFAULT_POOLS):
        doc = read_pools_file(path)
        out = cls()
        for e in doc["domains"]:
            out.domains[e["suffix"]] = e
        for e in doc["addresses"]:
            out.addresses[e["address"]] = e
        for e in doc.get("ja4") or []:
            out.ja4[e["ja4"]] = e
        return out

    def name_match(self, name):
        """The entry whose suffix is `name` or a parent domain of it, else None."""
        return suffix_entry(self.domains, name)

    def address_match(self, address):
        return self.addresses.get(address)


def suffix_entry(table, name):
    """table[s] for the longest s that is `name` or a parent domain of it, else None."""
    if not name:
        return None
    parts = name.lower().rstrip(".").split(".")
    for k in range(len(parts)):
        entry = table.get(".".join(parts[k:]))
        if entry is not None:
            return entry
    return None


def valid_domain(name):
    name = name.lower().rstrip(".")
    labels = name.split(".")
    return (len(name) <= 253 and len(labels) >= 2 and all(_LABEL.match(x) for x in labels)
            and not labels[-1].isdigit())


def _date_text(value):
    if isinstance(value, datetime.date):
        return value.isoformat()
    return str(value)


def read_pools_file(path):
    """The validated document of a pools file; raises PoolsError naming the problem."""
    path = Path(path)
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise PoolsError(f"{path}: cannot read: {e.strerror or e}") from None
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        raise PoolsError(f"{path}: not valid YAML: {e}") from None
    if not isinstance(doc, dict) or doc.get("kind") != "pools":
        raise PoolsError(f"{path}: not a pools file (needs 'kind: pools')")
    for key in ("domains", "addresses"):
        if not isinstance(doc.get(key) or [], list):
            raise PoolsError(f"{path}: '{key}' must be a list")
        doc[key] = doc.get(key) or []
    for i, e in enumerate(doc["domains"]):
        where = f"{path}: domains[{i}]"
        if not isinstance(e, dict) or not valid_domain(str(e.get("suffix", ""))):
            raise PoolsError(f"{where}: needs a domain name 'suffix'")
        e["suffix"] = str(e["suffix"]).lower().rstrip(".")
        _check_provenance(e, where)
    for i, e in enumerate(doc["addresses"]):
        where = f"{path}: addresses[{i}]"
        try:
            e["address"] = str(ipaddress.ip_address(str(e.get("address"))))
        except (ValueError, AttributeError):
            raise PoolsError(f"{where}: needs an IP 'address'") from None
        _check_provenance(e, where)
    for i, e in enumerate(doc.get("ja4") or []):
        if not isinstance(e, dict) or not e.get("ja4"):
            raise PoolsError(f"{path}: ja4[{i}]: needs 'ja4'")
        _check_provenance(e, f"{path}: ja4[{i}]")
    return doc


def _check_provenance(entry, where):
    for key in ("source", "date"):
        if not entry.get(key):
            raise PoolsError(f"{where}: needs '{key}' (where the entry comes from, and when)")
    entry["date"] = _date_text(entry["date"])


def parse_list(text):
    """Domain names of a plain list (one per line) or a hosts file ('0.0.0.0 name ...');
    comments (#, !) and blank lines ignored; invalid names skipped, counted."""
    names, skipped = set(), 0
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line or line.startswith("!"):
            continue
        fields = line.split()
        try:
            ipaddress.ip_address(fields[0])
            fields = fields[1:]                 # hosts file: address, then names
        except ValueError:
            pass
        for name in fields:
            name = name.lower().rstrip(".")
            if name.startswith("*."):
                name = name[2:]
            if name in ("localhost", "localhost.localdomain", "broadcasthost") or \
                    name in SINKHOLES:
                continue
            if valid_domain(name):
                names.add(name)
            else:
                skipped += 1
    return names, skipped


def import_list(pools_path, list_path, source, date=None):
    """Merge a list into a pools file; returns (new document text, added, skipped).

    A name already covered by an existing suffix is not added; the output is
    sorted by suffix so the same inputs always give the same file."""
    doc = read_pools_file(pools_path)
    try:
        text = Path(list_path).read_text(encoding="utf-8", errors="replace")
    except OSError as e:
        raise PoolsError(f"{list_path}: cannot read: {e.strerror or e}") from None
    names, skipped = parse_list(text)
    existing = PoolList()
    for e in doc["domains"]:
        existing.domains[e["suffix"]] = e
    date = date or datetime.date.today().isoformat()
    added = 0
    for name in sorted(names, key=lambda n: (n.count("."), n)):   # parents first
        if existing.name_match(name) is not None:
            continue
        entry = {"suffix": name, "pool": name, "source": source, "date": date}
        existing.domains[name] = entry
        doc["domains"].append(entry)
        added += 1
    doc["domains"].sort(key=lambda e: e["suffix"])
    doc["addresses"].sort(key=lambda e: (ipaddress.ip_address(e["address"]).version,
                                         ipaddress.ip_address(e["address"])))
    header = "\n".join(line for line in Path(pools_path).read_text(encoding="utf-8")
                       .splitlines() if line.startswith("#"))
    body = yaml.safe_dump({k: doc[k] for k in ("schema_version", "kind", "domains",
                                                "addresses", "ja4") if k in doc},
                          sort_keys=False, allow_unicode=False, width=100)
    return (header + "\n" if header else "") + body, added, skipped
