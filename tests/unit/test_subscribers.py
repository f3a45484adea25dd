"""detector.subscribers: each mapping kind at its edges, precedence, YAML = CSV, every
load error as `FILE:LINE: message`, and the vectorised lookup against a brute-force
reference on random maps."""

import ipaddress
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from detector.errors import MinewatchError, SubscriberMapError
from detector.subscribers import default_subscriber_map, load_subscriber_map

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "docs" / "examples"
S = 1_000_000_000            # ns per second
T0 = 1_709_251_200           # 2024-03-01T00:00:00Z in Unix seconds


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return path


def load(tmp_path, name, text):
    return load_subscriber_map(write(tmp_path, name, text))


def resolve(smap, queries):
    """queries: [(ip, port, ts_ns)] -> [(id, how)]"""
    ips = [q[0] for q in queries]
    ports = np.array([q[1] for q in queries], np.int64)
    ts = np.array([q[2] for q in queries], np.int64)
    ids, how = smap.resolve(ips, ports, ts)
    return list(zip(ids, how))


def one(smap, ip, port=40000, ts_ns=T0 * S):
    return resolve(smap, [(ip, port, ts_ns)])[0]


# --------------------------------------------------------------------------- static

NESTED = """
static:
  - {cidr: 10.0.0.0/8, subscriber: isp-pool}
  - {cidr: 10.20.30.0/24, subscriber: office}
  - {ip: 10.20.30.40, subscriber: server}
  - {cidr: 10.20.0.0/16, subscriber: region}
  - {cidr: 0.0.0.0/0, subscriber: anyone-v4}
"""


def test_static_longest_prefix_wins_in_nested_prefixes(tmp_path):
    smap = load(tmp_path, "m.yaml", NESTED)
    expected = {
        "10.20.30.40": ("server", "static"),
        "10.20.30.39": ("office", "static"),
        "10.20.30.41": ("office", "static"),
        "10.20.30.0": ("office", "static"),
        "10.20.30.255": ("office", "static"),
        "10.20.31.0": ("region", "static"),
        "10.20.29.255": ("region", "static"),
        "10.20.0.0": ("region", "static"),
        "10.20.255.255": ("region", "static"),
        "10.21.0.0": ("isp-pool", "static"),
        "10.0.0.0": ("isp-pool", "static"),
        "10.255.255.255": ("isp-pool", "static"),
        "9.255.255.255": ("anyone-v4", "static"),
        "11.0.0.0": ("anyone-v4", "static"),
        "255.255.255.255": ("anyone-v4", "static"),
        "0.0.0.0": ("anyone-v4", "static"),
        "2001:db8::1": ("2001:db8::1", "ip"),     # IPv4 /0 does not cover IPv6
    }
    got = resolve(smap, [(ip, 1, 0) for ip in expected])
    assert dict(zip(expected, got)) == expected


def test_static_ipv6_prefixes_and_families_apart(tmp_path):
    smap = load(tmp_path, "m.yaml", """
        static:
          - {cidr: "2001:db8::/32", subscriber: big}
          - {cidr: "2001:db8:1::/48", subscriber: site}
          - {ip: "2001:db8:1::7", subscriber: host}
          - {cidr: "2001:db8:1:0:8000::/65", subscriber: half}
          - {cidr: "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fff0/124", subscriber: top}
          - {cidr: 192.0.2.0/24, subscriber: v4}
        """)
    expected = {
        "2001:db8:1::7": "host",
        "2001:db8:1::6": "site",
        "2001:db8:1:0:7fff:ffff:ffff:ffff": "site",
        "2001:db8:1:0:8000::": "half",
        "2001:db8:1:0:ffff:ffff:ffff:ffff": "half",
        "2001:db8:1:1::": "site",
        "2001:db8:1:ffff:ffff:ffff:ffff:ffff": "site",
        "2001:db8:2::": "big",
        "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff": "big",
        "2001:db9::": "2001:db9::",
        "2001:db7:ffff:ffff:ffff:ffff:ffff:ffff": "2001:db7:ffff:ffff:ffff:ffff:ffff:ffff",
        "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff": "top",
        "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffef": "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffef",
        "192.0.2.9": "v4",
        "::ffff:192.0.2.9": "v4",            # IPv4-mapped IPv6 is the same address
        "::c000:209": "::c000:209",          # IPv4-compatible is not
    }
    got = [sub for sub, _ in resolve(smap, [(ip, 1, 0) for ip in expected])]
    assert dict(zip(expected, got)) == expected


