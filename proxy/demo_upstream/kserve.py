"""KServe v1 and v2 endpoints: the iris classifier by name, an echo for any other model."""

from __future__ import annotations

import uuid
from typing import Any

from aiohttp import web

from proxy.demo_upstream.bodies import json_object
from proxy.demo_upstream.errors import DemoRequestError
from proxy.demo_upstream.iris import IRIS_CLASSES, IRIS_MODEL, iris_label, iris_probabilities
from proxy.demo_upstream.wire import Json, json_response


async def kserve_v1_predict(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    body = await json_object(request)
    instances = body.get("instances", body.get("inputs"))
    if not isinstance(instances, list):
        raise DemoRequestError("'instances' must be an array.", param="instances")
    if name != IRIS_MODEL:
        return json_response({"predictions": instances})
    return json_response({"predictions": [_iris_prediction(row) for row in instances]})


def _iris_prediction(row: Any) -> Json:
    probabilities = iris_probabilities(row)
    by_class = dict(zip(IRIS_CLASSES, probabilities, strict=True))
    return {"label": iris_label(probabilities), "probabilities": by_class}


def _flatten(data: Any) -> list[Any]:
    if isinstance(data, list):
        return [x for item in data for x in _flatten(item)]
    return [data]


async def kserve_v2_infer(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    body = await json_object(request)
    inputs = body.get("inputs")
    if not isinstance(inputs, list) or not inputs or not all(isinstance(t, dict) for t in inputs):
        raise DemoRequestError("'inputs' must be a non-empty array of tensors.", param="inputs")
    if name == IRIS_MODEL:
        flat = _flatten(inputs[0].get("data"))
        rows = [flat[i : i + 4] for i in range(0, len(flat), 4)]
        if not rows:
            raise DemoRequestError(f"{IRIS_MODEL} expects FP32 data of shape [N, 4].")
        probabilities = [iris_probabilities(row) for row in rows]
        outputs = [
            _tensor(
                "probabilities", "FP32", [len(rows), 3], [p for ps in probabilities for p in ps]
            ),
            _tensor("label", "BYTES", [len(rows)], [iris_label(ps) for ps in probabilities]),
        ]
    else:
        keys = ("name", "shape", "datatype", "data")
        outputs = [{k: tensor.get(k) for k in keys} for tensor in inputs]
    request_id = body.get("id") if isinstance(body.get("id"), str) else str(uuid.uuid4())
    return json_response(
        {"model_name": name, "model_version": "1", "id": request_id, "outputs": outputs}
    )


def _tensor(name: str, datatype: str, shape: list[int], data: Any = None) -> Json:
    tensor = {"name": name, "datatype": datatype, "shape": shape}
    return tensor if data is None else {**tensor, "data": data}


async def kserve_v2_metadata(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    # The echo model takes any tensor and hands it back.
    inputs = outputs = [_tensor("input-0", "BYTES", [-1])]
    if name == IRIS_MODEL:
        inputs = [_tensor("input-0", "FP32", [-1, 4])]
        outputs = [_tensor("probabilities", "FP32", [-1, 3]), _tensor("label", "BYTES", [-1])]
    meta = {"name": name, "versions": ["1"], "platform": "warden-demo"}
    return json_response({**meta, "inputs": inputs, "outputs": outputs})


async def kserve_v2_health(request: web.Request) -> web.Response:
    return json_response({"live": True} if request.path.endswith("/live") else {"ready": True})
