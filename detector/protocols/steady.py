"""The steady-state lines of a mining flow, read in numba (PROTOCOLS.md §4, §5.1, §7.1).

Once a flow is mining, most of its lines are a handful of shapes: shares
(Bitcoin-family and ZIP 301 ``mining.submit``, xmrig ``submit``), jobs
(Bitcoin-family and ZIP 301 ``mining.notify``, xmrig ``job``, eth-proxy work),
``mining.set_difficulty``, eth-proxy polls, shares (``eth_submitWork``) and
hashrate reports, and the pool's plain replies. Decoding each with ``json``
and trying the dialect parsers on it is most of what reading a flow costs in
Python (a Zcash share is 2.8 kB of JSON). follow_kernel applies this reading
to detected flows' sessions in numba; :func:`read` gives it to the Python
session.

:func:`read_line` checks, in one pass over the bytes, that a line is JSON that
``jsonrpc.decode_json`` decodes to an object (STRING_BYTES says which text it
claims), then whether it has one of those shapes, with the dialect's own
checks (hex lengths, parameter counts) and in dispatch's order (no dialect
``dispatch.parse_json`` tries before the one whose shape it is would accept
it). It claims a line only when it is sure; everything else (escapes,
non-ASCII text, a repeated key, a number where a string was expected, any
other shape) is left to the Python parsers, so :func:`read` gives the message
``dispatch.parse_json`` would give, or ``UNCLAIMED``. The messages are built
by the dialect modules' own builders, which their parsers call too.
tests/unit/protocols/test_steady.py holds the two readings to the same answer
on every line of the corpus' mining flows and lookalikes, and on variations
of each shape.
"""

from __future__ import annotations

import numpy as np

from ..engine.config import kernel
from . import dispatch, ethproxy, stratum_v1, xmrig, zcash
from .message import MAX_TEXT_CHARS, TOCLIENT, TOSERVER, as_int, untrusted_text

UNCLAIMED = object()

# what read_line claims a line to be
NOT_CLAIMED = 0
REPLY = 1             # a pool reply no dialect reads (dispatch.generic_reply: pairing only)
ETHPROXY_WORK = 2     # eth_getWork result [header, seed, boundary(, height)]
ETHPROXY_GET_WORK = 3
ETHPROXY_HASHRATE = 4  # eth_submitHashrate [rate, client id]
ZCASH_SUBMIT = 5
ZCASH_NOTIFY = 6
XMRIG_SUBMIT = 7
XMRIG_JOB = 8
STRATUM_SUBMIT = 9     # Bitcoin-family share: [worker, job_id, extranonce2, ntime, nonce(, bits)]
STRATUM_NOTIFY = 10    # Bitcoin-family job, the 9 params of stratum_v1.is_notify_shape
STRATUM_DIFFICULTY = 11
ETHPROXY_SUBMIT_WORK = 12  # eth_submitWork [nonce, header, mix digest], no top-level "worker"

# value types in FIELDS
T_ABSENT, T_STRING, T_INT, T_OTHER = 0, 1, 2, 3
T_STATUS = 4           # a reply's result {"status": string}: the span is the string's
T_ERROR = 5            # a reply's error: a string, or an object or array that is not empty
# FIELDS: (type, start, end) of the id, then of up to MAX_PARTS values the shape names
F_ID = 0
F_PARTS = 3
MAX_PARTS = 4
FIELDS = F_PARTS + 3 * MAX_PARTS
MAX_KIDS = 32          # members and elements of the top-level containers (a ZIP 301 notify: 8-10)
MAX_KEYS = 16          # top-level keys looked at; more: not claimed
MAX_DEPTH = 60         # nesting a line may have (decode_json refuses past 64; it counts
                       # brackets inside strings too, which read_line does not claim)
MAX_ID_DIGITS = 18     # integer ids that fit int64 exactly

DIRECTION_CODES = {TOSERVER: 0, TOCLIENT: 1}

_QUOTE = 0x22
_LBRACE, _RBRACE, _LBRACKET, _RBRACKET = 0x7B, 0x7D, 0x5B, 0x5D
_COLON, _COMMA, _MINUS, _DOT = 0x3A, 0x2C, 0x2D, 0x2E


