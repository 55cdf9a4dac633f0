"""Wire formats: read what a request asks for (operation, model, stream) from path and body.

One module per format; `FORMATS` maps the `format` named on a route to its reader. Readers
are pure: they never see aiohttp objects, so every format is unit-testable with plain data.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from proxy.formats import anthropic, generic, kserve, openai
from proxy.formats.call import Call, Invalid

Describe = Callable[[str, str, Any], Call | Invalid]

FORMATS: dict[str, Describe] = {
    "openai": openai.describe,
    "anthropic": anthropic.describe,
    "kserve": kserve.describe,
    "json": generic.describe,
}

__all__ = ["FORMATS", "Call", "Describe", "Invalid"]
