"""The OpenAPI 3.1 document and JSON Schemas, generated from the route table and the pydantic models.

``python -m skydriver.openapi`` writes them to schemas/; a test fails when the committed files are stale.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from . import models
from .rest.base import Operation
from .rest.routes import ROUTES

SCHEMAS_DIR = Path(__file__).resolve().parents[1] / "schemas"
REF = "#/components/schemas/{model}"

SCAN_ID = {"name": "scan_id", "in": "path", "required": True, "schema": {"type": "string", "pattern": "^[0-9a-f]{32}$"}}
ERRORS = {str(c): {"description": d, "content": {"application/json": {"schema": {"$ref": REF.format(model="Error")}}}}
          for c, d in [(400, "bad argument (named in the message)"), (403, "not allowed"), (404, "no such scan"),
                       (409, "Idempotency-Key reused, or no result yet (summary, sky maps)"), (413, "body too large"),
                       (414, "URL too long"), (431, "headers too large"),
                       (503, "busy, or a service SkyDriver needs is unavailable: retry after Retry-After seconds")]}  # fmt: skip


def models_in_use() -> list[type[BaseModel]]:
    """Every model a route takes or answers, and the error body, in route-table order."""
    found: dict[type[BaseModel], None] = {}
    for route in ROUTES:
        for op in route.operations.values():
            for model in (op.arguments, op.body, op.response):
                if model is not None and model is not models.NoArgs:
                    found[model] = None
    return [*found, models.Error]


def _query(model: type[BaseModel]) -> list[dict[str, Any]]:
    schema = model.model_json_schema()
    required = set(schema.get("required", []))
    return [
        {"name": name, "in": "query", "required": name in required, "schema": prop}
        for name, prop in schema["properties"].items()
    ]


def _operation(path: str, op: Operation) -> dict[str, Any]:
    """One OpenAPI operation, from the same declaration the handler method enforces."""
    params: list[dict[str, Any]] = [SCAN_ID] if "{scan_id}" in path else []
    if op.header:
        params.append({"name": op.header.name, "in": "header", "required": False, "description": op.header.description,
                       "schema": {"type": "string", "minLength": 1, "maxLength": op.header.max_length}})  # fmt: skip
    if op.body is None:
        params += _query(op.arguments)
    schema = {"$ref": REF.format(model=op.response.__name__)} if op.response else {"type": "string", "format": "binary"}
    doc: dict[str, Any] = {
        "summary": op.summary,
        "security": [{role: []} for role in op.roles],
        "parameters": params,
        "responses": {"200": {"description": "OK", "content": {op.media_type: {"schema": schema}}}, **ERRORS},
    }
    if op.body:
        body_schema = {"$ref": REF.format(model=op.body.__name__)}
        doc["requestBody"] = {"required": True, "content": {"application/json": {"schema": body_schema}}}
    return doc


def openapi_document() -> dict[str, Any]:
    _, defs = models_json_schema([(m, "validation") for m in models_in_use()], ref_template=REF)
    return {
        "openapi": "3.1.0",
        "info": {"title": "SkyDriver", "version": "1", "description": "Runs IceCube Skymap Scanner sky scans."},
        "paths": {
            route.path: {method: _operation(route.path, op) for method, op in route.operations.items()} for route in ROUTES
        },
        "components": {
            "schemas": defs["$defs"],
            "securitySchemes": {
                "user": {"type": "http", "scheme": "bearer", "description": "token with groups matching AUTH_USER_GROUPS"},
                "system": {"type": "http", "scheme": "bearer", "description": "token with skydriver_role=system"},
            },
        },
    }


def generated_files() -> dict[str, str]:
    """File name -> content of everything schemas/ should hold."""
    files = {"openapi.json": json.dumps(openapi_document(), indent=2, sort_keys=True) + "\n"}
    for model in models_in_use():
        files[f"{model.__name__}.schema.json"] = json.dumps(model.model_json_schema(), indent=2, sort_keys=True) + "\n"
    return files


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--output", type=Path, default=SCHEMAS_DIR)
    out = parser.parse_args().output
    out.mkdir(parents=True, exist_ok=True)
    for name, content in generated_files().items():
        (out / name).write_text(content)
    print(f"wrote {len(generated_files())} files to {out}")


if __name__ == "__main__":
    main()