def test_static_same_prefix_twice_for_same_subscriber_is_fine(tmp_path):
    smap = load(tmp_path, "m.yaml", """
        static:
          - {cidr: 10.0.0.0/8, subscriber: a}
          - {cidr: 10.0.0.0/8, subscriber: a}
        """)
    assert one(smap, "10.9.9.9") == ("a", "static")


# --------------------------------------------------------------------------- leases

def test_lease_boundaries_start_in_end_out(tmp_path):
    smap = load(tmp_path, "m.yaml", f"""
        leases:
          - {{ip: 100.64.0.5, start: {T0}, end: {T0 + 3600}, subscriber: alice}}
        """)
    cases = [(T0 * S - 1, ("100.64.0.5", "ip")), (T0 * S, ("alice", "lease")),
             ((T0 + 3600) * S - 1, ("alice", "lease")), ((T0 + 3600) * S, ("100.64.0.5", "ip"))]
    got = resolve(smap, [("100.64.0.5", 5, t) for t, _ in cases])
    assert got == [want for _, want in cases]
    assert one(smap, "100.64.0.6") == ("100.64.0.6", "ip")


def test_overlapping_leases_latest_start_wins(tmp_path):
    # a: [0, 100), b: [10, 20) inside a, c: [50, 200) outlives a, d: [60, 70) inside c
    smap = load(tmp_path, "m.yaml", f"""
        leases:
          - {{ip: 100.64.0.5, start: {T0}, end: {T0 + 100}, subscriber: a}}
          - {{ip: 100.64.0.5, start: {T0 + 50}, end: {T0 + 200}, subscriber: c}}
          - {{ip: 100.64.0.5, start: {T0 + 10}, end: {T0 + 20}, subscriber: b}}
          - {{ip: 100.64.0.5, start: {T0 + 60}, end: {T0 + 70}, subscriber: d}}
        """)
    at = {0: "a", 9: "a", 10: "b", 19: "b", 20: "a", 49: "a", 50: "c", 60: "d", 69: "d",
          70: "c", 99: "c", 100: "c", 199: "c", 200: "100.64.0.5", -1: "100.64.0.5"}
    got = resolve(smap, [("100.64.0.5", 1, (T0 + s) * S) for s in at])
    assert [sub for sub, _ in got] == list(at.values())


def test_lease_without_end_is_still_running(tmp_path):
    smap = load(tmp_path, "m.yaml", f"""
        leases:
          - {{ip: 100.64.0.5, start: {T0}, subscriber: a}}
          - {{ip: 100.64.0.5, start: {T0 + 10}, end: {T0 + 20}, subscriber: b}}
        """)
    got = resolve(smap, [("100.64.0.5", 1, (T0 + s) * S) for s in (-1, 0, 15, 20, 10**8)])
    assert [sub for sub, _ in got] == ["100.64.0.5", "a", "b", "a", "a"]


def test_iso_times_with_offsets_equal_unix_seconds(tmp_path):
    iso = load(tmp_path, "iso.yaml", """
        leases:
          - {ip: 2001:db8::5, start: "2024-03-01T08:00:00+08:00", end: 2024-03-01T00:00:01.5Z,
             subscriber: a}
        """)
    unix = load(tmp_path, "unix.yaml", f"""
        leases:
          - {{ip: "2001:db8::5", start: {T0}, end: {T0 + 1}.5000000001, subscriber: a}}
        """)
    times = [T0 * S - 1, T0 * S, T0 * S + 1_499_999_999, T0 * S + 1_500_000_000]
    queries = [("2001:db8::5", 1, t) for t in times]
    assert resolve(iso, queries) == [("2001:db8::5", "ip"), ("a", "lease"), ("a", "lease"),
                                     ("2001:db8::5", "ip")]
    assert resolve(unix, queries) == resolve(iso, queries)


# --------------------------------------------------------------------------- CGNAT

CGNAT = f"""
cgnat:
  - {{ip: 198.51.100.1, ports: 1024-2047, start: {T0}, end: {T0 + 3600}, subscriber: a}}
  - {{ip: 198.51.100.1, ports: 2048-3071, start: {T0}, end: {T0 + 3600}, subscriber: b}}
  - {{ip: 198.51.100.1, ports: 0-0, start: {T0}, end: {T0 + 3600}, subscriber: low}}
  - {{ip: 198.51.100.1, ports: 65535, start: {T0}, end: {T0 + 3600}, subscriber: high}}
  - {{ip: "2001:db8::1", ports: 1024-2047, start: {T0}, end: {T0 + 3600}, subscriber: v6}}
"""


