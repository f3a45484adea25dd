"""The numba flow formatter writes what the Python reference (FlowFormatter) says."""

import csv
import io
import ipaddress
import json

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from detector.engine.dtypes import FLOW_DTYPE, IPV4_MAPPED
from detector.sinks.flow_records import FIELDS, FlowFormatter
from detector.sinks.flow_text import FlowTextFormatter

U64 = st.integers(0, 2**64 - 1)
V6 = st.one_of(
    st.integers(0, 2**128 - 1),
    # addresses with zero runs of every length and place (RFC 5952 '::' choice)
    st.lists(st.sampled_from([0, 0, 0, 1, 0xFFFF, 0xABC]), min_size=8, max_size=8).map(
        lambda g: sum(v << (16 * (7 - k)) for k, v in enumerate(g))),
)
ADDR = st.one_of(st.integers(0, 2**32 - 1).map(lambda v: (0, int(IPV4_MAPPED) | v)),
                 V6.map(lambda v: (v >> 64, v & (2**64 - 1))))
TS = st.integers(0, 9_000_000_000 * 1_000_000_000)   # 1970 .. 2255


@st.composite
def flows(draw):
    n = draw(st.integers(1, 20))
    arr = np.zeros(n, FLOW_DTYPE)
    for i in range(n):
        (arr["client_hi"][i], arr["client_lo"][i]) = draw(ADDR)
        (arr["server_hi"][i], arr["server_lo"][i]) = draw(ADDR)
        arr["client_port"][i] = draw(st.integers(0, 65535))
        arr["server_port"][i] = draw(st.integers(0, 65535))
        arr["proto"][i] = draw(st.integers(0, 255))
        arr["tunnel"][i] = draw(st.integers(0, 511))
        arr["flags_c2s"][i] = draw(st.integers(0, 255))
        arr["flags_s2c"][i] = draw(st.integers(0, 255))
        arr["end_reason"][i] = draw(st.integers(0, 3))
        for f in ("packets_c2s", "packets_s2c", "bytes_c2s", "bytes_s2c", "payload_c2s",
                  "payload_s2c", "fragments"):
            arr[f][i] = draw(U64)
        first = draw(TS)
        arr["first_ts"][i] = first
        arr["last_ts"][i] = first + draw(st.integers(0, 10**15))
        arr["flow_id"][i] = draw(st.integers(0, 2**63 - 1))
        arr["first_frame"][i] = draw(st.integers(0, 2**63 - 1))
    return arr


def normalise(rec):
    """Addresses compared as addresses; duration to the ns (both are exact decimals)."""
    rec = dict(rec)
    for k in ("client_ip", "server_ip"):
        rec[k] = ipaddress.ip_address(rec[k])
    rec["duration_s"] = round(float(rec["duration_s"]) * 1e9)
    return rec


@settings(max_examples=200, deadline=None)
@given(flows())
def test_jsonl_matches_reference(arr):
    text = FlowTextFormatter("jsonl").format(arr).decode()
    lines = text.splitlines()
    assert len(lines) == len(arr) and text.endswith("\n")
    for line, ref in zip(lines, FlowFormatter().records(arr)):
        got = json.loads(line)
        assert list(got) == list(FIELDS)
        assert normalise(got) == normalise(ref)
        # the text itself: addresses and timestamps exactly as Python prints them
        assert got["client_ip"] == ref["client_ip"] and got["server_ip"] == ref["server_ip"]
        assert got["first_ts"] == ref["first_ts"] and got["last_ts"] == ref["last_ts"]


@settings(max_examples=50, deadline=None)
@given(flows())
def test_csv_matches_reference(arr):
    rows = list(csv.reader(io.StringIO(FlowTextFormatter("csv").format(arr).decode())))
    for row, ref in zip(rows, FlowFormatter().records(arr)):
        got = dict(zip(FIELDS, row))
        want = {k: str(v) for k, v in ref.items()}
        got["duration_s"] = round(float(got["duration_s"]) * 1e9)
        want["duration_s"] = round(float(want["duration_s"]) * 1e9)
        assert got == want
