"""Big bodies are scanned in a scanning process: the same findings, decisions and rewrites."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import openai

from proxy.formats.segments import Segment
from proxy.keys import POLICY_SCAN
from proxy.scan_offload import ScanOffload
from proxy.scanners import SCANNERS, Finding
from tests.conftest import RunningWarden
from tests.upstream import SimulatedUpstream

RULES = """
rules:
  - id: contact.redact
    description: Addresses are replaced, and given back in the answer.
    phase: content
    when: {findings: {kinds: [pii.email]}}
    action: redact
    severity: medium
    restore: true
  - id: codename.redact
    description: The codename is replaced.
    phase: content
    when: {custom: {keywords: [bluebird]}}
    action: redact
    severity: low
  - id: answers.secrets
    description: Credentials in answers are redacted.
    phase: response
    when: {findings: {kinds: ["secret.*"]}}
    action: redact
    severity: high
"""


async def test_a_big_prompt_is_handled_like_a_small_one(
    start_warden: Callable[..., Any], policy_dir: Path, upstream: SimulatedUpstream
) -> None:
    (policy_dir / "rules.yaml").write_text(textwrap.dedent(RULES))

    def offload_small(raw: dict[str, Any]) -> None:
        raw["scanning"] = {"offload_above_chars": 2_000}

    warden: RunningWarden = await start_warden(offload_small)
    key = await warden.create_key()
    filler = "the quarterly numbers look fine and the team agrees " * 100
    token = "ghp_" + "aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789"
    prompt = f"{filler} mail jane.doe@example.com about bluebird, token {token} {filler}"
    async with openai.AsyncOpenAI(
        base_url=f"{warden.proxy_url}/v1", api_key=key, max_retries=0
    ) as client:
        answer = await client.chat.completions.create(
            model="echo-1", messages=[{"role": "user", "content": prompt}]
        )
    offload = warden.server.app[POLICY_SCAN].offload
    assert offload is not None and offload._pool is not None, "a scanning process did the work"
    sent = upstream.received[-1].json()["messages"][0]["content"]
    # Prompt: the address and the policy's own keyword replaced (a custom scanner rebuilt in
    # the scanning process); the token is not a content rule's business.
    assert sent == prompt.replace("jane.doe@example.com", "[EMAIL_1]").replace(
        "bluebird", "[CODENAME_REDACT_1]"
    )
    # Answer (also big): the token redacted, the address given back.
    expected = prompt.replace(token, "[SECRET_1]").replace("bluebird", "[CODENAME_REDACT_1]")
    assert answer.choices[0].message.content == expected.rstrip()  # the echo drops the end space


async def test_what_a_process_cannot_rebuild_is_scanned_here() -> None:
    class Local:
        name, kinds, max_match_len = "local", frozenset({"custom.local"}), 8

        def scan(self, text: str) -> list[Finding]:
            return []

    offload = ScanOffload(10, 1)
    segments = [Segment(("a",), "x" * 100)]
    assert offload.wanted(segments) and not ScanOffload(0, 1).wanted(segments)
    assert not offload.wanted([Segment(("a",), "short")])
    assert await offload.find([SCANNERS["pii"], Local()], segments, {}) is None
    assert offload._pool is None, "no process started for it"
    offload.close()
