"""Hit records: one reported mining flow with its evidence (docs/hits.md).

A hit is the flow record of `minewatch flows` plus what the protocol parsers
found. Strings in it (worker, agent, pool...) come from traffic: they are
kept as sent, bounded in length, and every writer escapes or neutralises
them for its format.
"""

from .sinks.flow_records import iso_ns_one

HIT_SCHEMA_VERSION = 1

FLOW_PART = ("transport", "client_ip", "client_port", "server_ip", "server_port",
             "packets_c2s", "packets_s2c", "bytes_c2s", "bytes_s2c", "payload_bytes_c2s",
             "payload_bytes_s2c", "first_ts", "last_ts", "duration_s", "tunnel", "flow_id",
             "first_frame")
MINING_PART = ("variant", "coin", "algorithm", "worker", "workers", "agent", "pool",
               "shares_submitted", "shares_accepted", "shares_rejected", "difficulty",
               "difficulty_changes", "jobs", "hash_family", "hashrate_hps", "hashrate_low",
               "hashrate_high", "hashrate_shares", "hashrate_hashes", "hashrate_first_share_ts",
               "hashrate_last_share_ts",
               "reported_hashrate_hs", "confidence", "score", "signatures", "evidence",
               "events")
# what stays visible of encrypted/proxied flows (docs/encrypted.md); null when not seen
ENCRYPTED_PART = ("sni", "ja3", "ja4", "alpn", "proxy_target", "timing")
HIT_FIELDS = ("schema_version", "state", "capture") + FLOW_PART + ("session_start_ts",) \
    + MINING_PART + ENCRYPTED_PART

STATE_DETECTED = "detected"   # first written when the flow is recognised, still open
STATE_UPDATED = "updated"     # an active-timeout record of a long flow
STATE_ENDED = "ended"         # the flow ended: final values


def intel_fields(hit, intel):
    """Fill ENCRYPTED_PART (except timing) from a FlowIntel, or with None."""
    hit["sni"] = intel.sni if intel is not None else None
    hit["ja3"] = intel.ja3 if intel is not None else None
    hit["ja4"] = intel.ja4 if intel is not None else None
    hit["alpn"] = list(intel.alpn) if intel is not None and intel.alpn else None
    hit["proxy_target"] = intel.proxy_target if intel is not None else None
    hit.setdefault("timing", None)


def hit_record(flow: dict, tracked, capture: str, state: str, intel=None) -> dict:
    """Build the hit of one flow from its flow record and its TrackedFlow
    (`intel`: the flow's FlowIntel when it went through a proxy)."""
    info = tracked.session.to_dict()
    rate = tracked.session.hashrate()
    hit = {"schema_version": HIT_SCHEMA_VERSION, "state": state, "capture": capture}
    for k in FLOW_PART:
        hit[k] = flow[k]
    # an active timeout starts a new record of the flow, not a new session: the
    # session keeps the start of its first record (the ledger's flow identity)
    if tracked.start_ts is None:
        tracked.start_ts = flow["first_ts"]
    hit["session_start_ts"] = tracked.start_ts
    for k in MINING_PART:
        hit[k] = info.get(k)
    hit["hashrate_hps"] = round(rate.hashrate_hs, 3) if rate else None
    hit["hashrate_low"] = round(rate.low_hs, 3) if rate else None
    hit["hashrate_high"] = round(rate.high_hs, 3) if rate else None
    # what the estimate was made of, so a ledger can pool flows (docs/ledger.md)
    tally = tracked.session.tally
    hit["hashrate_shares"] = rate.shares if rate else None
    hit["hashrate_hashes"] = rate.hashes if rate else None
    hit["hashrate_first_share_ts"] = iso_ns_one(tally.first_ts_ns) if rate else None
    hit["hashrate_last_share_ts"] = iso_ns_one(tally.last_ts_ns) if rate else None
    hit["hash_family"] = tracked.session.hash_family
    hit["score"] = round(info["score"], 4) if info.get("score") is not None else None
    hit["signatures"] = sorted(tracked.signatures)
    intel_fields(hit, intel)
    if hit["pool"] is None and intel is not None and intel.proxy_host:
        hit["pool"] = intel.proxy_host        # the host the miner asked its proxy for
    return hit


def encrypted_hit_record(flow: dict, intel, capture: str, state: str, variant, confidence,
                         score, signals, evidence, pool, timing) -> dict:
    """The hit of a flow whose content is encrypted (detector/encrypted.py): the
    mining fields the content would give are null; signals and timing say why."""
    hit = {"schema_version": HIT_SCHEMA_VERSION, "state": state, "capture": capture}
    for k in FLOW_PART:
        hit[k] = flow[k]
    hit["session_start_ts"] = flow["first_ts"]    # scored once, on the flow's final record
    for k in MINING_PART:
        hit[k] = None
    hit["variant"] = variant
    hit["pool"] = pool
    hit["confidence"] = confidence
    hit["score"] = round(score, 4)
    hit["signatures"] = [f"encrypted.{s}" for s in signals]
    hit["evidence"] = evidence
    hit["events"] = []
    intel_fields(hit, intel)
    hit["timing"] = timing
    return hit
