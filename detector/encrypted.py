"""Encrypted and proxied mining: hits from names, addresses, fingerprints and timing.

Runs when flows end (never per packet). Only flows whose client opened with a
TLS ClientHello or a proxy request (FlowIntel exists) are considered: their
content cannot be read, so what stays visible decides (PROTOCOLS.md 11, 14):

signal      what it is                                                     strength
sni         the ClientHello's server name is under a pool domain           strong
dns         the client was told by DNS that this server has a pool name    strong
proxy       the proxy was asked for a host under a pool domain             strong
pool_ip     the server address is a known pool address (pools.yaml)        strong
ja4         the client's JA4 is a listed miner's, or the JA4 of a flow of
            the same client already known to mine                          weak
timing      long-lived, Poisson submits answered within one RTT, constant
            submit length, pushes every few seconds to minutes              weak -> medium
cross_flow  the server's pushes coincide with its pushes to other clients
            (one job broadcast to a pool's miners), or the server address
            was seen in another mining flow of this capture                 medium

`decide()` is the whole decision, a pure function of which signals hold, so
`minewatch eval --explain` can replay it with signals taken away (ablation).
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np

from .engine.records import take_rows
from .hits import encrypted_hit_record
from .idsets import members, pair_members
from .pool_names import PoolNames, applies
from .sinks.flow_records import AddressCache
from .timing import features, gate_features

SIGNALS = ("sni", "dns", "proxy", "pool_ip", "ja4", "timing", "cross_flow")
NAME_SIGNALS = ("sni", "dns", "proxy", "pool_ip")
UNTIMED = tuple(s for s in SIGNALS if s != "timing")    # what may hold below the timing gate
LEARNED_LIMIT = 65536
TCP = 6


def decide(signals, web, score, threshold):
    """(is_mining, confidence) from the set of signals that hold for a flow.

    A pool name or address is enough unless the client offered a web ALPN
    (a pool's dashboard). Otherwise the timing shape decides ("timing" holds
    when the flow passed the gate, every required feature and the lower,
    cross-flow threshold): alone it needs the full `threshold`; with a name,
    shared pushes or a known miner JA4 the lower one suffices."""
    names = [s for s in NAME_SIGNALS if s in signals]
    if names and not web:
        return True, "pool_name" if set(names) - {"pool_ip"} else "pool_ip"
    if "timing" not in signals:
        return False, None
    if score >= threshold:
        return True, "timing"
    if names or "cross_flow" in signals or "ja4" in signals:
        return True, "timing"
    return False, None


class EncryptedDetector:
    """Turns ended flows with FlowIntel into hits; learns pool addresses as it goes."""

    def __init__(self, pools, rules, intel, dns, addresses=None):
        """`pools`: a PoolNames (pool list and learned hosts), or a PoolList."""
        if not isinstance(pools, PoolNames):
            pools = PoolNames(pools)
        self.pools, self.rules, self.intel, self.dns = pools, rules, intel, dns
        self.addresses = addresses if addresses is not None else AddressCache()
        self.learned_ips = OrderedDict()     # server address -> what showed it mines
        self.learned_ja4 = OrderedDict()     # (client address, ja4) -> flow_id
        self.ja4_clients = {}                # client address -> its entries in learned_ja4

    def carry_over(self, previous):
        """Keep what `previous` learned (pool lists reloaded in a running capture)."""
        self.learned_ips = previous.learned_ips
        self.learned_ja4 = previous.learned_ja4
        self.ja4_clients = previous.ja4_clients

    def _remember(self, table, key, value):
        """Insert or refresh; return the key pushed out beyond LEARNED_LIMIT, if any."""
        table.pop(key, None)
        table[key] = value
        if len(table) > LEARNED_LIMIT:
            return table.popitem(last=False)[0]
        return None

    def learn(self, hit):
        """A mining flow (any kind): its server address and its client's JA4 become known."""
        if hit.get("proxy_target"):
            return                          # a proxy serves everyone: never mark its address
        self._remember(self.learned_ips, hit["server_ip"], hit["flow_id"])
        if hit.get("ja4"):
            key = (hit["client_ip"], hit["ja4"])
            self.ja4_clients[key[0]] = self.ja4_clients.get(key[0], 0) + 1
            gone = self._remember(self.learned_ja4, key, hit["flow_id"])
            if gone is not None:
                self.ja4_clients[gone[0]] -= 1
                if not self.ja4_clients[gone[0]]:
                    del self.ja4_clients[gone[0]]

    def on_ended(self, rows, formatter, capture, state):
        """Hits among ended flows `rows` (FLOW_DTYPE) that have FlowIntel.

        Most such flows are ordinary TLS: a flow can only be mining with a pool
        name or address (`_named`) or with a timing shape above the lower
        threshold, which needs the timing gate. So every flow gets only the gate
        and the name check; the whole features, the formatting and the close look
        are for the few that pass one of them."""
        if len(rows) == 0:
            return []
        looked, named = self._worth_a_look(rows)
        if not looked:
            return []
        rows = take_rows(rows, looked)
        feats = features(rows)
        gated, score, required, synced, passed = self.rules.score(feats)
        timed = gated & required & (score >= self.rules.cross_threshold)
        keep = [k for k in range(len(looked)) if named[k] or timed[k]]
        if not keep:
            return []
        hits = []
        for k, flow in zip(keep, formatter.records(take_rows(rows, keep))):
            intel = self.intel.get(flow["flow_id"])
            signals, evidence = self._signals(flow, int(rows["first_ts"][k]), intel, k, gated,
                                              score, required, synced)
            web = self._web(intel)
            mining, confidence = decide(signals, web, float(score[k]), self.rules.threshold)
            if not mining:
                continue
            timing = {name: round(float(feats[name][k]), 4) for name in feats}
            timing["score"] = round(float(score[k]), 4)
            timing["in_range"] = sorted(n for n in passed if passed[n][k])
            timing["required_ok"] = bool(required[k])
            timing["scored"] = bool(gated[k])
            timing["web_alpn"] = web
            hit = encrypted_hit_record(flow, intel, capture, state,
                                       variant="proxied" if intel.proxy_kind else "encrypted",
                                       confidence=confidence, score=float(score[k]),
                                       signals=sorted(signals), evidence=evidence,
                                       pool=self._pool_name(evidence), timing=timing)
            self.learn(hit)
            hits.append(hit)
        return hits

    @staticmethod
    def _pool_name(evidence):
        for e in evidence:
            if e.get("pool"):
                return e["pool"]
        return None

    def _worth_a_look(self, rows):
        """(positions, named) of the TCP flows among `rows` that have FlowIntel and
        pass the timing gate or may have a name signal; named[i]: `_named` of the i-th.

        Thousands of ordinary TLS flows end per batch: `_maybe_named` rules out most of
        them at once, and only the gated and the possibly named get `_named`."""
        gate = self.rules.gate(gate_features(rows))
        ids = rows["flow_id"]
        tcp = rows["proto"] == TCP
        maybe = tcp & (gate | self._maybe_named(rows, ids))
        # below the gate no timing signal holds, so the other signals must decide
        # (a pool name does not, when the client offered a web ALPN: a dashboard);
        # decide() then depends on `web` alone
        names_decide = {web: decide(UNTIMED, web, 0.0, self.rules.threshold)[0]
                        for web in (False, True)}
        looked, named = [], []
        for k in np.flatnonzero(maybe).tolist():
            intel = self.intel.get(int(ids[k]))
            if intel is None:
                continue
            row = rows[k]
            is_named = self._named(intel, (int(row["server_hi"]), int(row["server_lo"])),
                                   (int(row["client_hi"]), int(row["client_lo"])),
                                   int(row["first_ts"]))
            if gate[k] or (is_named and names_decide[self._web(intel)]):
                looked.append(k)
                named.append(is_named)
        return looked, named

    def _maybe_named(self, rows, ids):
        """Boolean mask over `rows` (FLOW_DTYPE; `ids` their flow_id): False where
        `_named` is surely False, told without reading the flows' FlowIntel: neither
        server name nor proxy host may be under a pool name (IntelTable.maybe_named),
        the server is neither a pool address nor named by a DNS answer."""
        if self.intel.names is not self.pools:           # not followed: look at all
            return np.ones(len(rows), bool)
        hi, lo = rows["server_hi"], rows["server_lo"]
        maybe = pair_members(hi, lo, self.pools.address_keys)
        if self.dns.entries:
            maybe |= pair_members(hi, lo, self.dns.answered)
        maybe |= members(ids, self.intel.maybe_named)
        if self.intel.peeks:                             # still being read: names may come
            maybe |= members(ids, self.intel.peeks)
        return maybe

    def _web(self, intel):
        """Whether the client offered a web ALPN (h2, http/1.1: not a miner's protocol)."""
        return bool(intel.alpn) and any(a in self.rules.web_alpn for a in intel.alpn)

    def _named(self, intel, server_key, client_key, first_ns):
        """Whether a name signal can hold for this flow (the cheap half of `_signals`,
        which reads the same names); the keys are (hi, lo) addresses as the flow table
        holds them."""
        if self.pools.name_match(intel.sni) is not None:
            return True
        if intel.proxy_host:                 # the proxy was asked for a name: only it counts
            return self.pools.name_match(intel.proxy_host) is not None
        if server_key in self.pools.address_keys:
            return True
        if not self.dns.entries:
            return False                     # no answer for a pool name seen (yet)
        server = self.addresses.text(*server_key)
        client = self.addresses.text(*client_key)
        return any(self.pools.name_match(n) is not None
                   for n in self.dns.names(client, server, first_ns))

    def _signals(self, flow, first_ns, intel, k, gated, score, required, synced):
        signals, evidence = set(), []

        def add(signal, **detail):
            signals.add(signal)
            evidence.append({"signal": signal, **detail})

        client = flow["client_ip"]
        entry = self.pools.name_match(intel.sni)
        if applies(entry, client):
            add("sni", name=intel.sni, pool=entry.get("pool"), source=entry.get("source"))
        if intel.proxy_host:
            entry = self.pools.name_match(intel.proxy_host)
            if applies(entry, client):
                add("proxy", name=intel.proxy_host, pool=entry.get("pool"),
                    source=entry.get("source"))
        else:
            for name in self.dns.names(client, flow["server_ip"], first_ns):
                entry = self.pools.name_match(name)
                if applies(entry, client):
                    add("dns", name=name, pool=entry.get("pool"), source=entry.get("source"))
                    break
            entry = self.pools.address_match(flow["server_ip"])
            if applies(entry, client):
                add("pool_ip", address=flow["server_ip"], pool=entry.get("pool"),
                    source=entry.get("source"))
            if flow["server_ip"] in self.learned_ips:
                add("cross_flow", reason="server seen mining", flow_id=self.learned_ips[
                    flow["server_ip"]])
        if (self.pools.ja4 or flow["client_ip"] in self.ja4_clients) and intel.hello is not None:
            if intel.ja4 in self.pools.ja4:
                add("ja4", ja4=intel.ja4, source=self.pools.ja4[intel.ja4].get("source"))
            elif (flow["client_ip"], intel.ja4) in self.learned_ja4:
                add("ja4", ja4=intel.ja4, reason="same client and JA4 as a mining flow",
                    flow_id=self.learned_ja4[(flow["client_ip"], intel.ja4)])
        if gated[k] and required[k] and score[k] >= self.rules.cross_threshold:
            add("timing", score=round(float(score[k]), 4))
        if synced[k]:
            add("cross_flow", reason="pushes shared with other clients of the server")
        return signals, evidence
