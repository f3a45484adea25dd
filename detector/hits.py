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
HIT_FIELDS = ("schema_version", "state", "capture") + FLOW_PART + ("session_start_ts",) \
    + MINING_PART

STATE_DETECTED = "detected"   # first written when the flow is recognised, still open
STATE_UPDATED = "updated"     # an active-timeout record of a long flow
STATE_ENDED = "ended"         # the flow ended: final values


def hit_record(flow: dict, tracked, capture: str, state: str) -> dict:
    """Build the hit of one flow from its flow record and its TrackedFlow."""
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
    return hit
