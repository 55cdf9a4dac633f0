"""Response rules over streamed answers, through the real SDKs: window, buffer and observe."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anthropic
import openai
import pytest

from tests.conftest import RunningWarden

RULES = """
rules:
  - id: answers.redact-contact
    description: Phone numbers and cards in answers are replaced.
    phase: response
    when: {findings: {kinds: [pii.phone, pii.credit_card]}}
    action: redact
    severity: medium
  - id: answers.no-classified
    description: Answers must not mention classified material.
    phase: response
    when: {custom: {keywords: [classified]}}
    action: block
    severity: high
"""


async def start(
    start_warden: Callable[..., Any], policy_dir: Path, mode: str = "window"
) -> tuple[RunningWarden, str]:
    (policy_dir / "rules.yaml").write_text(textwrap.dedent(RULES))

    def guard_mode(raw: dict[str, Any]) -> None:
        for route in raw["routes"]:
            route["stream_guard"] = mode
            route["stream_hold_back"] = 64

    warden: RunningWarden = await start_warden(guard_mode)
    return warden, await warden.create_key()


async def stream_text(warden: RunningWarden, key: str, prompt: str) -> list[str]:
    async with openai.AsyncOpenAI(
        base_url=f"{warden.proxy_url}/v1", api_key=key, max_retries=0
    ) as client:
        stream = await client.chat.completions.create(
            model="echo-1", messages=[{"role": "user", "content": prompt}], stream=True
        )
        return [
            c.choices[0].delta.content
            async for c in stream
            if c.choices and c.choices[0].delta.content
        ]


async def test_window_redacts_a_number_split_across_events(
    start_warden: Callable[..., Any], policy_dir: Path
):
    warden, key = await start(start_warden, policy_dir)
    filler = " ".join(f"word{i}" for i in range(40))
    prompt = f"{filler} call +1 415 555 0132 or pay with 4111 1111 1111 1111 {filler}"
    pieces = await stream_text(warden, key, prompt)
    text = "".join(pieces)
    assert text == f"{filler} call [PHONE_1] or pay with [CREDIT_CARD_1] {filler}"
    assert len(pieces) > 10, "still streamed piece by piece, only the window is held back"


async def test_window_cuts_the_stream_on_block(start_warden: Callable[..., Any], policy_dir: Path):
    warden, key = await start(start_warden, policy_dir)
    with pytest.raises(openai.APIError) as cut:
        await stream_text(warden, key, "the plan is classified and stays that way")
    assert (
        "answers.no-classified" in str(cut.value.body) or cut.value.code == "answers.no-classified"
    )


async def test_buffer_mode_blocks_with_a_clean_403(
    start_warden: Callable[..., Any], policy_dir: Path
):
    warden, key = await start(start_warden, policy_dir, mode="buffer")
    with pytest.raises(openai.PermissionDeniedError) as denied:
        await stream_text(warden, key, "this is classified")
    assert denied.value.code == "answers.no-classified"
    text = "".join(await stream_text(warden, key, "call +1 415 555 0132 now"))
    assert text == "call [PHONE_1] now"


async def test_observe_mode_changes_nothing_and_records(
    start_warden: Callable[..., Any], policy_dir: Path
):
    warden, key = await start(start_warden, policy_dir, mode="observe")
    text = "".join(await stream_text(warden, key, "this is classified, call +1 415 555 0132"))
    assert text == "this is classified, call +1 415 555 0132"
    async with warden.http.get(f"{warden.admin_url}/metrics") as r:
        metrics = await r.text()
    assert (
        'warden_policy_decisions_total{action="block",mode="enforce",phase="response",'
        'rule="answers.no-classified"} 1.0' in metrics
    )


async def test_anthropic_stream_is_guarded_too(start_warden: Callable[..., Any], policy_dir: Path):
    warden, key = await start(start_warden, policy_dir)
    async with anthropic.AsyncAnthropic(base_url=warden.proxy_url, api_key=key, max_retries=0) as c:
        async with c.messages.stream(
            model="claude-echo",
            max_tokens=64,
            messages=[{"role": "user", "content": "card 4111 1111 1111 1111 on file"}],
        ) as stream:
            pieces = [t async for t in stream.text_stream]
            final = await stream.get_final_message()
    assert "".join(pieces) == "card [CREDIT_CARD_1] on file"
    assert final.content[0].text == "card [CREDIT_CARD_1] on file"  # type: ignore[union-attr]
