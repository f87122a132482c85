"""Check a real response against api/openapi.yaml, strictly: undocumented fields fail too."""

from __future__ import annotations

import copy
from typing import Any

import jsonschema
import referencing
from referencing.jsonschema import DRAFT202012

ROOT = "urn:modemd:openapi"


def _strict(node: Any) -> Any:
    """Every object schema with ``properties`` refuses fields it does not list."""
    if isinstance(node, dict):
        out = {k: _strict(v) for k, v in node.items()}
        if out.get("type") == "object" and "properties" in out:
            out.setdefault("unevaluatedProperties", False)
        return out
    if isinstance(node, list):
        return [_strict(v) for v in node]
    return node


class Contract:
    """The spec as a JSON Schema registry; validates responses of documented operations."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        strict = _strict(copy.deepcopy(spec))
        resource = referencing.Resource.from_contents(strict, default_specification=DRAFT202012)
        self.registry: referencing.Registry[Any] = referencing.Registry().with_resource(
            ROOT, resource
        )

    def _resolve(self, node: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in node:
            target: Any = self.spec
            for part in node["$ref"].removeprefix("#/").split("/"):
                target = target[part]
            node = target
        return node

    def response_pointer(self, path: str, method: str, status: int, media: str) -> str:
        """The JSON pointer of the response schema; fails if that answer is undocumented."""
        responses = self.spec["paths"][path][method]["responses"]
        assert str(status) in responses, f"{method.upper()} {path}: HTTP {status} not documented"
        answer = responses[str(status)]
        ref = answer.get("$ref", f"#/paths/{_escape(path)}/{method}/responses/{status}")
        content = self._resolve(answer)["content"]
        assert media in content, f"{method.upper()} {path} {status}: {media} not documented"
        return f"{ref}/content/{_escape(media)}/schema"

    def check(self, path: str, method: str, status: int, media: str, body: Any) -> None:
        """Raise if ``body`` is not what the spec promises for this answer."""
        pointer = self.response_pointer(path, method, status, media)
        self.validate_against(pointer, body)

    def validate_against(self, pointer: str, instance: Any) -> None:
        validator = jsonschema.Draft202012Validator(
            {"$ref": f"{ROOT}{pointer}"}, registry=self.registry
        )
        validator.validate(instance)


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")
