"""KServe inference protocols: v1 (`:predict`) and v2 / Open Inference Protocol (`/infer`)."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import unquote

from proxy.formats.call import Call, Invalid
from proxy.formats.segments import Segment, Usage, walk_strings

_V1 = re.compile(r"/v1/models/(?P<model>[^/:]+):(?P<verb>predict|explain)$")
_V2 = re.compile(r"/v2/models/(?P<model>[^/]+)(?:/versions/(?P<version>[^/]+))?(?P<rest>/.*)?$")
_V2_DATATYPES = frozenset(
    "BOOL UINT8 UINT16 UINT32 UINT64 INT8 INT16 INT32 INT64 FP16 FP32 FP64 BYTES".split()
)


def describe(method: str, path: str, payload: Any) -> Call | Invalid:
    # Paths arrive percent-encoded as the client sent them; model names are compared decoded.
    if match := _V1.search(path):
        if method != "POST":
            return Call("metadata", unquote(match["model"]))
        return _describe_v1(unquote(match["model"]), match["verb"], payload)
    if match := _V2.search(path):
        if method == "POST" and match["rest"] == "/infer":
            return _describe_v2(unquote(match["model"]), payload)
        return Call("metadata", unquote(match["model"]), payload=payload)
    return Call("other", payload=payload)


def _describe_v1(model: str, verb: str, payload: Any) -> Call | Invalid:
    if not isinstance(payload, dict):
        return Invalid("the request body must be a JSON object")
    if "instances" in payload:
        field = "instances"
    elif "inputs" in payload:
        field = "inputs"
    else:
        return Invalid("'instances' is required", "instances")
    if not isinstance(payload[field], list):
        return Invalid(f"'{field}' must be a list", field)
    return Call(verb, model, payload=payload)


def _describe_v2(model: str, payload: Any) -> Call | Invalid:
    if not isinstance(payload, dict):
        return Invalid("the request body must be a JSON object")
    inputs = payload.get("inputs")
    if not isinstance(inputs, list) or not inputs:
        return Invalid("'inputs' must be a non-empty list", "inputs")
    for i, tensor in enumerate(inputs):
        where = f"inputs[{i}]"
        if not isinstance(tensor, dict):
            return Invalid("each input must be an object", where)
        if not isinstance(tensor.get("name"), str):
            return Invalid("'name' must be a string", f"{where}.name")
        shape = tensor.get("shape")
        if not isinstance(shape, list) or not all(
            isinstance(d, int) and not isinstance(d, bool) and d >= -1 for d in shape
        ):
            return Invalid("'shape' must be a list of integers", f"{where}.shape")
        if tensor.get("datatype") not in _V2_DATATYPES:
            return Invalid("'datatype' is not a KServe v2 datatype", f"{where}.datatype")
        if "data" not in tensor:
            return Invalid("'data' is required", f"{where}.data")
    return Call("infer", model, payload=payload)


# --- Text. v1 bodies are free-form JSON: every string is an input. v2 tensors carry text only
# as BYTES; numeric tensors are not walked (a large one would cost time and hold no text).


def request_segments(operation: str, payload: Any) -> list[Segment]:
    """String inputs: v1 `instances`/`inputs` (any depth), v2 `inputs[].data` of BYTES tensors."""
    out: list[Segment] = []
    if operation == "infer" and isinstance(payload, dict):
        _bytes_tensors(out, payload.get("inputs"), "inputs")
    else:
        walk_strings(out, payload, (), None)
    return out


def response_segments(operation: str, payload: Any) -> list[Segment]:
    """String outputs: v1 `predictions`/`explanations`/`outputs`, v2 BYTES `outputs[].data`."""
    out: list[Segment] = []
    if not isinstance(payload, dict):
        walk_strings(out, payload, (), None)
    elif operation == "infer":
        _bytes_tensors(out, payload.get("outputs"), "outputs")
    elif operation in ("predict", "explain"):
        for key in ("predictions", "explanations", "outputs"):
            walk_strings(out, payload.get(key), (key,), None)
    return out


def _bytes_tensors(out: list[Segment], tensors: Any, key: str) -> None:
    if not isinstance(tensors, list):
        return
    for index, tensor in enumerate(tensors):
        if isinstance(tensor, dict) and tensor.get("datatype") == "BYTES":
            walk_strings(out, tensor.get("data"), (key, index, "data"), None)


def usage(operation: str, payload: Any) -> Usage | None:
    """KServe reports no token counts."""
    return None