@kernel
def _blank(c):
    """decode_json strips these from both ends of a line."""
    return c == 0x20 or c == 0x09 or c == 0x0D or c == 0x0A or c == 0x00


@kernel
def _ws(b, i, n):
    """Index of the first byte at or after i that is not JSON whitespace."""
    while i < n and (b[i] == 0x20 or b[i] == 0x09 or b[i] == 0x0D or b[i] == 0x0A):
        i += 1
    return i


# what a byte inside a string is to _string_end: 0 text, 1 the closing quote, 2 a byte read_line
# does not claim: control bytes and non-ASCII (json refuses or decodes them), the backslash
# (escapes), and brackets (decode_json counts those inside strings as nesting)
STRING_BYTES = np.full(256, 2, np.uint8)
STRING_BYTES[0x20:0x7F] = 0
STRING_BYTES[[0x22]] = 1
STRING_BYTES[[0x5C, 0x5B, 0x5D, 0x7B, 0x7D]] = 2


HEX_DIGITS = np.zeros(256, np.uint8)
HEX_DIGITS[np.frombuffer(b"0123456789abcdefABCDEF", np.uint8)] = 1


@kernel
def _string_end(b, i, n):
    """End (after the closing quote) of the string opening at b[i]; -1 when it is not one
    read_line claims (STRING_BYTES)."""
    i += 1
    while i < n:
        kind = STRING_BYTES[b[i]]
        if kind:
            return i + 1 if kind == 1 else -1
        i += 1
    return -1


@kernel
def _digits_end(b, i, n):
    while i < n and 0x30 <= b[i] <= 0x39:
        i += 1
    return i


@kernel
def _number_end(b, i, n):
    """End of the JSON number at b[i] (-?(0|[1-9]\\d*)(\\.\\d+)?([eE][-+]?\\d+)?), -1 if none."""
    if b[i] == _MINUS:
        i += 1
    if i >= n or not 0x30 <= b[i] <= 0x39:
        return -1
    i = i + 1 if b[i] == 0x30 else _digits_end(b, i, n)
    if i < n and b[i] == _DOT:
        j = _digits_end(b, i + 1, n)
        if j == i + 1:
            return -1
        i = j
    if i < n and (b[i] == 0x65 or b[i] == 0x45):
        i += 1
        if i < n and (b[i] == 0x2B or b[i] == _MINUS):
            i += 1
        j = _digits_end(b, i, n)
        if j == i:
            return -1
        i = j
    return i


@kernel
def _literal_end(b, i, n):
    """End of true/false/null at b[i], -1 if none (json's NaN and Infinity are not claimed)."""
    c = b[i]
    if c == 0x74 and i + 4 <= n and b[i + 1] == 0x72 and b[i + 2] == 0x75 and b[i + 3] == 0x65:
        return i + 4
    if (c == 0x66 and i + 5 <= n and b[i + 1] == 0x61 and b[i + 2] == 0x6C
            and b[i + 3] == 0x73 and b[i + 4] == 0x65):
        return i + 5
    if c == 0x6E and i + 4 <= n and b[i + 1] == 0x75 and b[i + 2] == 0x6C and b[i + 3] == 0x6C:
        return i + 4
    return -1


@kernel
def _scalar_end(b, i, n):
    c = b[i]
    if c == _QUOTE:
        return _string_end(b, i, n)
    if c == _MINUS or 0x30 <= c <= 0x39:
        return _number_end(b, i, n)
    return _literal_end(b, i, n)


@kernel
def _member_key(b, i, end, depth, t, k, tops, kids):
    """Read `"key" :` at b[i], a member of the object at `depth`, and record the key of a
    top-level member (tops[t]) or of a member of one (kids[k]). Returns (the index
    after the colon, t, k), the index -1 when malformed or past MAX_KEYS / MAX_KIDS."""
    if i >= end or b[i] != _QUOTE:
        return -1, t, k
    key_end = _string_end(b, i, end)
    if key_end < 0:
        return -1, t, k
    if depth == 1:
        if t >= MAX_KEYS:
            return -1, t, k
        tops[t, 0] = i
        tops[t, 1] = key_end
        t += 1
    elif depth == 2:
        if k >= MAX_KIDS:
            return -1, t, k
        kids[k, 0] = t - 1
        kids[k, 1] = i
        kids[k, 2] = key_end
        k += 1
    i = _ws(b, key_end, end)
    if i >= end or b[i] != _COLON:
        return -1, t, k
    return i + 1, t, k


