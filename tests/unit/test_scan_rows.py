"""scan_command.rows_of: the rows of a batch of ended flows whose ids are wanted."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from detector.engine.dtypes import FLOW_DTYPE
from detector.scan_command import rows_of


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=50), max_size=40),
       st.sets(st.integers(min_value=-5, max_value=60), min_size=1, max_size=12))
def test_rows_of_is_isin(ids, wanted):
    flows = np.zeros(len(ids), FLOW_DTYPE)
    flows["flow_id"] = ids
    assert rows_of(flows, wanted).tolist() == \
        np.flatnonzero(np.isin(flows["flow_id"], list(wanted))).tolist()


def test_rows_of_repeated_ids_and_bounds():
    flows = np.zeros(6, FLOW_DTYPE)
    flows["flow_id"] = [7, 3, 7, 1 << 40, 2, 9]
    assert rows_of(flows, {7}).tolist() == [0, 2]
    assert rows_of(flows, {1 << 40, 9, 100}).tolist() == [3, 5]
    assert rows_of(flows, {0}).tolist() == []
