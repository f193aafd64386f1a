"""The OpenAPI 3.1 document and JSON Schemas, generated from the pydantic models.

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

SCHEMAS_DIR = Path(__file__).resolve().parents[1] / "schemas"
REF = "#/components/schemas/{model}"

MODELS: list[type[BaseModel]] = [
    models.ScanCreate, models.FindScansArgs, models.ManifestGetArgs, models.IncludeDeletedArgs,
    models.ManifestPatch, models.ResultPut, models.Manifest, models.Result, models.ScanIds, models.ScanWhole,
    models.Error,
]  # fmt: skip

SCAN_ID = {"name": "scan_id", "in": "path", "required": True, "schema": {"type": "string", "pattern": "^[0-9a-f]{32}$"}}
USER, SYSTEM = [{"user": []}], [{"system": []}]
ERRORS = {str(c): {"description": d, "content": {"application/json": {"schema": {"$ref": REF.format(model="Error")}}}}
          for c, d in [(400, "bad argument (named in the message)"), (403, "not allowed"), (404, "no such scan"),
                       (409, "Idempotency-Key reused"), (413, "body too large")]}  # fmt: skip


def _query(model: type[BaseModel]) -> list[dict[str, Any]]:
    schema = model.model_json_schema()
    required = set(schema.get("required", []))
    return [
        {"name": name, "in": "query", "required": name in required, "schema": prop}
        for name, prop in schema["properties"].items()
    ]


def _op(summary: str, response: str | None, security: list[Any], params: list[Any] | None = None,
        body: str | None = None, media: str = "application/json") -> dict[str, Any]:  # fmt: skip
    content = {media: {"schema": {"$ref": REF.format(model=response)} if response else {"type": "string", "format": "binary"}}}
    op: dict[str, Any] = {"summary": summary, "security": security, "parameters": params or [],
                          "responses": {"200": {"description": "OK", "content": content}, **ERRORS}}  # fmt: skip
    if body:
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": {"$ref": REF.format(model=body)}}}}
    return op


def openapi_document() -> dict[str, Any]:
    _, defs = models_json_schema([(m, "validation") for m in MODELS], ref_template=REF)
    manifest = {
        "get": _op("A scan's manifest", "Manifest", USER + SYSTEM, [SCAN_ID, *_query(models.ManifestGetArgs)]),
        "delete": _op("Abort a scan", "Manifest", USER, [SCAN_ID]),
        "patch": _op("Scanner/starter report", "Manifest", SYSTEM, [SCAN_ID], body="ManifestPatch"),
    }
    result = {
        "get": _op("A scan's result ({} until written)", "Result", USER + SYSTEM, [SCAN_ID, *_query(models.IncludeDeletedArgs)]),
        "delete": _op("Mark the result deleted", "Result", USER, [SCAN_ID]),
        "put": _op("Scanner's partial or final result", "Result", SYSTEM, [SCAN_ID], body="ResultPut"),
    }
    idempotency = {"name": "Idempotency-Key", "in": "header", "required": False, "schema": {"type": "string", "maxLength": 200}}
    return {
        "openapi": "3.1.0",
        "info": {"title": "SkyDriver", "version": "1", "description": "Runs IceCube Skymap Scanner sky scans."},
        "paths": {
            "/scans": {"get": _op("Scan ids of a run/event", "ScanIds", USER, _query(models.FindScansArgs))},
            "/scan": {"post": _op("Request a scan", "Manifest", USER, [idempotency], body="ScanCreate")},
            "/scan/manifest/{scan_id}": manifest,
            "/scan/{scan_id}/manifest": manifest,
            "/scan/result/{scan_id}": result,
            "/scan/{scan_id}/result": result,
            "/scan/{scan_id}": {"get": _op("Manifest and result", "ScanWhole", USER + SYSTEM, [SCAN_ID, *_query(models.IncludeDeletedArgs)])},
            "/scan/{scan_id}/result/summary": {"get": {**_op("Best fit, pixel counts, contour areas", None, USER + SYSTEM, [SCAN_ID])}},
            "/scan/{scan_id}/skymap.png": {"get": _op("Sky map of the current result", None, USER + SYSTEM, [SCAN_ID], media="image/png")},
            "/scan/{scan_id}/events": {"get": _op("The scan's changes as server-sent events (state, progress, result, end)", None,
                                                  USER + SYSTEM, [SCAN_ID, *_query(models.IncludeDeletedArgs)], media="text/event-stream")},
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
    for model in MODELS:
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
