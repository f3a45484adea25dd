"""Routing by method name gives exactly what trying every dialect in order gives.

`dispatch.parse_json` only calls the parsers whose module declares the
message's method (``METHODS``) or, for replies, read results of its shape
(``REPLY_LISTS`` lengths, ``REPLY_OBJECTS``). The reference below is the plain chain it replaced: every
dialect in order, then the generic reply. A parser that accepts a method it
does not declare makes these tests fail.
"""

import json
import re

from hypothesis import given, settings
from hypothesis import strategies as st

from detector.protocols import dispatch
from detector.protocols.jsonrpc import coerce_message, split_lines
from detector.protocols.message import TOCLIENT, TOSERVER
from tests.gen.mining import LOOKALIKES, MINING, midstream_stratum

DIRECTIONS = (TOSERVER, TOCLIENT)


def chain_parse(message, direction):
    """Every dialect in DIALECTS order, then the generic reply (no routing)."""
    obj = coerce_message(message)
    if obj is None:
        return None
    for dialect in dispatch.DIALECTS:
        msg = dialect.parse(obj, direction)
        if msg is not None:
            return msg
    return dispatch.generic_reply(obj, direction)


def dialogue_objects():
    """Every JSON object of the generated dialogues (mining and lookalikes)."""
    dialogues = [f() for f in (*MINING.values(), *LOOKALIKES.values())]
    dialogues.append(midstream_stratum())
    objs = []
    for dialogue in dialogues:
        for _to_server, data in dialogue.messages:
            lines, _rest, _events = split_lines(data)
            for line in lines:
                obj = coerce_message(line)
                if obj is not None:
                    objs.append(obj)
    return objs


OBJECTS = dialogue_objects()
DECLARED = sorted({m for d in dispatch.DIALECTS for ms in d.METHODS.values() for m in ms})
# names to try, independent of the declarations: every name-like string constant of the
# dialect modules (method names and more) and every method the dialogues send
NAMES = sorted({v for d in dispatch.DIALECTS for v in vars(d).values()
                if isinstance(v, str) and re.fullmatch(r"[A-Za-z_.]+", v)}
               | {o["method"] for o in OBJECTS if isinstance(o.get("method"), str)})


def test_dialogue_messages_route_as_the_chain():
    recognised = 0
    for obj in OBJECTS:
        for direction in DIRECTIONS:
            routed = dispatch.parse_json(obj, direction)
            assert routed == chain_parse(obj, direction), (direction, obj)
            recognised += routed is not None and routed.variant is not None
    assert recognised > 40          # the dialogues exercise the dialect parsers


def test_dialogue_methods_are_declared():
    """Every method a dialect recognised in the dialogues is routed to it."""
    for obj in OBJECTS:
        for direction in DIRECTIONS:
            msg = chain_parse(obj, direction)
            if msg is not None and isinstance(obj.get("method"), str):
                assert obj["method"] in DECLARED, obj["method"]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=8) | st.dictionaries(st.text(max_size=10), inner,
                                                                max_size=6),
    max_leaves=25)
any_method = st.one_of(st.sampled_from(NAMES), st.text(max_size=24), st.none(),
                       st.integers(), st.booleans())


def test_real_shapes_under_every_method_name_route_as_the_chain():
    """Each real message's params/result under every method name, in both directions:
    a parser accepting a shape under a name it does not declare shows here."""
    assert set(DECLARED) <= set(NAMES)
    for obj in OBJECTS:
        for method in NAMES:
            swapped = dict(obj, method=method)
            for direction in DIRECTIONS:
                assert dispatch.parse_json(swapped, direction) == chain_parse(swapped, direction)


def test_real_replies_at_every_list_length_route_as_the_chain():
    """Each real list result cut or repeated to every length up to 9 (a 4-element
    eth_getWork result, a subscribe result without its size...): a parser reading a
    list length it does not declare in REPLY_LISTS shows here."""
    lists = [obj for obj in OBJECTS if isinstance(obj.get("result"), list) and obj["result"]]
    assert len(lists) > 5
    for obj in lists:
        for length in range(10):
            resized = dict(obj, result=(obj["result"] * 10)[:length])
            for direction in DIRECTIONS:
                assert dispatch.parse_json(resized, direction) == \
                    chain_parse(resized, direction), (length, obj)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(OBJECTS), any_method, st.sampled_from(DIRECTIONS), st.booleans())
def test_real_shapes_under_any_method_route_as_the_chain(obj, method, direction, drop):
    """The same with names nobody declares, no method, or a method that is not text."""
    obj = dict(obj)
    if drop:
        obj.pop("method", None)
    else:
        obj["method"] = method
    assert dispatch.parse_json(obj, direction) == chain_parse(obj, direction)


@settings(max_examples=400, deadline=None)
@given(any_method, json_values, json_values, st.sampled_from(DIRECTIONS))
def test_random_shapes_route_as_the_chain(method, params, result, direction):
    for obj in ({"id": 1, "method": method, "params": params},
                {"id": 1, "result": result, "error": None},
                {"id": 1, "method": method, "result": result}):
        assert dispatch.parse_json(obj, direction) == chain_parse(obj, direction)
        raw = json.dumps(obj).encode()
        assert dispatch.parse_json(raw, direction) == chain_parse(raw, direction)
