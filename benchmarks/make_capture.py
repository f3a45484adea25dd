#!/usr/bin/env python3
"""Build a large, realistic benchmark capture from a corpus of small captures.

    python benchmarks/make_capture.py --corpus ../shared/corpus/ndpi \
        --packets 2000000 -o benchmarks/out/bench.pcap [--seed 1]

Every Ethernet (linktype 1) capture of the corpus folder -- classic pcap
(usec or nsec, either byte order) and pcapng (Ethernet interfaces only) -- is
read once with dpkt's file/record/block classes.  The records are then written
to one classic pcap (usec, little-endian, linktype 1) in *rounds*:

* a new round starts every --round-seconds (60 s); within its window
  every file starts at a seeded random offset inside the round window, and all
  packets are merged in timestamp order, so flows from different files overlap
  the way they would on a real link (files longer than the window run on into
  the next rounds);
* inside a file, gaps between consecutive packets are kept but clamped to
  [0, --max-gap] seconds (some corpus files span months, or go backwards);
* round r shifts every IPv4 address by +r on its second octet (mod 256) and
  every IPv6 address by +r on byte 7 (the last byte of the /64 prefix), for
  the outer IP header (after Ethernet, up to two VLAN tags, MPLS or PPPoE).
  The IPv4 header checksum is recomputed, TCP/UDP/ICMPv6 checksums are
  adjusted incrementally (RFC 1624), so a checksum that was right stays right;
* the capture opens after a few warm-up rounds (long flows already running)
  and stops after exactly --packets records.

Output is deterministic for a given corpus and seed.  Next to the output a ``<out>.meta.json`` records the statistics printed
at the end (packets, bytes, mean size, distinct flows, files used, ...).

This is a one-off generator: it favours clarity over speed (about 15 s for
2M packets).
"""
from __future__ import annotations

import argparse
import json
import struct
import sys
import time
from pathlib import Path

import dpkt
import dpkt.pcap
import dpkt.pcapng
import numpy as np

LINKTYPE_ETHERNET = 1
PCAP_EXTS = (".pcap", ".pcapng", ".cap", ".pcap.gz")
PCAPNG_SHB = 0x0A0D0D0A
MAX_WIRELEN = 262144  # larger original lengths are bogus (fuzzed files): use caplen

# ---------------------------------------------------------------------------
# Reading (dpkt classes; we iterate records ourselves so that we keep the
# original wire length and integer timestamps, which dpkt's Reader drops).
# ---------------------------------------------------------------------------


class Packet:
    __slots__ = ("ts_ns", "wirelen", "data", "l3", "ver", "ck", "key")

    def __init__(self, ts_ns, wirelen, data):
        self.ts_ns = ts_ns
        self.wirelen = wirelen
        self.data = data
        self.l3 = -1   # offset of the outer IP header, -1 if none
        self.ver = 0   # 4, 6 or 0
        self.ck = ()   # tuple of (checksum offset, is_udp) to adjust incrementally
        self.key = None  # (proto, lo-endpoint, hi-endpoint) with address offsets


def read_pcap(path: Path):
    """Yield (linktype, ts_ns, wirelen, data) from a classic pcap with dpkt."""
    with open(path, "rb") as f:
        rdr = dpkt.pcap.Reader(f)  # validates the file header
        linktype = rdr.datalink()
        f.seek(0)
        magic = struct.unpack(">I", f.read(4))[0]  # as dpkt reads it
        f.seek(24)
        hdr_cls = dpkt.pcap.MAGIC_TO_PKT_HDR[magic]
        nano = magic in (dpkt.pcap.TCPDUMP_MAGIC_NANO, dpkt.pcap.PMUDPCT_MAGIC_NANO)
        frac_mul = 1 if nano else 1000
        hlen = hdr_cls.__hdr_len__
        while True:
            hb = f.read(hlen)
            if len(hb) < hlen:
                break
            h = hdr_cls(hb)
            data = f.read(h.caplen)
            if len(data) < h.caplen:
                break  # truncated last record
            yield linktype, h.tv_sec * 1_000_000_000 + h.tv_usec * frac_mul, h.len, data


