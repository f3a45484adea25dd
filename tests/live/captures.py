"""Generated captures for the live tests: many mining and lookalike flows at once.

Every dialect of tests/gen/mining.py and every lookalike, each on its own
client port, starting a few milliseconds apart so the flows overlap (the
kernel's fanout then really spreads concurrent flows over the workers).
`rounds` repeats the set on new client ports, later, for longer captures.
"""

import random

from tests.gen import mining as gen
from tests.gen.timeline import S, T0_NS, Timeline
from tests.gen.tls_mining import Xmrig, job_schedule, mine

MINING = (gen.stratum_v1, gen.xmrig, gen.ethproxy, gen.ethstratum1, gen.ethstratum2,
          gen.zcash, gen.stratum_v2, gen.getwork, gen.getblocktemplate)
LOOKALIKES = (gen.jsonrpc2_generic, gen.electrum, gen.chat_app, gen.eth_node_rpc,
              gen.ticket_post, gen.bitcoin_p2p_version)
MINING_PORT = 3333
STAGGER_NS = 7_000_000         # between flow starts
STEP_NS = 20_000_000           # between packets of a flow


def mixed_capture(path, rounds=1, v=4):
    """Write the capture; return how many of its flows are mining."""
    pkts = []
    cport = 40000
    k = 0
    for r in range(rounds):
        for build in MINING + LOOKALIKES:
            tr = gen.Transport(v=v, cport=cport, sport=MINING_PORT)
            t0 = gen.T0_NS + r * 60_000_000_000 + k * STAGGER_NS
            pkts += gen.tcp_packets(build(), tr, t0_ns=t0, step_ns=STEP_NS)
            cport += 1
            k += 1
        mid = gen.Transport(v=v, cport=cport, sport=MINING_PORT, handshake=False)
        pkts += gen.tcp_packets(gen.midstream_stratum(), mid,
                                t0_ns=gen.T0_NS + r * 60_000_000_000 + k * STAGGER_NS,
                                step_ns=STEP_NS)
        cport += 1
        k += 1
    pkts.sort(key=lambda p: p.ts_ns)
    gen.write_capture(path, pkts)
    return rounds * (len(MINING) + 1)


def tls_miner_capture(path, sni, seed=7):
    """One xmrig miner over TLS for five minutes, naming its pool only by SNI.

    Replayed in seconds, its timing shape is gone: only the name can give it away.
    """
    rng = random.Random(seed)
    tl = Timeline()
    end = T0_NS + 300 * S
    jobs = job_schedule(rng, T0_NS, end)
    mine(tl, rng, "10.20.0.5", 45000, "198.51.100.77", 443, T0_NS, end, jobs,
         Xmrig(rng.randrange(1 << 30)), sni=sni)
    tl.write(path)


def fragments_capture(path):
    """IPv4 fragments: one UDP datagram whole in 4 fragments, one missing its second
    fragment (3 of 4 sent), and a packet that is not fragmented. Returns the frames."""
    from scapy.all import IP, UDP, Ether, Raw, fragment, wrpcap

    eth = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")
    whole = fragment(IP(src="10.40.0.1", dst="10.40.0.2", id=101) / UDP(sport=5000, dport=6000)
                     / Raw(bytes(3000)), fragsize=800)
    cut = fragment(IP(src="10.40.0.1", dst="10.40.0.2", id=102) / UDP(sport=5001, dport=6000)
                   / Raw(bytes(3000)), fragsize=800)
    assert len(whole) == len(cut) == 4
    plain = IP(src="10.40.0.1", dst="10.40.0.2") / UDP(sport=5002, dport=6000) / Raw(b"x")
    frames = [eth / f for f in whole] + [eth / f for f in cut[:1] + cut[2:]] + [eth / plain]
    wrpcap(str(path), frames)
    return len(frames)


def split_capture(path, records, head, tail):
    """The first `records` records of the classic pcap `path` in `head`, the rest in
    `tail` (same link type and timestamps): a capture replayed in two goes."""
    import dpkt

    with open(path, "rb") as f:
        reader = dpkt.pcap.Reader(f)
        packets = list(reader)
        linktype, snaplen = reader.datalink(), reader.snaplen
    for out, part in ((head, packets[:records]), (tail, packets[records:])):
        with open(out, "wb") as f:
            # the file's own snaplen: tcpreplay cuts packets to it (dpkt's default is 1500)
            writer = dpkt.pcap.Writer(f, snaplen=snaplen, linktype=linktype)
            for ts, buf in part:
                writer.writepkt(buf, ts)
