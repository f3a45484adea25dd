"""CryptoNote / RandomX stratum (xmrig dialect) message parser (PROTOCOLS.md §4).

Spec: xmrig/xmrig src/base/net/stratum/Client.cpp (login, submit, parseJob,
parseLogin, ping), Job.cpp (setTarget); https://github.com/xmrig/xmrig.
JSON-RPC 2.0, params are objects. The bare names ``login``/``job``/``submit``
are generic: only the mining shapes count (a job with blob+job_id+target, a
login with an agent or an algo list, a submit with an 8-hex nonce and a
64-hex result). A login with only login/pass is weak evidence.
"""

from __future__ import annotations

from .jsonrpc import coerce_message
from .message import (CONCLUSIVE, KIND_JOB, KIND_KEEPALIVE, KIND_LOGIN, KIND_SHARE, STRONG,
                      TOCLIENT, TOSERVER, WEAK, XMRIG, MiningMessage, as_int, is_hex,
                      message_id, untrusted_text)

METHOD_LOGIN = "login"
METHOD_JOB = "job"
METHOD_SUBMIT = "submit"
METHOD_KEEPALIVED = "keepalived"

TARGET_HEX_32 = 8            # 4-byte LE target
TARGET_HEX_64 = 16           # 8-byte LE target
BLOB_MIN_HEX = 76             # >= 38 bytes; real blobs are 76-100 bytes (152-200 hex)
NONCE_HEX = 8
RESULT_HEX = 64
SEED_HASH_HEX = 64
KNOWN_AGENT_PREFIXES = ("xmrig", "xmr-stak", "srbminer", "xmr/", "xmrig-proxy",
                        "teamredminer", "cast_xmr", "jce", "wildrig", "lolminer")

# what parse() can accept, for dispatch's routing (see its docstring)
METHODS = {TOSERVER: (METHOD_LOGIN, METHOD_SUBMIT, METHOD_KEEPALIVED), TOCLIENT: (METHOD_JOB,)}
REPLY_LISTS = ()
REPLY_OBJECTS = True      # login result {id, job, status}


def _msg(kind, strength, direction, sig, obj, **fields) -> MiningMessage:
    return MiningMessage(kind=kind, variant=XMRIG, strength=strength, direction=direction,
                         signature=f"xmrig.{sig}", method=obj.get("method"),
                         msg_id=message_id(obj), specific=True, **fields)


def submit_message(direction, msg_id, job_id, algo) -> MiningMessage:
    """An xmrig share (nonce and result checked by the caller)."""
    return MiningMessage(kind=KIND_SHARE, variant=XMRIG, strength=STRONG, direction=direction,
                         signature="xmrig.submit", method=METHOD_SUBMIT, msg_id=msg_id,
                         specific=True, job_id=job_id, algo=algo)


def job_message(direction, msg_id, job_id, target, algo, height) -> MiningMessage:
    """A job pushed by the pool (its shape checked by the caller: is_job_shape)."""
    return MiningMessage(kind=KIND_JOB, variant=XMRIG, strength=CONCLUSIVE, direction=direction,
                         signature="xmrig.job", method=METHOD_JOB, msg_id=msg_id, specific=True,
                         job_id=job_id, target=target, target_format="cryptonote", algo=algo,
                         height=height)


def is_job_shape(job) -> bool:
    """A CryptoNote job object: hex blob, job_id, 4- or 8-byte hex target."""
    return (isinstance(job, dict) and is_hex(job.get("blob"), min_len=BLOB_MIN_HEX)
            and untrusted_text(job.get("job_id")) is not None
            and (is_hex(job.get("target"), TARGET_HEX_32) or is_hex(job.get("target"), TARGET_HEX_64)))


def _job_fields(job: dict) -> dict:
    algo = untrusted_text(job.get("algo"))
    height = as_int(job.get("height"))
    return {"job_id": untrusted_text(job.get("job_id")), "target": job.get("target"),
            "target_format": "cryptonote", "algo": algo, "height": height}


def _login(obj: dict, params: dict, direction: str) -> MiningMessage | None:
    login = untrusted_text(params.get("login"))
    if login is None:
        return None
    agent = untrusted_text(params.get("agent"))
    algos = params.get("algo")
    algo_list = isinstance(algos, list) and algos and all(isinstance(a, str) for a in algos)
    known_agent = agent is not None and agent.lower().startswith(KNOWN_AGENT_PREFIXES)
    if algo_list or known_agent:
        strength = CONCLUSIVE
    elif agent is not None:
        strength = STRONG
    else:
        strength = WEAK
    rigid = untrusted_text(params.get("rigid"))
    return _msg(KIND_LOGIN, strength, direction, "login", obj, worker=login, agent=agent,
                algo=untrusted_text(algos[0]) if algo_list else None,
                workers_extra=(f"rigid:{rigid}",) if rigid else ())


def parse(message: dict | bytes, direction: str) -> MiningMessage | None:
    """Parse one xmrig-dialect message; None when the mining shape is absent."""
    obj = coerce_message(message)
    if obj is None:
        return None
    method, params = obj.get("method"), obj.get("params")
    if isinstance(method, str):
        if not isinstance(params, dict):
            return None
        if direction == TOSERVER and method == METHOD_LOGIN:
            return _login(obj, params, direction)
        if direction == TOSERVER and method == METHOD_SUBMIT:
            if (is_hex(params.get("nonce"), NONCE_HEX) and is_hex(params.get("result"), RESULT_HEX)
                    and untrusted_text(params.get("job_id")) is not None):
                return submit_message(direction, message_id(obj),
                                      untrusted_text(params.get("job_id")),
                                      untrusted_text(params.get("algo")))
            return None
        if direction == TOSERVER and method == METHOD_KEEPALIVED:
            return _msg(KIND_KEEPALIVE, WEAK, direction, "keepalived", obj)
        if direction == TOCLIENT and method == METHOD_JOB and is_job_shape(params):
            fields = _job_fields(params)
            return job_message(direction, message_id(obj), fields["job_id"], fields["target"],
                               fields["algo"], fields["height"])
        return None
    result = obj.get("result")
    if direction == TOCLIENT and isinstance(result, dict) and is_job_shape(result.get("job")):
        # login result: {"id": session, "job": {...}, "status": "OK"}
        return _msg(KIND_JOB, CONCLUSIVE, direction, "login_result", obj, is_reply=True,
                    result_ok=True, **_job_fields(result["job"]))
    return None