@kernel
def _scan(b, start, end, tops, kids):
    """Check that b[start:end] (starting with "{") is one JSON object as json reads it,
    in the subset read_line claims, in one pass. Records its members, tops[t] = (key
    start, key end, value start, value end), and the members or elements of the
    containers among them, kids[k] = (member t, key start, key end (-1: an element),
    value start, value end). Returns (members, kids), members -1 when not claimed
    (malformed, too deep, or more than MAX_KEYS members or MAX_KIDS kids)."""
    objects = np.uint64(0)         # bit d: the container at depth d+1 is an object
    depth = 0
    t = k = 0
    i = start
    want_value = True
    while True:
        if want_value:
            i = _ws(b, i, end)
            if i >= end:
                return -1, 0
            if depth == 1:
                tops[t - 1, 2] = i
            elif depth == 2:
                if not (objects >> np.uint64(1)) & np.uint64(1):     # an array element
                    if k >= MAX_KIDS:
                        return -1, 0
                    kids[k, 0] = t - 1
                    kids[k, 1] = kids[k, 2] = -1
                    k += 1
                kids[k - 1, 3] = i
            c = b[i]
            if c == _LBRACE or c == _LBRACKET:
                if depth >= MAX_DEPTH:
                    return -1, 0
                bit = np.uint64(1) << np.uint64(depth)
                objects = (objects | bit) if c == _LBRACE else (objects & ~bit)
                depth += 1
                i = _ws(b, i + 1, end)
                if i < end and b[i] == (_RBRACE if c == _LBRACE else _RBRACKET):
                    depth -= 1
                    i += 1
                else:
                    if c == _LBRACE:
                        i, t, k = _member_key(b, i, end, depth, t, k, tops, kids)
                        if i < 0:
                            return -1, 0
                    continue
            else:
                i = _scalar_end(b, i, end)
                if i < 0:
                    return -1, 0
            want_value = False
        # a value ended at i, inside the container at `depth`
        if depth == 0:
            return (t, k) if i == end else (-1, 0)
        if depth == 1:
            tops[t - 1, 3] = i
        elif depth == 2:
            kids[k - 1, 4] = i
        i = _ws(b, i, end)
        if i >= end:
            return -1, 0
        c = b[i]
        in_object = (objects >> np.uint64(depth - 1)) & np.uint64(1)
        if c == _COMMA:
            i = _ws(b, i + 1, end)
            if in_object:
                i, t, k = _member_key(b, i, end, depth, t, k, tops, kids)
                if i < 0:
                    return -1, 0
            want_value = True
        elif c == (_RBRACE if in_object else _RBRACKET):
            depth -= 1
            i += 1
        else:
            return -1, 0


@kernel
def _same(b, start, end, word):
    """b[start:end] equals the bytes of `word` (a uint8 array)."""
    if end - start != len(word):
        return False
    for k in range(len(word)):
        if b[start + k] != word[k]:
            return False
    return True


@kernel
def _is_hex(b, start, end, length, prefixed, min_len):
    """message.is_hex on the string b[start:end] (quotes included)."""
    a, z = start + 1, end - 1
    if b[start] != _QUOTE:
        return False
    if prefixed:
        if z - a < 2 or b[a] != 0x30 or (b[a + 1] != 0x78 and b[a + 1] != 0x58):
            return False
        a += 2
    if (length >= 0 and z - a != length) or z - a < min_len:
        return False
    hex_only = np.uint8(1)
    for k in range(a, z):          # no branch per digit: hex text is random to a predictor
        hex_only &= HEX_DIGITS[b[k]]
    return hex_only == 1


@kernel
def _nonempty_string(b, start, end):
    return b[start] == _QUOTE and end - start > 2


@kernel
def _type_of(b, start, end):
    """T_* of the checked JSON value b[start:end]; -1 for what read takes no value of:
    containers, and integers too long for int64 (json gives Python ints of any size)."""
    c = b[start]
    if c == _QUOTE:
        return T_STRING
    if c == _MINUS or 0x30 <= c <= 0x39:
        for k in range(start, end):
            if b[k] == _DOT or b[k] == 0x65 or b[k] == 0x45:
                return T_OTHER
        digits = end - start - (1 if c == _MINUS else 0)
        return T_INT if digits <= MAX_ID_DIGITS else -1
    if c == _LBRACE or c == _LBRACKET:
        return -1
    return T_OTHER


