"""listen.event_loop: which loop `warden serve` runs on, and the config check for it."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest

from proxy import event_loop
from proxy.config import ConfigError, settings_from_mapping
from tests.unit.test_config import minimal


async def running_loop() -> str:
    await asyncio.sleep(0)
    return event_loop.loop_name(asyncio.get_running_loop())


def test_auto_is_the_default_and_runs_on_uvloop_where_installed() -> None:
    # uvloop is one of Warden's dependencies on every platform it has a build for.
    pytest.importorskip("uvloop")
    assert settings_from_mapping(minimal(), {}).listen.event_loop == "auto"
    assert event_loop.run(running_loop(), "auto") == "uvloop"
    assert event_loop.run(running_loop(), "uvloop") == "uvloop"


def test_asyncio_keeps_the_standard_loop() -> None:
    assert event_loop.loop_factory("asyncio") is None
    assert event_loop.run(running_loop(), "asyncio") == "asyncio"


def test_an_unknown_loop_is_a_config_problem() -> None:
    with pytest.raises(ConfigError) as caught:
        settings_from_mapping(minimal(listen={"event_loop": "libuv"}), {})
    [problem] = caught.value.problems
    assert problem.path == "listen.event_loop"
    assert "'auto', 'asyncio', 'uvloop'" in problem.message and "'libuv'" in problem.message


# In a child process, where uvloop cannot be imported: the choices still resolve, and asking
# for uvloop by name is a config problem rather than a crash at start-up.
_WITHOUT_UVLOOP = """
import sys
from pathlib import Path

sys.modules["uvloop"] = None  # makes `import uvloop` raise ImportError
from proxy import event_loop
from proxy.config import ConfigError, settings_from_mapping
from tests.unit.test_config import minimal
print(event_loop.loop_factory("auto"))
try:
    settings_from_mapping(minimal(listen={"event_loop": "uvloop"}), {})
except ConfigError as error:
    for problem in error.problems:
        print(problem.path, "|", problem.message)
"""


def test_without_uvloop_auto_falls_back_and_uvloop_is_refused(repo_root: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-c", _WITHOUT_UVLOOP],
        cwd=repo_root,  # where `tests` imports from
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout.splitlines()
    assert out == [
        "None",
        "listen.event_loop | uvloop is not installed (pip install uvloop), choose auto or asyncio",
    ]