def read_pcapng(path: Path):
    """Yield (linktype, ts_ns, wirelen, data) from a pcapng with dpkt's block classes.

    Unlike dpkt.pcapng.Reader this honours every interface of every section
    (linktype and timestamp resolution per interface)."""
    with open(path, "rb") as f:
        dpkt.pcapng.Reader(f)  # validates the first SHB/IDB
        f.seek(0)
        le = True
        ifaces = []  # per interface: (linktype, ticks_per_s, tsoffset_s)
        while True:
            head = f.read(8)
            if len(head) < 8:
                break
            btype_le, blen_le = struct.unpack("<II", head)
            if btype_le == PCAPNG_SHB:
                bom = f.read(4)
                le = bom == b"\x4d\x3c\x2b\x1a"
                blen = blen_le if le else struct.unpack(">I", head[4:])[0]
                f.seek(blen - 12, 1)
                ifaces = []
                continue
            btype, blen = (btype_le, blen_le) if le else struct.unpack(">II", head)
            if blen < 12:
                break
            body = f.read(blen - 8)
            if len(body) < blen - 8:
                break
            buf = head + body
            if btype == dpkt.pcapng.PCAPNG_BT_IDB:
                idb = (dpkt.pcapng.InterfaceDescriptionBlockLE if le
                       else dpkt.pcapng.InterfaceDescriptionBlock)(buf)
                tps, tsoff = 1_000_000, 0
                for opt in idb.opts:
                    if opt.code == dpkt.pcapng.PCAPNG_OPT_IF_TSRESOL:
                        v = opt.data[0]
                        tps = (2 ** (v & 0x7F)) if v & 0x80 else (10 ** (v & 0x7F))
                    elif opt.code == dpkt.pcapng.PCAPNG_OPT_IF_TSOFFSET:
                        tsoff = struct.unpack("<q" if le else ">q", opt.data[:8])[0]
                ifaces.append((idb.linktype, tps, tsoff))
            elif btype in (dpkt.pcapng.PCAPNG_BT_EPB, dpkt.pcapng.PCAPNG_BT_PB):
                if btype == dpkt.pcapng.PCAPNG_BT_EPB:
                    blk = (dpkt.pcapng.EnhancedPacketBlockLE if le
                           else dpkt.pcapng.EnhancedPacketBlock)(buf)
                else:
                    blk = (dpkt.pcapng.PacketBlockLE if le else dpkt.pcapng.PacketBlock)(buf)
                if blk.iface_id >= len(ifaces):
                    continue
                linktype, tps, tsoff = ifaces[blk.iface_id]
                ticks = (blk.ts_high << 32) | blk.ts_low
                ts_ns = tsoff * 1_000_000_000 + ticks * 1_000_000_000 // tps
                yield linktype, ts_ns, blk.pkt_len, bytes(blk.pkt_data)
            # other blocks (NRB, ISB, SPB, custom) are ignored


def read_capture(path: Path):
    with open(path, "rb") as f:
        magic = f.read(4)
    if len(magic) < 4:
        raise ValueError("too short")
    if struct.unpack("<I", magic)[0] == PCAPNG_SHB:
        return "pcapng", read_pcapng(path)
    return "pcap", read_pcap(path)


# ---------------------------------------------------------------------------
# Header analysis (done once per corpus packet) and rewriting (per round).
# ---------------------------------------------------------------------------

IPV6_EXT = {0, 43, 60}  # hop-by-hop, routing, destination options