@kernel
def _named(b, rows, first, count, key_col, word):
    """Row of the member named `word` (quotes included) among rows[first:first+count], whose
    key span starts at column key_col; -1 when absent, -2 when repeated (json keeps
    the last, read_line does not claim)."""
    found = -1
    for r in range(first, first + count):
        if _same(b, rows[r, key_col], rows[r, key_col + 1], word):
            if found >= 0:
                return -2
            found = r
    return found


@kernel
def _kids_of(kids, n_kids, member):
    """(first row, count) of the kids of top-level member `member` (they are consecutive)."""
    first = 0
    while first < n_kids and kids[first, 0] < member:
        first += 1
    last = first
    while last < n_kids and kids[last, 0] == member:
        last += 1
    return first, last - first


def _word(text):
    return np.frombuffer(text.encode("ascii"), np.uint8).copy()


# The names and methods below, like the byte tables above, are compile-time constants of
# the kernels (numba freezes global arrays): passing them per call made numba type a
# tuple of arrays for every line.

# top-level names read_line looks at, in this order
K_ID, K_METHOD, K_PARAMS, K_RESULT, K_ERROR, K_WORKER = range(6)
TOP_KEYS = tuple(_word(f'"{name}"') for name in ("id", "method", "params", "result", "error",
                                                 "worker"))
# xmrig submit params
P_NONCE, P_RESULT, P_JOB_ID, P_ALGO = range(4)
SUBMIT_KEYS = tuple(_word(f'"{name}"') for name in ("nonce", "result", "job_id", "algo"))
# xmrig job params
J_BLOB, J_JOB_ID, J_TARGET, J_ALGO, J_HEIGHT = range(5)
JOB_KEYS = tuple(_word(f'"{name}"') for name in ("blob", "job_id", "target", "algo", "height"))
(M_SUBMIT, M_NOTIFY, M_GET_WORK, M_HASHRATE, M_XMRIG_SUBMIT, M_XMRIG_JOB, M_DIFFICULTY,
 M_SUBMIT_WORK) = range(8)
METHOD_WORDS = (_word('"mining.submit"'), _word('"mining.notify"'), _word('"eth_getWork"'),
                _word('"eth_submitHashrate"'), _word('"submit"'), _word('"job"'),
                _word('"mining.set_difficulty"'), _word('"eth_submitWork"'))
NOTIFY_VERSION = _word('"04000000"')
STATUS = _word('"status"')


@kernel
def _put(b, fields, slot, start, end):
    fields[slot] = _type_of(b, start, end) if start >= 0 else T_ABSENT
    fields[slot + 1] = start
    fields[slot + 2] = end


@kernel
def _put_kid(b, fields, slot, kids, row):
    """_put of the value of kids[row] (row -1: absent)."""
    if row < 0:
        _put(b, fields, slot, -1, -1)
    else:
        _put(b, fields, slot, kids[row, 3], kids[row, 4])


@kernel
def _reply(b, tops, kids, n_kids, result, error, fields):
    """A reply dispatch routes to no dialect (a result true/false/null, {"status":
    string} or none; an error null, a string, or an object or array that is not
    empty), or ethproxy's work (the first parser dispatch tries on a 3 or 4
    element list)."""
    if result < 0:
        if error < 0:
            return NOT_CLAIMED
        _put(b, fields, F_PARTS, -1, -1)
        return _reply_error(b, tops, error, fields)
    r0, r1 = tops[result, 2], tops[result, 3]
    first, count = _kids_of(kids, n_kids, result)
    if b[r0] == _LBRACKET:
        if not (3 <= count <= 4 and _is_hex(b, kids[first, 3], kids[first, 4], 64, True, 1)
                and _is_hex(b, kids[first + 1, 3], kids[first + 1, 4], 64, True, 1)
                and _is_hex(b, kids[first + 2, 3], kids[first + 2, 4], -1, True, 1)
                and 5 <= kids[first + 2, 4] - kids[first + 2, 3] <= 68):
            return NOT_CLAIMED
        for j in range(count):
            _put_kid(b, fields, F_PARTS + 3 * j, kids, first + j)
        return ETHPROXY_WORK if fields[F_PARTS + 3 * (count - 1)] >= 0 else NOT_CLAIMED
    if b[r0] == _LBRACE:             # {"status": string} and nothing else
        if not (count == 1 and _same(b, kids[first, 1], kids[first, 2], STATUS)
                and b[kids[first, 3]] == _QUOTE):
            return NOT_CLAIMED
        fields[F_PARTS] = T_STATUS
        fields[F_PARTS + 1] = kids[first, 3]
        fields[F_PARTS + 2] = kids[first, 4]
    elif _literal_end(b, r0, r1) == r1:
        _put(b, fields, F_PARTS, r0, r1)
    else:
        return NOT_CLAIMED
    return _reply_error(b, tops, error, fields)


