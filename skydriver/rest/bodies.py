"""Request bodies from bytes to what a handler method takes: parsed, checked, and for results encoded for storage.

Plain functions of the body's bytes, so that ``BaseHandler`` can run them on the event loop for small bodies and in
a worker process for large ones (``workers``); their errors are SkyDriver's own (they pickle), never pydantic's.
"""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

import pydantic

from .. import json_codec
from ..errors import ArgumentError, BadRequest, IntegerOutOfRange
from ..models import ResultPut
from ..results.validation import validate_skyscan_result

M = TypeVar("M", bound=pydantic.BaseModel)


def describe_validation_error(exc: pydantic.ValidationError) -> str:
    """pydantic's errors as "argument 'x': reason" lines, naming every bad argument."""
    parts = []
    for error in exc.errors(include_url=False):
        loc = [str(p) for p in error["loc"]]
        # drop pydantic's union-branch names (e.g. "dict[str,int]") from the location
        loc = [p for p in loc if not any(ch in p for ch in "[]()")] or ["body"]
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = "unknown argument"
        elif error["type"] == "missing":
            message = "required argument is missing"
        parts.append(f"argument '{loc[0]}'{'' if len(loc) == 1 else ' at ' + '.'.join(loc[1:])}: {message}")
    return "; ".join(dict.fromkeys(parts))


def parse_object(body: bytes) -> tuple[dict[str, Any], bool]:
    """The body as a dict ({} when empty), and whether it held NaN/Infinity tokens."""
    if not body.strip():
        return {}, False
    try:
        value, non_finite = json_codec.loads(body)
    except IntegerOutOfRange as exc:
        if exc.path and isinstance(exc.path[0], str):
            raise ArgumentError(exc.path[0], str(exc)) from None
        raise
    if not isinstance(value, dict):
        raise BadRequest(f"body must be a JSON object, not {type(value).__name__}")
    return value, non_finite


def validated(model: type[M], value: dict[str, Any]) -> M:
    try:
        return model.model_validate(value)
    except pydantic.ValidationError as exc:
        raise BadRequest(describe_validation_error(exc)) from None


def model_body(model: type[M], body: bytes) -> M:
    """Any operation's JSON body as its model."""
    return validated(model, parse_object(body)[0])


@dataclasses.dataclass(frozen=True)
class ResultText:
    """A PUT result, checked against HEALPix geometry and encoded as it is stored (NaN tokens kept as they came)."""

    skyscan_result: bytes
    is_final: bool


def result_body(body: bytes) -> ResultText:
    value, non_finite = parse_object(body)
    put = validated(ResultPut, value)
    validate_skyscan_result(put.skyscan_result)
    return ResultText(json_codec.dumps(put.skyscan_result, non_finite), put.is_final)