def analyse(p: Packet) -> None:
    """Find the outer IP header, the checksums to adjust and the flow key."""
    d = p.data
    n = len(d)
    off, et = 12, None
    if n < 14:
        return
    et = (d[12] << 8) | d[13]
    off = 14
    tags = 0
    while et in (0x8100, 0x88A8, 0x9100) and tags < 2 and n >= off + 4:
        et = (d[off + 2] << 8) | d[off + 3]
        off += 4
        tags += 1
    if et in (0x8847, 0x8848):  # MPLS: skip labels to bottom of stack, guess by nibble
        while n >= off + 4:
            bos = d[off + 2] & 1
            off += 4
            if bos:
                break
        if n <= off:
            return
        et = {4: 0x0800, 6: 0x86DD}.get(d[off] >> 4)
    elif et == 0x8864:  # PPPoE session
        if n < off + 8:
            return
        ppp = (d[off + 6] << 8) | d[off + 7]
        off += 8
        et = {0x0021: 0x0800, 0x0057: 0x86DD}.get(ppp)
    if et == 0x0800 and n >= off + 20 and d[off] >> 4 == 4:
        ihl = (d[off] & 0x0F) * 4
        if ihl < 20 or n < off + ihl:
            return
        p.l3, p.ver = off, 4
        proto = d[off + 9]
        frag = ((d[off + 6] & 0x1F) << 8) | d[off + 7]
        l4 = off + ihl
        sport = dport = 0
        if frag == 0:
            if proto == 6 and n >= l4 + 18:
                p.ck = ((l4 + 16, False),)
            elif proto == 17 and n >= l4 + 8:
                p.ck = ((l4 + 6, True),)
            if proto in (6, 17, 132) and n >= l4 + 4:
                sport = (d[l4] << 8) | d[l4 + 1]
                dport = (d[l4 + 2] << 8) | d[l4 + 3]
        src, dst = d[off + 12:off + 16], d[off + 16:off + 20]
        p.key = _key(4, proto, src, sport, dst, dport)
    elif et == 0x86DD and n >= off + 40 and d[off] >> 4 == 6:
        p.l3, p.ver = off, 6
        nxt = d[off + 6]
        l4 = off + 40
        frag_ok = True
        while nxt in IPV6_EXT or nxt == 44:
            if n < l4 + 8:
                frag_ok = False
                break
            if nxt == 44:
                if (((d[l4 + 2] << 8) | d[l4 + 3]) & 0xFFF8) != 0:
                    frag_ok = False
                nxt = d[l4]
                l4 += 8
            else:
                nxt, l4 = d[l4], l4 + (d[l4 + 1] + 1) * 8
        sport = dport = 0
        if frag_ok:
            if nxt == 6 and n >= l4 + 18:
                p.ck = ((l4 + 16, False),)
            elif nxt == 17 and n >= l4 + 8:
                p.ck = ((l4 + 6, True),)
            elif nxt == 58 and n >= l4 + 4:
                p.ck = ((l4 + 2, False),)
            if nxt in (6, 17, 132) and n >= l4 + 4:
                sport = (d[l4] << 8) | d[l4 + 1]
                dport = (d[l4 + 2] << 8) | d[l4 + 3]
        src, dst = d[off + 8:off + 24], d[off + 24:off + 40]
        p.key = _key(6, nxt, src, sport, dst, dport)


def _key(ver, proto, src, sport, dst, dport):
    a, b = (bytes(src), sport), (bytes(dst), dport)
    if b < a:
        a, b = b, a
    return (ver, proto, a, b)


def shift_addr(ver: int, addr: bytes, r: int) -> bytes:
    i = 1 if ver == 4 else 7
    return addr[:i] + bytes(((addr[i] + r) & 0xFF,)) + addr[i + 1:]


def ip4_checksum(hdr: bytearray) -> int:
    s = 0
    for i in range(0, len(hdr), 2):
        s += (hdr[i] << 8) | hdr[i + 1]
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