def test_cgnat_port_edges(tmp_path):
    smap = load(tmp_path, "m.yaml", CGNAT)
    t = T0 * S
    ports = {1023: "198.51.100.1", 1024: "a", 2047: "a", 2048: "b", 3071: "b",
             3072: "198.51.100.1", 0: "low", 1: "198.51.100.1", 65534: "198.51.100.1",
             65535: "high"}
    got = resolve(smap, [("198.51.100.1", p, t) for p in ports])
    assert [sub for sub, _ in got] == list(ports.values())
    assert [how for _, how in got] == ["ip" if s == "198.51.100.1" else "cgnat"
                                       for s in ports.values()]
    assert resolve(smap, [("2001:db8::1", p, t) for p in (1023, 1024, 2047, 2048)]) == [
        ("2001:db8::1", "ip"), ("v6", "cgnat"), ("v6", "cgnat"), ("2001:db8::1", "ip")]
    assert one(smap, "198.51.100.2", 1500) == ("198.51.100.2", "ip")


def test_cgnat_time_edges_and_block_handover(tmp_path):
    smap = load(tmp_path, "m.yaml", CGNAT + f"""
  - {{ip: 198.51.100.1, ports: 1024-2047, start: {T0 + 3600}, end: {T0 + 7200}, subscriber: c}}
""")
    times = {T0 * S - 1: "198.51.100.1", T0 * S: "a", (T0 + 3600) * S - 1: "a",
             (T0 + 3600) * S: "c", (T0 + 7200) * S - 1: "c", (T0 + 7200) * S: "198.51.100.1"}
    got = resolve(smap, [("198.51.100.1", 1500, t) for t in times])
    assert [sub for sub, _ in got] == list(times.values())


def test_cgnat_blocks_of_different_sizes_on_one_address(tmp_path):
    # the operator moved from 2048-port to 1024-port blocks at T0+100; an old
    # block still running overlaps new ones: the one that started last wins
    smap = load(tmp_path, "m.yaml", f"""
        cgnat:
          - {{ip: 198.51.100.1, ports: 2048-4095, start: {T0}, end: {T0 + 200}, subscriber: old}}
          - {{ip: 198.51.100.1, ports: 3072-4095, start: {T0 + 100}, subscriber: new}}
        """)
    got = resolve(smap, [("198.51.100.1", p, (T0 + s) * S)
                         for p, s in ((2048, 150), (3071, 150), (3072, 150), (3072, 50),
                                      (4095, 50), (4096, 50), (2048, 250), (4095, 250))])
    assert [sub for sub, _ in got] == ["old", "old", "new", "old", "old", "198.51.100.1",
                                       "198.51.100.1", "new"]


# --------------------------------------------------------------------------- precedence, default

def test_precedence_cgnat_over_lease_over_static_over_ip(tmp_path):
    smap = load(tmp_path, "m.yaml", f"""
        static:
          - {{cidr: 198.51.100.0/24, subscriber: by-prefix}}
          - {{ip: 198.51.100.1, subscriber: by-address}}
        leases:
          - {{ip: 198.51.100.1, start: {T0}, end: {T0 + 100}, subscriber: by-lease}}
        cgnat:
          - {{ip: 198.51.100.1, ports: 1024-2047, start: {T0 + 50}, end: {T0 + 60},
             subscriber: by-block}}
        """)
    cases = [("198.51.100.1", 1500, T0 + 55, ("by-block", "cgnat")),
             ("198.51.100.1", 1500, T0 + 60, ("by-lease", "lease")),
             ("198.51.100.1", 3000, T0 + 55, ("by-lease", "lease")),
             ("198.51.100.1", 1500, T0 + 100, ("by-address", "static")),
             ("198.51.100.2", 1500, T0 + 55, ("by-prefix", "static")),
             ("198.51.101.2", 1500, T0 + 55, ("198.51.101.2", "ip"))]
    got = resolve(smap, [(ip, p, t * S) for ip, p, t, _ in cases])
    assert got == [want for *_, want in cases]


