"""Slow-path parsers for matched mining payloads (pure Python, no numba).

One module per wire variant, each with a pure ``parse(message, direction)``
entry point returning a :class:`~detector.protocols.message.MiningMessage`
(or ``None`` when the message is not that dialect). Stateful work (line
framing, request/reply pairing, difficulty history, the is-mining decision)
lives in :mod:`detector.protocols.session`. Reference: docs/PROTOCOLS.md.
"""