def rewrite(p: Packet, r: int) -> bytes:
    """Return the packet bytes for round r (r % 256 != 0: addresses shifted)."""
    rr = r & 0xFF
    if rr == 0 or p.ver == 0:
        return p.data
    d = bytearray(p.data)
    o = p.l3
    if p.ver == 4:
        # second octet of src (o+13) and dst (o+17): both are the low byte of
        # a 16-bit word of the IP and pseudo headers
        i1, i2 = o + 13, o + 17
    else:
        i1, i2 = o + 8 + 7, o + 24 + 7  # byte 7 of src / dst: low byte of a word
    old1, old2 = d[i1], d[i2]
    new1, new2 = (old1 + rr) & 0xFF, (old2 + rr) & 0xFF
    d[i1], d[i2] = new1, new2
    if p.ver == 4:
        ihl = (d[o] & 0x0F) * 4
        d[o + 10] = d[o + 11] = 0
        c = ip4_checksum(d[o:o + ihl])
        d[o + 10], d[o + 11] = c >> 8, c & 0xFF
    if p.ck:
        # RFC 1624: HC' = ~(~HC + ~m + m'), on the two changed 16-bit words;
        # the high bytes of those words are unchanged, so only low bytes count.
        delta = (new1 - old1) + (new2 - old2)
        for co, is_udp in p.ck:
            hc = (d[co] << 8) | d[co + 1]
            if is_udp and hc == 0:
                continue  # UDP/IPv4 without checksum
            s = ((~hc) & 0xFFFF) + (delta % 0xFFFF)
            while s >> 16:
                s = (s & 0xFFFF) + (s >> 16)
            hc = (~s) & 0xFFFF
            if is_udp and hc == 0:
                hc = 0xFFFF
            d[co], d[co + 1] = hc >> 8, hc & 0xFF
    return bytes(d)


def shifted_key(key, r: int):
    ver, proto, (a, ap), (b, bp) = key
    rr = r & 0xFF
    if rr:
        a, b = shift_addr(ver, a, rr), shift_addr(ver, b, rr)
    x, y = (a, ap), (b, bp)
    if y < x:
        x, y = y, x
    return (ver, proto, x, y)


# ---------------------------------------------------------------------------


def find_captures(folder: Path, recursive: bool):
    it = folder.rglob("*") if recursive else folder.iterdir()
    return sorted(p for p in it if p.is_file() and p.name.lower().endswith(PCAP_EXTS))