def test_default_map_every_address_is_its_own_subscriber():
    smap = default_subscriber_map()
    got = resolve(smap, [("192.0.2.1", 1, 0), ("2001:DB8:0:0::1", 2, 0),
                         ("::ffff:192.0.2.1", 3, 0), ("192.0.2.1", 4, 5)])
    assert got == [("192.0.2.1", "ip"), ("2001:db8::1", "ip"), ("192.0.2.1", "ip"),
                   ("192.0.2.1", "ip")]
    assert smap.info("192.0.2.1") == {}
    assert smap.resolve([], np.zeros(0, np.int64), np.zeros(0, np.int64)) == ([], [])


def test_empty_map_file_behaves_as_default(tmp_path):
    smap = load(tmp_path, "m.yaml", "# nothing yet\n")
    assert one(smap, "192.0.2.1") == ("192.0.2.1", "ip")


def test_resolve_refuses_a_string_that_is_no_address():
    with pytest.raises(ValueError, match="'bogus' is not an IP address"):
        default_subscriber_map().resolve(["bogus"], np.zeros(1), np.zeros(1))


def test_resolve_addresses_takes_engine_arrays(tmp_path):
    smap = load(tmp_path, "m.yaml", NESTED)
    hi = np.zeros(2, np.uint64)
    lo = np.array([0xFFFF_0A14_1E28, 0xFFFF_0B00_0000], np.uint64)   # 10.20.30.40, 11.0.0.0
    codes, how = smap.resolve_addresses(hi, lo, np.zeros(2), np.zeros(2))
    assert [smap.ids[c] for c in codes] == ["server", "anyone-v4"]
    assert how.tolist() == [1, 1]


# --------------------------------------------------------------------------- fields, formats

def test_info_fields_from_registry_and_static_columns(tmp_path):
    smap = load_subscriber_map([
        write(tmp_path, "subs.csv", """
            subscriber,name,address,contract
            acme,"ACME Mining, Ltd",1 Main St,C-77
            solo,Solo Miner,,
            """),
        write(tmp_path, "static.csv", """
            cidr,subscriber,rack
            203.0.113.0/24,acme,R12
            """)])
    assert smap.info("acme") == {"name": "ACME Mining, Ltd", "address": "1 Main St",
                                 "contract": "C-77", "rack": "R12"}
    assert smap.info("solo") == {"name": "Solo Miner"}
    assert smap.info("nobody") == {}
    info = smap.info("acme")
    info["name"] = "changed"
    assert smap.info("acme")["name"] == "ACME Mining, Ltd"


def test_yaml_and_csv_examples_give_the_same_results():
    yaml_map = load_subscriber_map(EXAMPLES / "subscribers.yaml")
    csv_map = load_subscriber_map(sorted(EXAMPLES.glob("*.csv")))
    assert yaml_map.counts == csv_map.counts
    assert all(yaml_map.counts[k] > 0 for k in ("static", "leases", "cgnat", "subscribers"))
    ips = ["10.20.0.9", "10.20.30.40", "100.64.0.5", "100.64.0.6", "198.51.100.7",
           "2001:db8:42::1", "2001:db8:42::2", "2001:db8:43::1", "203.0.113.9", "192.0.2.1"]
    ports = [0, 1023, 1024, 2047, 2048, 4095, 4096, 65535]
    seconds = [T0 - 1, T0, T0 + 3599, T0 + 3600, T0 + 86399, T0 + 86400, T0 + 10**6]
    queries = [(ip, p, s * S) for ip in ips for p in ports for s in seconds]
    got = resolve(yaml_map, queries)
    assert got == resolve(csv_map, queries)
    assert {how for _, how in got} == {"ip", "static", "lease", "cgnat"}
    for sub in {sub for sub, _ in got}:
        assert yaml_map.info(sub) == csv_map.info(sub)


def test_csv_detected_by_content_and_directory_loading(tmp_path):
    (tmp_path / "maps").mkdir()
    write(tmp_path, "maps/leases.export", f"ip,start,end,subscriber\n100.64.0.5,{T0},,a\n")
    write(tmp_path, "maps/b.csv", "cidr,subscriber\n100.64.0.0/10,pool\n")
    write(tmp_path, "maps/notes.txt", "ignored: not a map suffix\n")
    by_file = load_subscriber_map(tmp_path / "maps" / "leases.export")
    assert one(by_file, "100.64.0.5") == ("a", "lease")
    by_dir = load_subscriber_map(tmp_path / "maps")
    # a directory loads *.yaml, *.yml and *.csv only
    assert by_dir.counts == {"subscribers": 1, "static": 1, "leases": 0, "cgnat": 0}
    assert one(by_dir, "100.64.0.5") == ("pool", "static")


