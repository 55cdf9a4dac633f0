"""Random ids drawn from a pool of OS randomness: unique, the right size, fresh after a fork."""

from __future__ import annotations

import os

from proxy.ids import random_hex


def test_ids_are_hex_of_the_size_asked_and_never_repeat_across_pool_refills() -> None:
    # 5,000 ids of 16 bytes use the 4,096-byte pool about twenty times over.
    ids = [random_hex(16) for _ in range(5000)]
    assert all(len(i) == 32 and int(i, 16) >= 0 for i in ids)
    assert len(set(ids)) == len(ids)
    assert len(random_hex(8)) == 16


def test_a_forked_child_draws_its_own_ids_not_its_parents() -> None:
    random_hex(8)  # the parent's pool is filled and has ids left in it
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report the ids it would hand out next
        os.write(write, " ".join(random_hex(16) for _ in range(3)).encode())
        os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    child = os.read(read, 4096).decode().split()
    os.close(read)
    parent = [random_hex(16) for _ in range(3)]
    assert len(child) == 3
    assert set(child).isdisjoint(parent)