@kernel
def _reply_error(b, tops, error, fields):
    """REPLY with its error noted in fields (T_ERROR: one jsonrpc.reply_ok counts as an
    error), NOT_CLAIMED for errors whose reading is left to Python (numbers, booleans
    and empty containers, which reply_ok compares with False, {} and [])."""
    fields[F_PARTS + 3] = T_ABSENT
    if error < 0:
        return REPLY
    e0, e1 = tops[error, 2], tops[error, 3]
    c = b[e0]
    if c == 0x6E:                                                  # null
        return REPLY
    if c == _QUOTE or ((c == _LBRACE or c == _LBRACKET) and _ws(b, e0 + 1, e1) != e1 - 1):
        fields[F_PARTS + 3] = T_ERROR
        return REPLY
    return NOT_CLAIMED


@kernel
def _string_or_null(b, start, end):
    return b[start] == _QUOTE or (b[start] == 0x6E and end - start == 4)


@kernel
def _xmrig_job(b, kids, first, count, fields):
    """xmrig's job push (xmrig.is_job_shape), its params' members in kids[first:+count]."""
    blob = _named(b, kids, first, count, 1, JOB_KEYS[J_BLOB])
    job = _named(b, kids, first, count, 1, JOB_KEYS[J_JOB_ID])
    target = _named(b, kids, first, count, 1, JOB_KEYS[J_TARGET])
    algo = _named(b, kids, first, count, 1, JOB_KEYS[J_ALGO])
    height = _named(b, kids, first, count, 1, JOB_KEYS[J_HEIGHT])
    if not (blob >= 0 and job >= 0 and target >= 0 and algo >= -1 and height >= -1
            and _is_hex(b, kids[blob, 3], kids[blob, 4], -1, False, 76)
            and _nonempty_string(b, kids[job, 3], kids[job, 4])
            and (_is_hex(b, kids[target, 3], kids[target, 4], 8, False, 1)
                 or _is_hex(b, kids[target, 3], kids[target, 4], 16, False, 1))):
        return NOT_CLAIMED
    if algo >= 0 and not _string_or_null(b, kids[algo, 3], kids[algo, 4]):
        return NOT_CLAIMED
    _put_kid(b, fields, F_PARTS, kids, job)
    _put_kid(b, fields, F_PARTS + 3, kids, target)
    _put_kid(b, fields, F_PARTS + 6, kids, algo)
    _put_kid(b, fields, F_PARTS + 9, kids, height)
    return XMRIG_JOB if fields[F_PARTS + 9] >= 0 else NOT_CLAIMED     # as_int reads it


@kernel
def _all_hashes(b, start, end):
    """The checked JSON array b[start:end] holds only 64-hex strings (a merkle branch)."""
    i = _ws(b, start + 1, end)
    if b[i] == _RBRACKET:
        return True
    while True:
        if b[i] != _QUOTE:
            return False
        e = _string_end(b, i, end)
        if not _is_hex(b, i, e, 64, False, 1):
            return False
        i = _ws(b, e, end)
        if b[i] == _RBRACKET:
            return True
        i = _ws(b, i + 1, end)


