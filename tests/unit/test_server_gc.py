"""A serving process tunes the cyclic collector once started (see proxy.server)."""

from __future__ import annotations

import subprocess
import sys

from proxy.server import GC_YOUNG_THRESHOLD

# In a child process: freezing is for good, and the test process must keep collecting.
_CHILD = """
import gc
from proxy.server import tune_gc_for_serving
startup_objects = [[n] for n in range(1000)]
tune_gc_for_serving()
print(gc.get_threshold()[0], gc.get_freeze_count() >= 1000)
"""


def test_serving_process_freezes_startup_objects_and_raises_the_young_threshold() -> None:
    out = subprocess.run(
        [sys.executable, "-c", _CHILD], capture_output=True, text=True, check=True, timeout=60
    ).stdout.split()
    assert out == [str(GC_YOUNG_THRESHOLD), "True"]
