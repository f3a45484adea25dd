#!/usr/bin/env python3
"""Load and lookup times of subscriber maps with a million entries of each kind.

    python benchmarks/subscribers_bench.py [--entries 1000000] [--lookups 100000]
                                           [--yaml-entries 100000] [--seed 1]

Writes, in a temporary directory, one CSV per kind (static prefixes of mixed
lengths, IPv4 and IPv6; DHCP-style leases, a few per address, some overlapping;
CGNAT port blocks: public addresses x 64 blocks of 1024 ports x time slots)
and a YAML map with --yaml-entries static entries. For each it prints the
load time (parse + index; wall and CPU) and the time of --lookups lookups, through
`resolve` (address strings, as hits carry them) and through
`resolve_addresses` (engine arrays), with a numpy searchsorted over the same
number of uint64 keys as a floor. Figures only; nothing is asserted. The
first lookup compiles the kernels (numba cache), so each lookup is timed on
a second call.
"""
from __future__ import annotations

import argparse
import ipaddress
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from detector.subscribers import load_subscriber_map  # noqa: E402

T0 = 1_709_251_200
S = 1_000_000_000
V4 = 0xFFFF << 32


def v4(n):
    return str(ipaddress.IPv4Address(int(n)))


def write_static(path, n, rng):
    """Nested IPv4 prefixes (/8 > /16 > /24 > /32) and IPv6 (/32 > /48 > /64 > /128)."""
    n4 = n * 3 // 4
    lines = ["cidr,subscriber"]
    lines += [f"{k}.0.0.0/8,isp{k}" for k in range(1, 100)]
    slash16 = rng.choice(1 << 16, size=min(n4 // 20, 1 << 16), replace=False)
    lines += [f"{v4(p << 16)}/16,r{p}" for p in slash16]
    slash24 = rng.choice(1 << 24, size=n4 // 4, replace=False)
    lines += [f"{v4(p << 8)}/24,c{p}" for p in slash24]
    hosts = rng.choice(1 << 32, size=n4 - len(lines) + 1, replace=False)
    lines += [f"{v4(h)},h{h}" for h in hosts]
    n6 = n - (len(lines) - 1)
    base = int(ipaddress.IPv6Address("2001:db8::"))
    sites = rng.choice(1 << 16, size=n6 // 4, replace=False)
    lines += [f"{ipaddress.IPv6Address(base | (int(s) << 80))}/48,s{s}" for s in sites]
    hosts6 = rng.choice(1 << 40, size=n6 - len(sites), replace=False)
    lines += [f"{ipaddress.IPv6Address(base | (int(sites[h % len(sites)]) << 80) | int(h))}"
              f",g{h}" for h in hosts6]
    path.write_text("\n".join(lines) + "\n")
    return len(lines) - 1, [V4 | int(h) for h in hosts]


def write_leases(path, n, rng):
    """n leases on n/5 addresses of 100.64.0.0/10: five back-to-back leases each,
    one in four overlapping the next by a minute (the old lease expires late)."""
    per = 5
    addrs = rng.choice(1 << 22, size=n // per, replace=False) + (100 << 24 | 64 << 16)
    lines = ["ip,start,end,subscriber"]
    for a in addrs:
        ip = v4(a)
        t = T0 + int(rng.integers(0, 3600))
        for k in range(per):
            dur = int(rng.integers(3600, 86400))
            late = 60 if rng.random() < 0.25 else 0
            lines.append(f"{ip},{t},{t + dur + late},u{a % 99991}-{k}")
            t += dur
    path.write_text("\n".join(lines) + "\n")
    return len(lines) - 1, [V4 | int(a) for a in addrs]


def write_cgnat(path, n, rng):
    """Public addresses x 64 blocks of 1024 ports x 16 time slots of 6 h."""
    slots, blocks = 16, 64
    n_addr = max(1, n // (slots * blocks))
    addrs = rng.choice(1 << 16, size=n_addr, replace=False) + (198 << 24 | 18 << 16)
    lines = ["ip,port_start,port_end,start,end,subscriber"]
    for a in addrs:
        ip = v4(a)
        for b in range(blocks):
            for s in range(slots):
                start = T0 + s * 21600
                lines.append(f"{ip},{b * 1024},{b * 1024 + 1023},{start},{start + 21600},"
                             f"c{a % 9973}-{b}-{s}")
    path.write_text("\n".join(lines) + "\n")
    return len(lines) - 1, [V4 | int(a) for a in addrs]


def write_yaml(path, n, rng):
    hosts = rng.choice(1 << 24, size=n, replace=False) + (10 << 24)
    lines = ["static:"] + [f"  - {{ip: {v4(h)}, subscriber: h{h}}}" for h in hosts]
    path.write_text("\n".join(lines) + "\n")
    return n, [V4 | int(h) for h in hosts]


def queries(known, m, rng):
    """m (ips, ports, ts_ns): half on addresses of the map, half random IPv4/IPv6."""
    picked = rng.choice(np.array(known, object), size=m // 2)
    rand = rng.integers(0, 1 << 32, size=m - m // 2)
    numbers = [int(x) for x in picked] + [V4 | int(x) for x in rand[: len(rand) // 2]] \
        + [(0x2001_0db8 << 96) | (int(x) << 48) for x in rand[len(rand) // 2:]]
    ips = [str(ipaddress.IPv4Address(x & 0xFFFFFFFF)) if x >> 32 == 0xFFFF
           else str(ipaddress.IPv6Address(x)) for x in numbers]
    ports = rng.integers(0, 65536, size=m)
    ts = (T0 + rng.integers(0, 4 * 86400, size=m)) * S
    return ips, ports, ts


def timed(fn, *args):
    t = time.perf_counter()
    out = fn(*args)
    return time.perf_counter() - t, out


def timed_cpu(fn, *args):
    """(wall s, CPU s of this process, result): CPU time stays put when other
    programs share the machine."""
    cpu = time.process_time()
    wall, out = timed(fn, *args)
    return wall, time.process_time() - cpu, out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--entries", type=int, default=1_000_000)
    ap.add_argument("--lookups", type=int, default=100_000)
    ap.add_argument("--yaml-entries", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    print(f"{'map':<14}{'entries':>10}{'write s':>9}{'load s':>9}{'cpu s':>7}{'entries/s':>12}"
          f"{'resolve ms':>12}{'arrays ms':>11}{'floor ms':>10}{'matched':>9}")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for kind, writer, name, n in (("static", write_static, "static.csv", args.entries),
                                      ("leases", write_leases, "leases.csv", args.entries),
                                      ("cgnat", write_cgnat, "cgnat.csv", args.entries),
                                      ("yaml static", write_yaml, "static.yaml",
                                       args.yaml_entries)):
            path = tmp / name
            t_write, (count, known) = timed(writer, path, n, rng)
            t_load, cpu_load, smap = timed_cpu(load_subscriber_map, path)
            ips, ports, ts = queries(known, args.lookups, rng)
            smap.resolve(ips[:10], ports[:10], ts[:10])          # compile / warm the cache
            t_resolve, (ids, how) = timed(smap.resolve, ips, ports, ts)
            numbers = [int(ipaddress.ip_address(ip)) for ip in ips]
            numbers = [x | V4 if x < (1 << 32) else x for x in numbers]
            hi = np.array([x >> 64 for x in numbers], np.uint64)
            lo = np.array([x & ((1 << 64) - 1) for x in numbers], np.uint64)
            t_arrays, _ = timed(smap.resolve_addresses, hi, lo, ports, ts)
            keys = np.sort(rng.integers(0, 1 << 62, size=count))
            t_floor, _ = timed(np.searchsorted, keys, lo.astype(np.int64))
            matched = sum(h != "ip" for h in how) / len(how)
            print(f"{kind:<14}{count:>10,}{t_write:>9.2f}{t_load:>9.2f}{cpu_load:>7.2f}"
                  f"{count / t_load:>12,.0f}"
                  f"{t_resolve * 1e3:>12.1f}{t_arrays * 1e3:>11.1f}{t_floor * 1e3:>10.1f}"
                  f"{matched:>9.0%}")
    print(f"load s = wall, cpu s = CPU time of the load (steady when the machine is shared); "
          f"lookups per run: {args.lookups:,}; resolve = strings in, ids out; arrays = "
          "resolve_addresses on (hi, lo) arrays; floor = one np.searchsorted over as many "
          "uint64 keys")
    return 0


if __name__ == "__main__":
    sys.exit(main())