# checks of one positional param (a JSON value), as the dialects' shape functions make them
C_TEXT, C_HEX, C_HEX0, C_HEX8, C_HEX64, C_SOLUTION, C_BOOL, C_VERSION, C_HASHES = range(9)
ZIP301_NOTIFY = np.array([C_TEXT, C_VERSION, C_HEX64, C_HEX64, C_HEX64, C_HEX8, C_HEX8, C_BOOL])
ZIP301_SUBMIT = np.array([C_TEXT, C_TEXT, C_HEX8, C_HEX, C_SOLUTION])
BITCOIN_NOTIFY = np.array([C_TEXT, C_HEX64, C_HEX, C_HEX0, C_HASHES, C_HEX8, C_HEX8, C_HEX8,
                           C_BOOL])


@kernel
def _param_ok(b, s, e, check):
    if check == C_TEXT:                 # untrusted_text is not None (strings only here)
        return _nonempty_string(b, s, e)
    if check == C_BOOL:
        return _literal_end(b, s, e) == e and b[s] != 0x6E      # true or false
    if check == C_VERSION:              # ZIP 301's "04000000" (digits: lower() changes none)
        return _same(b, s, e, NOTIFY_VERSION)
    if check == C_HASHES:               # a merkle branch
        return b[s] == _LBRACKET and _all_hashes(b, s, e)
    length = 8 if check == C_HEX8 else 64 if check == C_HEX64 else -1
    min_len = 0 if check == C_HEX0 else 200 if check == C_SOLUTION else 1
    return _is_hex(b, s, e, length, False, min_len)


@kernel
def _params_ok(b, kids, first, checks):
    """The first len(checks) params in kids[first:] pass their checks."""
    for j in range(len(checks)):
        if not _param_ok(b, kids[first + j, 3], kids[first + j, 4], checks[j]):
            return False
    return True


@kernel
def _request(b, toclient, tops, kids, n_kids, method, params, fields):
    """A request or notification whose method and params read_line claims."""
    m0, m1 = tops[method, 2], tops[method, 3]
    p0 = tops[params, 2]
    first, count = _kids_of(kids, n_kids, params)
    if toclient:
        if _same(b, m0, m1, METHOD_WORDS[M_XMRIG_JOB]) and b[p0] == _LBRACE:
            return _xmrig_job(b, kids, first, count, fields)
        if _same(b, m0, m1, METHOD_WORDS[M_DIFFICULTY]):
            # stratum_v1 alone reads it: as_number decides (a message, or None)
            if not (b[p0] == _LBRACKET and count >= 1):
                return NOT_CLAIMED
            _put_kid(b, fields, F_PARTS, kids, first)
            return STRATUM_DIFFICULTY if fields[F_PARTS] >= 0 else NOT_CLAIMED
        if not (_same(b, m0, m1, METHOD_WORDS[M_NOTIFY]) and b[p0] == _LBRACKET):
            return NOT_CLAIMED
        # dispatch tries EthereumStratum (4 or 5 params), ZIP 301 (8 to 10, "04000000"
        # second), KawPow (7), then stratum_v1 (a Bitcoin job has a prevhash second)
        if 8 <= count <= 10 and _params_ok(b, kids, first, ZIP301_NOTIFY):
            _put_kid(b, fields, F_PARTS, kids, first)
            return ZCASH_NOTIFY
        if count == 9 and _params_ok(b, kids, first, BITCOIN_NOTIFY):
            _put_kid(b, fields, F_PARTS, kids, first)
            _put_kid(b, fields, F_PARTS + 3, kids, first + 2)
            return STRATUM_NOTIFY
        return NOT_CLAIMED
    if _same(b, m0, m1, METHOD_WORDS[M_SUBMIT]):
        if not b[p0] == _LBRACKET:
            return NOT_CLAIMED
        # dispatch tries ZIP 301, KawPow (a 0x nonce and 64-hex hashes), then stratum_v1,
        # which takes any 3 params or more: claimed with an 8-hex nonce and string names
        if count == 5 and _params_ok(b, kids, first, ZIP301_SUBMIT):
            cls = ZCASH_SUBMIT
        elif (5 <= count <= 6 and _param_ok(b, kids[first + 4, 3], kids[first + 4, 4], C_HEX8)
                and b[kids[first, 3]] == _QUOTE and b[kids[first + 1, 3]] == _QUOTE):
            cls = STRATUM_SUBMIT
        else:
            return NOT_CLAIMED
        _put_kid(b, fields, F_PARTS, kids, first)
        _put_kid(b, fields, F_PARTS + 3, kids, first + 1)
        return cls
    if _same(b, m0, m1, METHOD_WORDS[M_GET_WORK]):
        return ETHPROXY_GET_WORK
    if _same(b, m0, m1, METHOD_WORDS[M_SUBMIT_WORK]):
        if (b[p0] == _LBRACKET and count == 3
                and _is_hex(b, kids[first, 3], kids[first, 4], 16, True, 1)
                and _is_hex(b, kids[first + 1, 3], kids[first + 1, 4], 64, True, 1)
                and _is_hex(b, kids[first + 2, 3], kids[first + 2, 4], 64, True, 1)):
            return ETHPROXY_SUBMIT_WORK
        return NOT_CLAIMED
    if _same(b, m0, m1, METHOD_WORDS[M_HASHRATE]):
        if not (b[p0] == _LBRACKET and count >= 1):
            return NOT_CLAIMED
        _put_kid(b, fields, F_PARTS, kids, first)
        return ETHPROXY_HASHRATE if fields[F_PARTS] >= 0 else NOT_CLAIMED
    if _same(b, m0, m1, METHOD_WORDS[M_XMRIG_SUBMIT]) and b[p0] == _LBRACE:
        nonce = _named(b, kids, first, count, 1, SUBMIT_KEYS[P_NONCE])
        result = _named(b, kids, first, count, 1, SUBMIT_KEYS[P_RESULT])
        job = _named(b, kids, first, count, 1, SUBMIT_KEYS[P_JOB_ID])
        algo = _named(b, kids, first, count, 1, SUBMIT_KEYS[P_ALGO])
        if not (nonce >= 0 and result >= 0 and job >= 0 and algo >= -1
                and _is_hex(b, kids[nonce, 3], kids[nonce, 4], 8, False, 1)
                and _is_hex(b, kids[result, 3], kids[result, 4], 64, False, 1)
                and _nonempty_string(b, kids[job, 3], kids[job, 4])):
            return NOT_CLAIMED
        if algo >= 0 and not _string_or_null(b, kids[algo, 3], kids[algo, 4]):
            return NOT_CLAIMED
        _put_kid(b, fields, F_PARTS, kids, job)
        _put_kid(b, fields, F_PARTS + 3, kids, algo)
        return XMRIG_SUBMIT
    return NOT_CLAIMED


