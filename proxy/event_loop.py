"""The event loop a serving process runs on: uvloop when it is installed (`listen.event_loop`)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, Literal, TypeVar

EventLoopChoice = Literal["auto", "asyncio", "uvloop"]
T = TypeVar("T")

# uvloop runs the same aiohttp server and client on libuv's loop, written in C: on the shipped
# setup Warden executes about 7% fewer instructions a request (bench.instructions, 2026-11-24).
# It has no Windows build, so "auto" quietly falls back to asyncio's own loop there.


def uvloop_installed() -> bool:
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return False
    return True


def loop_problem(choice: EventLoopChoice) -> str | None:
    """Why `choice` cannot be honoured here, for the config check; None when it can."""
    if choice == "uvloop" and not uvloop_installed():
        return "uvloop is not installed (pip install uvloop), choose auto or asyncio"
    return None


def loop_factory(choice: EventLoopChoice) -> Callable[[], asyncio.AbstractEventLoop] | None:
    """What makes the loop for `choice`; None for asyncio's own."""
    if choice == "asyncio" or (choice == "auto" and not uvloop_installed()):
        return None
    import uvloop

    return uvloop.new_event_loop


def run(main: Coroutine[Any, Any, T], choice: EventLoopChoice) -> T:
    """asyncio.run() on the chosen loop."""
    with asyncio.Runner(loop_factory=loop_factory(choice)) as runner:
        return runner.run(main)


def loop_name(loop: asyncio.AbstractEventLoop) -> str:
    """The loop's name, uvloop or asyncio: for the start-up log line."""
    return "uvloop" if type(loop).__module__.startswith("uvloop") else "asyncio"
