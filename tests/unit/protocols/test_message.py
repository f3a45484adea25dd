"""The shared helpers every parser leans on, against their plain definitions."""

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from detector.protocols.message import MAX_TEXT_CHARS, is_hex, message_id, untrusted_text

HEX = re.compile(r"[0-9a-fA-F]*")


def reference_is_hex(value, length=None, prefixed=False, min_len=1):
    if not isinstance(value, str):
        return False
    if prefixed:
        if value[:2] not in ("0x", "0X"):
            return False
        value = value[2:]
    if length is not None and len(value) != length:
        return False
    return len(value) >= min_len and HEX.fullmatch(value) is not None


hexish = st.text(alphabet="0123456789abcdefABCDEFxXgG \t\n_+-\x00é٣", max_size=80)
values = hexish | st.text(max_size=20) | st.integers() | st.none() | st.booleans() \
    | st.binary(max_size=8) | st.floats(allow_nan=False)


@settings(max_examples=1000, deadline=None)
@given(values, st.sampled_from([None, 0, 1, 2, 3, 8, 16, 64]), st.booleans(),
       st.sampled_from([0, 1, 2, 5]))
def test_is_hex_is_exactly_hex_digits(value, length, prefixed, min_len):
    assert is_hex(value, length, prefixed, min_len) == \
        reference_is_hex(value, length, prefixed, min_len)


def test_is_hex_long_and_odd():
    solution = "fd4005" + "0123456789abcdef" * 168
    assert is_hex(solution, min_len=200)
    assert is_hex(solution + "a") and not is_hex(solution + " ")
    assert not is_hex(solution[:100] + "g" + solution[100:])
    assert not is_hex("0x12") and is_hex("0x12", prefixed=True)
    assert not is_hex("12 34") and not is_hex("+1") and not is_hex("1_2")


def reference_untrusted_text(value, limit=MAX_TEXT_CHARS):
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (bytes, bytearray)):
        value = bytes(value).decode("utf-8", errors="replace")
    elif isinstance(value, (int, float)):
        value = str(value)
    elif not isinstance(value, str):
        return None
    return value[:limit] if value else None


@settings(max_examples=500, deadline=None)
@given(values | st.lists(st.integers(), max_size=2) | st.text(min_size=250, max_size=300))
def test_untrusted_text_and_message_id(value):
    assert untrusted_text(value) == reference_untrusted_text(value)
    expected = None
    if isinstance(value, (str, int)) and not isinstance(value, bool):
        expected = value[:MAX_TEXT_CHARS] if isinstance(value, str) else value
    assert message_id({"id": value}) == expected