def test_csv_extra_accounting_columns_comments_and_bom(tmp_path):
    smap = load(tmp_path, "radius.csv", f"""\ufeff# exported from RADIUS accounting
        Acct-Session-Id,IP,Start,End,Subscriber,NAS
        # a comment line

        s1,100.64.0.5,{T0},{T0 + 60},alice,nas1
        """)
    assert one(smap, "100.64.0.5", ts_ns=(T0 + 1) * S) == ("alice", "lease")
    assert smap.info("alice") == {}


# --------------------------------------------------------------------------- errors

REG = "subscribers:\n  alice:\n  bob:\n"

ERRORS = [
    # (file name, content, expected message after "FILE:")
    ("m.yaml", "static:\n  - {cidr: 10.0.0.0/33, subscriber: a}\n",
     "2: bad CIDR '10.0.0.0/33': '33' is not a valid netmask"),
    ("m.yaml", "static:\n  - {cidr: 10.0.0.1/24, subscriber: a}\n",
     "2: bad CIDR '10.0.0.1/24': host bits set (did you mean 10.0.0.0/24?)"),
    ("m.yaml", "static:\n  - {cidr: 10.0.0.0/8}\n", "2: a static entry has no 'subscriber'"),
    ("m.yaml", "static:\n  - {cidr: 10.0.0.0/8, ip: 10.0.0.1, subscriber: a}\n",
     "2: a static entry needs exactly one of 'cidr' or 'ip'"),
    ("m.yaml", "static:\n  - {ip: 10.0.0.0/8, subscriber: a}\n",
     "2: 'ip' takes one address; use 'cidr' for a prefix"),
    ("m.yaml", "static:\n  - {cidr: 10.0.0.0/8, subscriber: a}\n"
               "  - {cidr: 10.0.0.0/8, subscriber: b}\n",
     "3: 10.0.0.0/8 is assigned to 'b' here but to 'a' at {file}:2"),
    ("m.yaml", f"leases:\n  - ip: 100.64.0.5\n    start: {T0}\n    end: {T0 - 1}\n"
               "    subscriber: a\n", f"4: end {T0 - 1} is not after start {T0}"),
    ("m.yaml", f"leases:\n  - {{ip: 100.64.0.5, start: {T0}, end: {T0}, subscriber: a}}\n",
     f"2: end {T0} is not after start {T0}"),
    ("m.yaml", "leases:\n  - {ip: 100.64.0.5, start: 2024-03-01T00:00:00, subscriber: a}\n",
     "2: time '2024-03-01T00:00:00' has no UTC offset: add Z or +HH:MM "
     "(local times are ambiguous)"),
    ("m.yaml", "leases:\n  - {ip: 100.64.0.5, start: yesterday, subscriber: a}\n",
     "2: bad time 'yesterday': use ISO 8601 with a UTC offset (2024-03-01T08:00:00Z) "
     "or Unix seconds"),
    ("m.yaml", f"leases:\n  - {{ip: 100.64.0.300, start: {T0}, subscriber: a}}\n",
     "2: '100.64.0.300' is not an IP address"),
    ("m.yaml", f"leases:\n  - {{ip: 100.64.0.5, strat: {T0}, subscriber: a}}\n",
     "2: unknown key 'strat' in a lease; did you mean 'start'?"),
    ("m.yaml", f"leases:\n  - {{ip: 100.64.0.5, start: {T0}, subscriber: a}}\n"
               f"  - {{ip: 100.64.0.5, start: {T0}, end: {T0 + 9}, subscriber: b}}\n",
     "3: lease of 100.64.0.5 starting 2024-03-01T00:00:00Z is given to 'b' here but to "
     "'a' at {file}:2 (same start)"),
    ("m.yaml", f"cgnat:\n  - {{ip: 198.51.100.1, ports: 2047-1024, start: {T0}, "
               "subscriber: a}\n", "2: port range 2047-1024 is reversed"),
    ("m.yaml", f"cgnat:\n  - {{ip: 198.51.100.1, ports: 1024-65536, start: {T0}, "
               "subscriber: a}\n", "2: port 65536 is outside 0-65535"),
    ("m.yaml", f"cgnat:\n  - {{ip: 198.51.100.1, start: {T0}, subscriber: a}}\n",
     "2: a CGNAT block has no 'ports'"),
    ("m.yaml", f"cgnat:\n  - {{ip: 198.51.100.1, ports: 1024-2047, start: {T0}, "
               "subscriber: a}\n"
               f"  - {{ip: 198.51.100.1, ports: 2000-3000, start: {T0}, subscriber: b}}\n",
     "3: CGNAT block of 198.51.100.1 ports 2000-3000 starting 2024-03-01T00:00:00Z is given "
     "to 'b' here but to 'a' at {file}:2 (same start)"),
    ("m.yaml", REG + f"leases:\n  - {{ip: 100.64.0.5, start: {T0}, subscriber: alcie}}\n",
     "5: unknown subscriber 'alcie' (not in the subscriber registry); did you mean 'alice'?"),
    ("m.yaml", "subscribers:\n  alice: {name: A}\n  alice: {name: B}\n",
     "3: subscriber 'alice' declared twice (first at line 2)"),
    ("m.yaml", "subscribers:\n  alice: {name: [A, B]}\n",
     "2: subscriber 'alice' field 'name' must be a plain value, not a list or mapping"),
    ("m.yaml", "static:\n  - {cidr: 10.0.0.0/8, subscriber: a, name: A}\n"
               "  - {cidr: 11.0.0.0/8, subscriber: a, name: B}\n",
     "3: subscriber 'a' field 'name' is 'B' here but 'A' at {file}:2"),
    ("m.yaml", "statc:\n  - {cidr: 10.0.0.0/8, subscriber: a}\n",
     "1: unknown key 'statc' in a subscriber map; did you mean 'static'?"),
    ("m.yaml", "static: {cidr: 10.0.0.0/8}\n", "1: 'static' must be a list"),
    ("m.yaml", "static:\n  - {cidr: 10.0.0.0/8, subscriber: a\n",
     "3: YAML syntax error: "),
    ("m.yaml", "x: &a {cidr: 10.0.0.0/8, subscriber: a}\nstatic:\n  - *a\n",
     "1: unknown key 'x' in a subscriber map; valid keys: subscribers, static, leases, cgnat"),
    ("m.yaml", "static:\n  - &a {cidr: 10.0.0.0/8, subscriber: a}\n  - *a\n",
     "2: YAML aliases (*name) are not supported in subscriber maps"),
    ("m.csv", f"ip,start,end\n100.64.0.5,{T0},\n",
     "1: missing column 'subscriber' (a lease file has ip,start,end,subscriber)"),
    ("m.csv", f"ip,port_start,start,end,subscriber\n198.51.100.1,1024,{T0},,a\n",
     "1: missing column 'port_end' (a cgnat file has ip,port_start,port_end,start,end,"
     "subscriber)"),
    ("m.csv", "address,owner\n10.0.0.1,a\n",
     "1: cannot tell what this CSV holds from its header; expected "
     "'ip,port_start,port_end,start,end,subscriber' or 'ip,start,end,subscriber' or "
     "'cidr,subscriber[,free fields...]' or 'subscriber[,free fields...]'"),
    ("m.csv", "cidr,subscriber,cidr\n10.0.0.0/8,a,x\n",
     "1: column 'cidr' appears twice in the header"),
    ("m.csv", f"# export\nip,port_start,port_end,start,end,subscriber\n"
              f"198.51.100.1,1024,2047,{T0},{T0 + 60},a\n"
              f"198.51.100.1,3000,70000,{T0},{T0 + 60},b\n",
     "4: port 70000 is outside 0-65535"),
    ("m.csv", f"ip,port_start,port_end,start,end,subscriber\n"
              f"198.51.100.1,2047,1024,{T0},{T0 + 60},a\n", "2: port range 2047-1024 is reversed"),
    ("m.csv", f"ip,start,end,subscriber\n100.64.0.5,{T0 + 60},{T0},a\n",
     f"2: end {T0} is not after start {T0 + 60}"),
    ("m.csv", "cidr,subscriber\n10.0.0.0/8,a\n\n10.0.0.0/8,b\n",
     "4: 10.0.0.0/8 is assigned to 'b' here but to 'a' at {file}:2"),
    ("m.csv", "cidr,subscriber\n10.0.0.0/8\n", "2: expected 2 cells (as in the header), got 1"),
    ("m.csv", "cidr,subscriber\n10.0.0.0/8,\n", "2: empty 'subscriber'"),
    ("m.csv", "cidr,subscriber\n\"fe80::/10\n\x1b[31m\",x\n",
     "2: bad CIDR 'fe80::/10\\n\\x1b[31m': "),
]