@kernel
def read_line(b, toclient, scratch):
    """The class of one line (bytes) of direction `toclient`, NOT_CLAIMED when the
    Python parsers must read it; fills the FIELDS first slots of `scratch` for the
    others (the rest is its working space: one array, the cheapest call)."""
    fields = scratch[:FIELDS]
    tops = scratch[FIELDS:FIELDS + 4 * MAX_KEYS].reshape((MAX_KEYS, 4))
    kids = scratch[FIELDS + 4 * MAX_KEYS:].reshape((MAX_KIDS, 5))
    start, end = 0, len(b)
    while start < end and _blank(b[start]):
        start += 1
    while end > start and _blank(b[end - 1]):
        end -= 1
    if end - start < 2 or b[start] != _LBRACE:
        return NOT_CLAIMED
    n_tops, n_kids = _scan(b, start, end, tops, kids)
    if n_tops < 0:
        return NOT_CLAIMED
    found = np.empty(len(TOP_KEYS), np.int64)
    for j in range(len(TOP_KEYS)):
        found[j] = _named(b, tops, 0, n_tops, 0, TOP_KEYS[j])
        if found[j] == -2:
            return NOT_CLAIMED
    fields[:] = -1
    if found[K_ID] >= 0:
        _put(b, fields, F_ID, tops[found[K_ID], 2], tops[found[K_ID], 3])
        if fields[F_ID] < 0:
            return NOT_CLAIMED
    else:
        fields[F_ID] = T_ABSENT
    method = found[K_METHOD]
    if method < 0:                   # a reply, routed by its result (dispatch.parsers_for)
        if not toclient:
            return NOT_CLAIMED
        return _reply(b, tops, kids, n_kids, found[K_RESULT], found[K_ERROR], fields)
    if b[tops[method, 2]] != _QUOTE or found[K_PARAMS] < 0:
        return NOT_CLAIMED           # a method that is no string is left to Python
    cls = _request(b, toclient, tops, kids, n_kids, method, found[K_PARAMS], fields)
    if cls == ETHPROXY_SUBMIT_WORK and found[K_WORKER] >= 0:
        return NOT_CLAIMED           # its name joins the session's workers: Python reads it
    return cls


