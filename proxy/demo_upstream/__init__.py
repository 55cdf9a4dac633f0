"""Offline demo model server: an echo LLM and a tiny iris classifier behind real wire formats."""

# One module per concept: `app` wires the routes; `openai_api`, `responses_api`, `anthropic_api`
# and `kserve` speak the wire formats; `echo` and `iris` are the models; `sse` and `pacing`
# stream; `bodies`, `text`, `wire` and `errors` are the plumbing they share.

from __future__ import annotations

from proxy.demo_upstream.app import create_demo_upstream_app
from proxy.demo_upstream.echo import ECHO_MODEL
from proxy.demo_upstream.errors import DemoRequestError, error_response
from proxy.demo_upstream.iris import IRIS_CLASSES, IRIS_MODEL
from proxy.demo_upstream.openai_api import EMBED_MODEL
from proxy.demo_upstream.pacing import PACING, Pacing
from proxy.demo_upstream.wire import Json

__all__ = [
    "ECHO_MODEL",
    "EMBED_MODEL",
    "IRIS_CLASSES",
    "IRIS_MODEL",
    "PACING",
    "DemoRequestError",
    "Json",
    "Pacing",
    "create_demo_upstream_app",
    "error_response",
]