def load_labels(folder: Path):
    labels = {}
    f = folder / "LABELS.tsv"
    if f.is_file():
        for line in f.read_text().splitlines()[1:]:
            parts = line.split("\t")
            if len(parts) >= 2:
                labels[parts[0]] = parts[1]
    return labels


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", required=True, type=Path,
                    help="folder of captures (pcap/pcapng); only Ethernet ones are used")
    ap.add_argument("--packets", type=int, default=2_000_000, help="records to write (default 2000000)")
    ap.add_argument("-o", "--output", required=True, type=Path, help="classic pcap to write")
    ap.add_argument("--seed", type=int, default=1, help="seed for per-round file offsets (default 1)")
    ap.add_argument("--mining-from", action="append", type=Path, default=None, metavar="FILE",
                    help="capture(s) that must be included (repeatable; default: "
                         "<corpus>/mining.pcapng if present). Files outside the corpus are added.")
    ap.add_argument("--recursive", action="store_true", help="also read captures in sub-folders")
    ap.add_argument("--max-gap", type=float, default=5.0,
                    help="clamp gaps between consecutive packets of a file to this many seconds (default 5)")
    ap.add_argument("--round-seconds", type=float, default=60.0,
                    help="a new round starts every this many seconds; each file starts at a random "
                         "offset within its round's window (default 60)")
    ap.add_argument("--start", type=float, default=1_700_000_000.0,
                    help="timestamp of the first round (epoch seconds, default 1700000000)")
    ap.add_argument("-q", "--quiet", action="store_true", help="only print the final statistics")
    args = ap.parse_args(argv)

    t0 = time.perf_counter()
    if not args.corpus.is_dir():
        print(f"make_capture: corpus folder not found: {args.corpus}", file=sys.stderr)
        return 2
    if args.packets <= 0:
        print("make_capture: --packets must be positive", file=sys.stderr)
        return 2

    files = find_captures(args.corpus, args.recursive)
    must = args.mining_from
    if must is None:
        dflt = args.corpus / "mining.pcapng"
        must = [dflt] if dflt.is_file() else []
    resolved = {f.resolve() for f in files}
    for m in must:
        if not m.is_file():
            print(f"make_capture: --mining-from file not found: {m}", file=sys.stderr)
            return 2
        if m.resolve() not in resolved:
            files.append(m)
            resolved.add(m.resolve())
    must_set = {m.resolve() for m in must}
    labels = load_labels(args.corpus)

    # ---- load -------------------------------------------------------------
    max_gap_ns = int(args.max_gap * 1e9)
    corpus = []  # list of (name, [Packet], rel_ns np.array, span_ns)
    skipped = []
    n_fixed = 0
    for path in files:
        try:
            kind, it = read_capture(path)
            pkts, other_lt = [], set()
            for lt, ts_ns, wl, data in it:
                if lt != LINKTYPE_ETHERNET:
                    other_lt.add(lt)
                    continue
                if wl < len(data) or wl > MAX_WIRELEN:
                    wl = len(data)  # e.g. fuzzed headers claiming a 4 GB packet
                    n_fixed += 1
                pkts.append(Packet(ts_ns, wl, data))
        except Exception as e:  # noqa: BLE001 -- corpus may hold odd files
            skipped.append((path.name, f"unreadable: {e.__class__.__name__}: {e}"))
            if path.resolve() in must_set:
                print(f"make_capture: cannot read required file {path}: {e}", file=sys.stderr)
                return 2
            continue
        if not pkts:
            why = f"linktype {sorted(other_lt)}" if other_lt else "no packets"
            skipped.append((path.name, why))
            if path.resolve() in must_set:
                print(f"make_capture: required file {path} has no Ethernet packets ({why})",
                      file=sys.stderr)
                return 2
            continue
        rel = np.empty(len(pkts), dtype=np.int64)
        t, prev = 0, pkts[0].ts_ns
        for i, p in enumerate(pkts):
            t += min(max(p.ts_ns - prev, 0), max_gap_ns)
            prev = p.ts_ns
            rel[i] = t
            analyse(p)
        corpus.append((path.name, pkts, rel, int(rel[-1]), path.resolve() in must_set))

    if not corpus:
        print("make_capture: no Ethernet capture found in the corpus", file=sys.stderr)
        return 2

    per_round = sum(len(c[1]) for c in corpus)
    rounds = -(-args.packets // per_round)
    max_span = max(c[3] for c in corpus)
    window_ns = int(args.round_seconds * 1e9)
    if not args.quiet:
        print(f"corpus: {len(corpus)} Ethernet captures, {per_round} packets "
              f"({len(skipped)} files skipped), longest span after gap clamp "
              f"{max_span / 1e9:.0f} s; ~{rounds} round(s) of {window_ns / 1e9:.0f} s needed "
              f"(loaded in {time.perf_counter() - t0:.1f} s)")
    if rounds + 2 * (-(-max_span // window_ns)) > 256:
        print("make_capture: warning: more than 256 rounds, address shifts repeat "
              "(flows of rounds r and r+256 collide)", file=sys.stderr)

    # ---- schedule ---------------------------------------------------------
    # Every (round, corpus packet) pair gets a timestamp: round start + the
    # file's random offset in the round window + the packet's (gap-clamped)
    # time inside its file.  Files longer than the window run on into the
    # next rounds.  The capture "starts" after `pre` warm-up rounds, so that
    # it opens in the steady state (long flows already running, as on a real
    # link); one global stable sort merges everything and the first --packets
    # records at or after the start are written.
    pre = -(-max_span // window_ns)
    start_ns = int(args.start * 1e9)
    file_of = np.repeat(np.arange(len(corpus)), [len(c[1]) for c in corpus])
    rel_all = np.concatenate([c[2] for c in corpus])
    extra = 0
    while True:
        total_rounds = pre + rounds + pre + extra
        rng = np.random.default_rng(args.seed)
        ts = np.empty(total_rounds * per_round, dtype=np.int64)
        for r in range(total_rounds):
            offs = rng.integers(0, window_ns, size=len(corpus), dtype=np.int64)
            ts[r * per_round:(r + 1) * per_round] = (start_ns + (r - pre) * window_ns
                                                      + offs[file_of] + rel_all)
        keep = np.flatnonzero(ts >= start_ns)
        if len(keep) >= args.packets:
            break
        extra += 1
    order = keep[np.argsort(ts[keep], kind="stable")[:args.packets]]
    rounds_of = order // per_round
    pkt_of = order % per_round
    ts_us = ts[order] // 1000
    present = np.unique(rounds_of)
    rounds = len(present)
    warmup_rounds = int((present < pre).sum())
    del ts, keep

    # ---- write ------------------------------------------------------------
    args.output.parent.mkdir(parents=True, exist_ok=True)
    written = total_cap = total_wire = 0
    n_v4 = n_v6 = n_other = 0
    keys = set()
    flat_pkts = [p for c in corpus for p in c[1]]
    rec = struct.Struct("<IIII")
    step = 100_000
    with open(args.output, "wb") as out:
        out.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, LINKTYPE_ETHERNET))
        for lo in range(0, len(order), step):
            chunks = []
            for r, i, t_us in zip(rounds_of[lo:lo + step].tolist(), pkt_of[lo:lo + step].tolist(),
                                  ts_us[lo:lo + step].tolist()):
                p = flat_pkts[i]
                data = rewrite(p, r)
                cap = len(data)
                chunks.append(rec.pack(t_us // 1_000_000, t_us % 1_000_000, cap, p.wirelen))
                chunks.append(data)
                total_cap += cap
                total_wire += p.wirelen
                if p.ver == 4:
                    n_v4 += 1
                elif p.ver == 6:
                    n_v6 += 1
                else:
                    n_other += 1
                if p.key is not None:
                    keys.add((r & 0xFF, p.key))
            out.write(b"".join(chunks))
            written += len(chunks) // 2
            if not args.quiet:
                print(f"  {written} packets written", end="\r", flush=True)
    if not args.quiet:
        print()
    flows = {shifted_key(k, r) for r, k in keys}
    last_ts = int(ts_us[-1])

    elapsed = time.perf_counter() - t0
    size = args.output.stat().st_size
    first_ts = start_ns / 1e9
    mining = [(c[0], len(c[1]), labels.get(c[0], "")) for c in corpus
              if c[4] or labels.get(c[0], "") in ("mining",)]
    stats = {
        "output": str(args.output),
        "packets": written,
        "rounds": rounds,
        "warmup_rounds": warmup_rounds,
        "packets_per_round": per_round,
        "file_bytes": size,
        "captured_bytes": total_cap,
        "wire_bytes": total_wire,
        "mean_caplen": total_cap / written,
        "mean_wirelen": total_wire / written,
        "flows_5tuple": len(flows),
        "ipv4_packets": n_v4,
        "ipv6_packets": n_v6,
        "non_ip_packets": n_other,
        "duration_s": (last_ts / 1e6) - first_ts,
        "wirelen_fixed_per_round": n_fixed,
        "files_used": len(corpus),
        "files_skipped": len(skipped),
        "skipped": [f"{n}: {why}" for n, why in skipped],
        "mining_files": [{"file": n, "packets_per_round": k, "label": lab} for n, k, lab in mining],
        "seed": args.seed,
        "max_gap_s": args.max_gap,
        "round_seconds": args.round_seconds,
        "corpus": str(args.corpus),
        "generation_s": elapsed,
    }
    meta = args.output.with_name(args.output.name + ".meta.json")
    meta.write_text(json.dumps(stats, indent=2) + "\n")

    print(f"wrote {args.output}: {written} packets from {rounds} round(s) "
          f"({rounds - warmup_rounds} starting in the capture, {warmup_rounds} warm-up) "
          f"({per_round} corpus packets/round, {len(corpus)} files, {len(skipped)} skipped)")
    print(f"  size {size / 1e6:.1f} MB, mean packet {stats['mean_caplen']:.1f} B captured "
          f"/ {stats['mean_wirelen']:.1f} B on the wire")
    print(f"  flows (distinct bidirectional 5-tuples): {len(flows)}")
    print(f"  IPv4 {n_v4}, IPv6 {n_v6}, other {n_other} packets; "
          f"duration {stats['duration_s']:.0f} s")
    if mining:
        print("  mining captures included: " + ", ".join(
            f"{n} ({k} pkts/round{', ' + lab if lab else ''})" for n, k, lab in mining))
    print(f"  generated in {elapsed:.1f} s; stats in {meta}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