@pytest.mark.parametrize("name,content,message", ERRORS,
                         ids=[f"{i}-{e[2][:40]}" for i, e in enumerate(ERRORS)])
def test_bad_map_error_names_file_and_line(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(SubscriberMapError) as info:
        load_subscriber_map(path)
    text = str(info.value)
    expected = f"{path}:" + message.replace("{file}", str(path))
    if message.endswith(": "):                 # the tail comes from ipaddress
        assert text.startswith(expected.rstrip())
    else:
        assert text == expected
    assert isinstance(info.value, MinewatchError)


def test_error_messages_are_one_line(tmp_path):
    for i, (name, content, _) in enumerate(ERRORS):
        path = tmp_path / f"{i}{Path(name).suffix}"
        path.write_text(content)
        with pytest.raises(SubscriberMapError) as info:
            load_subscriber_map(path)
        assert "\n" not in str(info.value), str(info.value)


def test_missing_map_file_and_undeclared_reference_across_files(tmp_path):
    with pytest.raises(SubscriberMapError, match=r"nope\.yaml: subscriber map not found$"):
        load_subscriber_map(tmp_path / "nope.yaml")
    registry = write(tmp_path, "a_subs.csv", "subscriber,name\nalice,A\n")
    leases = write(tmp_path, "b_leases.csv", f"ip,start,end,subscriber\n"
                                             f"100.64.0.5,{T0},,alice\n100.64.0.6,{T0},,bob\n")
    with pytest.raises(SubscriberMapError) as info:
        load_subscriber_map(tmp_path)
    assert str(info.value) == (f"{leases}:3: unknown subscriber 'bob' (not in the subscriber "
                               "registry)")
    assert one(load_subscriber_map(leases), "100.64.0.6") == ("bob", "lease")
    assert registry.exists()


# --------------------------------------------------------------------------- vs brute force

V4_MAPPED = 0xFFFF << 32
# a small universe, so random entries nest, overlap and collide
V4_BASE = int(ipaddress.IPv4Address("10.0.0.0"))
V6_BASE = int(ipaddress.IPv6Address("2001:db8::"))


def _addr(family, k):
    return V4_MAPPED | (V4_BASE + k) if family == 4 else V6_BASE + k


def _text(value):
    if value >> 32 == 0xFFFF:
        return str(ipaddress.IPv4Address(value & 0xFFFFFFFF))
    return str(ipaddress.IPv6Address(value))


@st.composite
def prefixes(draw):
    family = draw(st.sampled_from((4, 6)))
    host_bits = draw(st.sampled_from((0, 0, 1, 2, 3, 4) + ((32,) if family == 4 else (128,))))
    k = draw(st.integers(0, 15)) >> host_bits << host_bits if host_bits <= 4 else 0
    if family == 4:
        net = ipaddress.IPv4Network((V4_BASE + k if host_bits <= 4 else 0, 32 - host_bits))
        return V4_MAPPED | int(net.network_address), 128 - host_bits, str(net)
    net = ipaddress.IPv6Network((V6_BASE + k if host_bits <= 4 else 0, 128 - host_bits))
    return int(net.network_address), 128 - host_bits, str(net)


SUBS = st.sampled_from(["s0", "s1", "s2", "s3"])
ADDRS = st.builds(_addr, st.sampled_from((4, 6)), st.integers(0, 17))
TIMES = st.integers(0, 12)


@st.composite
def blocks(draw, with_ports):
    start = draw(TIMES)
    end = draw(st.one_of(st.none(), st.integers(start + 1, 14)))
    lo, hi = (0, 65535)
    if with_ports:
        lo = draw(st.sampled_from((0, 1, 2, 3, 4, 5, 65534, 65535)))
        hi = draw(st.sampled_from([p for p in (0, 1, 2, 3, 4, 5, 65534, 65535) if p >= lo]))
    return draw(ADDRS), lo, hi, start, end, draw(SUBS)


@st.composite
def random_maps(draw):
    static = draw(st.lists(st.tuples(prefixes(), SUBS), max_size=10))
    leases = draw(st.lists(blocks(False), max_size=10))
    cgnat = draw(st.lists(blocks(True), max_size=10))
    return static, leases, cgnat


def reference(static, leases, cgnat, addr, port, t):
    """Brute force over the entries, rules as documented in docs/subscribers.md."""
    def latest(entries):
        live = [(start, sub) for a, lo, hi, start, end, sub in entries
                if a == addr and lo <= port <= hi and start * S <= t
                and (end is None or t < end * S)]
        return max(live)[1] if live else None
    sub = latest(cgnat)
    if sub:
        return sub, "cgnat"
    sub = latest(leases)
    if sub:
        return sub, "lease"
    covering = [(bits, sub) for (net, bits, _), sub in static
                if (addr ^ net) >> (128 - bits) == 0]
    if covering:
        return max(covering)[1], "static"
    return _text(addr), "ip"


def reference_conflict(static, leases, cgnat):
    """Would the map be refused: same prefix, or same address, overlapping ports and
    same start, given to two subscribers?"""
    for (p1, s1), (p2, s2) in ((a, b) for i, a in enumerate(static) for b in static[i + 1:]):
        if p1[:2] == p2[:2] and s1 != s2:
            return True
    for entries in (leases, cgnat):
        for i, a in enumerate(entries):
            for b in entries[i + 1:]:
                if a[0] == b[0] and a[3] == b[3] and a[5] != b[5] and \
                        max(a[1], b[1]) <= min(a[2], b[2]):
                    return True
    return False


def _write_yaml(path, static, leases, cgnat):
    def when(end):
        return "" if end is None else f", end: {T0 + end}"
    lines = ["static:"] + [f"  - {{cidr: '{text}', subscriber: {sub}}}"
                           for (_, _, text), sub in static]
    lines += ["leases:"] + [f"  - {{ip: '{_text(a)}', start: {T0 + s}{when(e)}, "
                            f"subscriber: {sub}}}" for a, _, _, s, e, sub in leases]
    lines += ["cgnat:"] + [f"  - {{ip: '{_text(a)}', ports: {lo}-{hi}, start: {T0 + s}"
                           f"{when(e)}, subscriber: {sub}}}" for a, lo, hi, s, e, sub in cgnat]
    path.write_text("\n".join(lines) + "\n")
    return path


def _write_csv(folder, static, leases, cgnat):
    def iso(s):
        return f"2024-03-01T00:00:{s:02d}Z"
    folder.mkdir()
    (folder / "static.csv").write_text(
        "cidr,subscriber\n" + "".join(f"{text},{sub}\n" for (_, _, text), sub in static))
    (folder / "leases.csv").write_text("ip,start,end,subscriber\n" + "".join(
        f"{_text(a)},{iso(s)},{'' if e is None else iso(e)},{sub}\n"
        for a, _, _, s, e, sub in leases))
    (folder / "cgnat.csv").write_text("ip,port_start,port_end,start,end,subscriber\n" + "".join(
        f"{_text(a)},{lo},{hi},{T0 + s},{'' if e is None else T0 + e},{sub}\n"
        for a, lo, hi, s, e, sub in cgnat))
    return folder


_EXAMPLES = int(os.environ.get("MINEWATCH_FUZZ_EXAMPLES", "150"))


@settings(max_examples=_EXAMPLES, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(random_maps(), st.booleans())
def test_vectorised_lookup_matches_brute_force(tmp_path_factory, smap_parts, as_csv):
    static, leases, cgnat = smap_parts
    tmp = tmp_path_factory.mktemp("map")
    path = _write_csv(tmp / "csv", *smap_parts) if as_csv else \
        _write_yaml(tmp / "m.yaml", *smap_parts)
    if reference_conflict(*smap_parts):
        with pytest.raises(SubscriberMapError, match="here but to"):
            load_subscriber_map(path)
        return
    smap = load_subscriber_map(path)
    queries = [(_addr(f, k), port, (T0 + s) * S + d)
               for f in (4, 6) for k in range(18)
               for port in (0, 3, 65535) for s in (0, 3, 7, 13, 14) for d in (-1, 0)]
    got = resolve(smap, [(_text(a), p, t) for a, p, t in queries])
    want = [reference(static, leases, cgnat, a, p, t - T0 * S) for a, p, t in queries]
    assert got == want


@pytest.mark.slow
@pytest.mark.skipif(os.environ.get("NUMBA_DISABLE_JIT") == "1", reason="already without JIT")
def test_subscriber_suite_without_jit():
    env = dict(os.environ, NUMBA_DISABLE_JIT="1", MINEWATCH_FUZZ_EXAMPLES="25",
               PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", __file__,
         str(Path(__file__).with_name("test_subscriber_columns.py"))],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
