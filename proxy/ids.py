"""Random ids for requests and reservations, from the OS's generator in bulk.

secrets.token_hex() makes a getrandom() call per id, two per request; here one call fills a
pool that serves hundreds. The bytes are the same os.urandom() bytes, so the ids stay as
unguessable as before (a counter would tell a caller how busy Warden is).
"""

from __future__ import annotations

import os
from typing import Final

_POOL_BYTES: Final = 4096

_pool = b""
_at = 0


def random_hex(nbytes: int) -> str:
    """`nbytes` random bytes as hex, like secrets.token_hex(nbytes). For the event loop's
    thread: two threads drawing at once could be handed the same bytes."""
    global _pool, _at
    if _at + nbytes > len(_pool):
        _pool, _at = os.urandom(_POOL_BYTES), 0
    start = _at
    _at += nbytes
    return _pool[start:_at].hex()


def _reset_after_fork() -> None:
    # A fork copies the pool: a worker must not hand out the ids its parent or siblings will.
    global _pool, _at
    _pool, _at = b"", 0


os.register_at_fork(after_in_child=_reset_after_fork)
