"""Request bodies in, responses out: JSON and YAML, with the apiserver's error texts for bad input."""

from __future__ import annotations

from typing import Any

import orjson
import yaml
from starlette.responses import Response

from prophet_sre.sim import protobuf
from prophet_sre.sim import status as st

JSON = "application/json"
PATCH_TYPES = {
    "application/json-patch+json": "json",
    "application/merge-patch+json": "merge",
    "application/strategic-merge-patch+json": "strategic",
    "application/apply-patch+yaml": "apply",
}
CR_PATCH_ACCEPTED = "application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml"
ALL_PATCH_ACCEPTED = ("application/json-patch+json, application/merge-patch+json, "
                      "application/strategic-merge-patch+json, application/apply-patch+yaml")


def media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def decode_body(raw: bytes, content_type: str | None, *, allow_list: bool = False) -> Any:
    """Parse a JSON, YAML or Kubernetes-protobuf request body into an object; a malformed body is a 400."""
    ct = media_type(content_type)
    if ct == protobuf.MEDIA_TYPE:  # kubectl create/drain/auth send these only as protobuf
        try:
            return protobuf.decode_k8s_protobuf(raw)
        except protobuf.ProtobufError as e:
            raise st.bad_request(f"the body of the request could not be decoded as protobuf: {e}") from e
    if ct == "application/cbor":
        raise st.unsupported_media_type(ct, "application/json, application/yaml")
    if not raw.strip():
        raise st.bad_request("Object 'Kind' is missing in '{}'" if not allow_list else "empty request body")
    data: Any
    if ct in ("application/yaml", "application/apply-patch+yaml", "text/yaml"):
        try:
            data = yaml.safe_load(raw)
        except yaml.YAMLError as e:
            raise st.bad_request(f"error converting YAML to JSON: {_first_line(str(e))}") from e
    else:
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError as e:
            raise st.bad_request(f"couldn't get version/kind; json parse error: {e}") from e
    if not allow_list and not isinstance(data, dict):
        raise st.bad_request(f"json: cannot unmarshal {type(data).__name__} into Go value of type struct")
    return data


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else text


def json_response(obj: Any, status_code: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(obj), status_code=status_code, media_type=JSON, headers=headers)


def raw_json_response(body: bytes, status_code: int = 200) -> Response:
    return Response(body, status_code=status_code, media_type=JSON)


def error_response(err: st.ApiError) -> Response:
    return Response(orjson.dumps(err.status()), status_code=err.code, media_type=JSON, headers=err.headers or None)
