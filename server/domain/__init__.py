"""The domain: Tsudoi's rules, and the services that apply them over the storage and bus ports.

Pure rules live in :mod:`.rules` (no I/O). Services (:mod:`.accounts`, :mod:`.social`) follow one
pattern: check, write to storage, then publish to the bus with no ``await`` in between, so the
bus sees events in commit order. They never import an adapter.
"""
