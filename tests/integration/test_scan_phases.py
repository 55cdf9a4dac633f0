"""Scanner selection through the proxy: answers are not run through scanners no rule reads."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import openai
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import RunningWarden

RULES = """
rules:
  - id: prompts.injection
    description: Prompt injection is blocked.
    phase: content
    when: {findings: {kinds: ["injection.*"], min_score: 0.8}}
    action: block
    severity: high
  - id: answers.secrets
    description: Credentials in answers are redacted.
    phase: response
    when: {findings: {kinds: ["secret.*"]}}
    action: redact
    severity: high
"""


async def scanner_runs(warden: RunningWarden) -> dict[str, float]:
    """How many request texts each scanner has looked at (histogram counts)."""
    async with warden.http.get(f"{warden.admin_url}/metrics") as response:
        text = await response.text()
    runs: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "warden_scanner_duration_seconds_count":
                runs[sample.labels["scanner"]] = sample.value
    return runs


async def test_answers_run_only_the_scanners_response_rules_read(
    start_warden: Callable[..., Any], policy_dir: Path
) -> None:
    (policy_dir / "rules.yaml").write_text(textwrap.dedent(RULES))
    warden: RunningWarden = await start_warden()
    key = await warden.create_key()
    token = "ghp_" + "aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789"
    async with openai.AsyncOpenAI(
        base_url=f"{warden.proxy_url}/v1", api_key=key, max_retries=0
    ) as client:
        answer = await client.chat.completions.create(
            model="echo-1", messages=[{"role": "user", "content": f"the token is {token}"}]
        )
        assert answer.choices[0].message.content == "the token is [SECRET_1]"
        stream = await client.chat.completions.create(
            model="echo-1",
            messages=[{"role": "user", "content": f"again {token} here"}],
            stream=True,
        )
        pieces = [c.choices[0].delta.content or "" async for c in stream if c.choices]
        assert "".join(pieces) == "again [SECRET_1] here"
    runs = await scanner_runs(warden)
    # Two prompts through the injection model only; two answers through the secrets scanner
    # only (the stream counts once, when it ends). PII is read by no rule and never runs.
    assert runs.get("injection") == 2
    assert runs.get("secrets") == 2
    assert runs.get("pii", 0) == 0
