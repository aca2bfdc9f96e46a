"""Tsudoi protocol v1: the pure, shared definition of what crosses the WebSocket.

- :mod:`protocol.messages` — every frame and payload as a strict typed model;
- :mod:`protocol.codec` — bytes to frames and back (orjson), including encode-once fan-out;
- :mod:`protocol.errors` — the error-code and close-code tables and the exception tree;
- :mod:`protocol.text` — grapheme counting, text rules and the 13 emotext effects;
- :mod:`protocol.spec` — generates ``protocol/asyncapi.json`` from the models.

Nothing in this package does I/O. The written specification is ``protocol/PROTOCOL.md``.
"""
