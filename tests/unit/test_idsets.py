"""members(): numpy membership of flow ids in Python collections, against `in`."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from detector.idsets import members

IDS = st.lists(st.integers(-2**63, 2**63 - 1), max_size=60)


@settings(deadline=None)                 # the first example may compile the kernel
@given(IDS, IDS)
def test_members_agrees_with_in(ids, keys):
    arr = np.array(ids, np.int64)
    for collection in (set(keys), dict.fromkeys(keys), list(keys), np.array(keys, np.int64)):
        got = members(arr, collection)
        assert got.dtype == bool and got.shape == arr.shape
        assert got.tolist() == [i in keys for i in ids]


def test_members_on_flow_id_ranges():
    ids = np.arange(1, 10_001, dtype=np.int64)
    tracked = {3, 9_999, 10_000, 20_000, 0}
    assert np.flatnonzero(members(ids, tracked)).tolist() == [2, 9_998, 9_999]


def test_members_of_a_strided_column_and_of_many_keys():
    """A field of a record array (what the engine hands over), and more keys than ids:
    runs of consecutive ids and ids far apart, as flow ids come."""
    rows = np.zeros(5000, [("pad", np.uint8, 7), ("flow_id", np.int64)])
    rows["flow_id"] = np.random.default_rng(7).permutation(np.arange(10**6, 10**6 + 5000))
    rows["flow_id"][::500] = np.arange(10) * 2**40
    keys = set(range(10**6, 10**6 + 20000, 3)) | {2**40, 5 * 2**40, -1}
    got = members(rows["flow_id"], keys)
    assert got.tolist() == [i in keys for i in rows["flow_id"].tolist()]
    assert 1600 < got.sum() < 1750


PAIRS = st.lists(st.tuples(st.integers(0, 3), st.sampled_from([0, 1, 2**63, 2**64 - 1])),
                 max_size=12)


@given(PAIRS, PAIRS)
def test_pair_members_agrees_with_in(rows, keys):
    from detector.idsets import pair_members
    hi = np.array([h for h, _ in rows], np.uint64)
    lo = np.array([lo for _, lo in rows], np.uint64)
    for collection in (set(keys), dict.fromkeys(keys)):
        got = pair_members(hi, lo, collection)
        assert got.dtype == bool and got.shape == (len(rows),)
        assert got.tolist() == [r in collection for r in rows]