SCRATCH_WORDS = FIELDS + 4 * MAX_KEYS + 5 * MAX_KIDS   # read_line's `scratch`
_SCRATCH = np.zeros(SCRATCH_WORDS, np.int64)


_LITERALS = {b"true": True, b"false": False, b"null": None}


def _value(line, kind, start, end):
    """The Python value json gives the span line[start:end] of type `kind`."""
    if kind == T_STRING:
        return line[start + 1:end - 1].decode("ascii")
    if kind == T_INT:
        return int(line[start:end])
    if kind == T_ABSENT:
        return None
    text = line[start:end]
    return _LITERALS[text] if text in _LITERALS else float(text)


def _message_id(line, kind, start, end):
    """message.message_id of the id json gives line[start:end] (type `kind`)."""
    if kind == T_INT:
        return int(line[start:end])
    if kind == T_STRING:
        return line[start + 1:end - 1].decode("ascii")[:MAX_TEXT_CHARS]
    return None           # absent, null, a boolean or a float


def read(line: bytes, direction: str):
    """The message `dispatch.parse_json` gives the JSON line `line`, or UNCLAIMED."""
    toclient = DIRECTION_CODES.get(direction)
    if toclient is None:
        return UNCLAIMED
    # a writable array, the type follow_kernel passes too: read_line compiles once
    cls = read_line(np.frombuffer(line, np.uint8).copy(), toclient, _SCRATCH)
    if cls == NOT_CLAIMED:
        return UNCLAIMED
    f = _SCRATCH[:FIELDS].tolist()
    msg_id = _message_id(line, *f[0:3])
    if cls == REPLY:
        result = ({"status": _value(line, T_STRING, *f[4:6])} if f[3] == T_STATUS
                  else _value(line, *f[3:6]))
        # reply_ok and BIP 22 only ask whether an error is there (not null, not empty)
        error = [f[6]] if f[6] == T_ERROR else None
        return dispatch.reply_message(direction, msg_id, {"result": result, "error": error})
    if cls == ETHPROXY_WORK:
        parts = [_value(line, *f[k:k + 3]) for k in range(F_PARTS, FIELDS, 3) if f[k] >= 0]
        return ethproxy.work_message(direction, msg_id, parts)
    if cls == ETHPROXY_GET_WORK:
        return ethproxy.get_work_message(direction, msg_id)
    if cls == ETHPROXY_SUBMIT_WORK:
        return ethproxy.submit_work_message(direction, msg_id)
    if cls == ETHPROXY_HASHRATE:
        return ethproxy.hashrate_message(direction, msg_id, _value(line, *f[3:6]))
    if cls == ZCASH_SUBMIT:
        return zcash.submit_message(direction, msg_id, untrusted_text(_value(line, *f[3:6])),
                                    untrusted_text(_value(line, *f[6:9])))
    if cls == ZCASH_NOTIFY:
        return zcash.notify_message(direction, msg_id, untrusted_text(_value(line, *f[3:6])))
    if cls == STRATUM_SUBMIT:
        return stratum_v1.submit_message(direction, msg_id,
                                         untrusted_text(_value(line, *f[3:6])),
                                         untrusted_text(_value(line, *f[6:9])))
    if cls == STRATUM_NOTIFY:
        return stratum_v1.notify_message(direction, msg_id, untrusted_text(_value(line, *f[3:6])),
                                         _value(line, *f[6:9]))
    if cls == STRATUM_DIFFICULTY:
        return stratum_v1.difficulty_message(direction, msg_id, _value(line, *f[3:6]))
    if cls == XMRIG_JOB:
        return xmrig.job_message(direction, msg_id, untrusted_text(_value(line, *f[3:6])),
                                 _value(line, *f[6:9]), untrusted_text(_value(line, *f[9:12])),
                                 as_int(_value(line, *f[12:15])))
    return xmrig.submit_message(direction, msg_id, untrusted_text(_value(line, *f[3:6])),
                                untrusted_text(_value(line, *f[6:9])))


def warm_up():
    """Load read_line (compiled once, then from the cache) before timing starts."""
    read(b"{}", TOSERVER)
