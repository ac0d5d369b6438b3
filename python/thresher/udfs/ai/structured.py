"""Structured output: a pydantic model or JSON schema as ``return_format``.

At plan time :func:`arrow_type_for` maps the format to an Arrow struct type (so the ``prompt``
column is typed before anything runs); at run time :func:`parse_outputs` parses each model answer
(tolerating code fences and text around the JSON object), validates it, and builds the struct
array. An answer that does not parse or validate becomes null plus an error message
(``on_error="null"``), or raises (``on_error="raise"``).

Examples
--------
>>> import pydantic
>>> class Review(pydantic.BaseModel):
...     sentiment: str
...     score: float
>>> arrow_type_for(Review)
StructType(struct<sentiment: string not null, score: double not null>)
>>> values, errors = parse_outputs(['{"sentiment": "good", "score": 0.9}', "nope"], Review)
>>> values.to_pylist()[0], errors[1] is not None
({'sentiment': 'good', 'score': 0.9}, True)
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

import pyarrow as pa

from thresher.errors import ThresherExecutionError, ThresherTypeError

__all__ = ["ReturnFormat", "json_schema_of", "arrow_type_for", "parse_outputs", "extract_json", "response_format"]

#: A pydantic model class or a JSON schema dict.
ReturnFormat = Any

_PRIMITIVES: dict[str, pa.DataType] = {
    "string": pa.string(),
    "integer": pa.int64(),
    "number": pa.float64(),
    "boolean": pa.bool_(),
    "null": pa.null(),
}
_STRING_FORMATS: dict[str, pa.DataType] = {"date-time": pa.timestamp("us", tz="UTC"), "date": pa.date32()}


def _is_pydantic(fmt: Any) -> bool:
    return isinstance(fmt, type) and hasattr(fmt, "model_json_schema") and hasattr(fmt, "model_validate")


def json_schema_of(fmt: ReturnFormat) -> dict[str, Any]:
    """The JSON schema of a pydantic model class, or the schema itself."""
    if _is_pydantic(fmt):
        return dict(fmt.model_json_schema())
    if isinstance(fmt, Mapping):
        return dict(fmt)
    raise ThresherTypeError(f"return_format must be a pydantic model class or a JSON schema dict, got {fmt!r}")


def response_format(fmt: ReturnFormat, name: str = "output") -> dict[str, Any]:
    """The OpenAI ``response_format`` payload asking a server for JSON matching ``fmt``."""
    return {"type": "json_schema", "json_schema": {"name": name, "schema": json_schema_of(fmt), "strict": False}}


def arrow_type_for(fmt: ReturnFormat) -> pa.DataType:
    """Map a pydantic model or JSON object schema to an Arrow struct type (at plan time).

    Raises
    ------
    ThresherTypeError
        If the schema is not an object or uses a construct with no Arrow equivalent.
    """
    schema = json_schema_of(fmt)
    t = _to_arrow(schema, schema.get("$defs") or schema.get("definitions") or {}, "return_format")
    if not pa.types.is_struct(t):
        raise ThresherTypeError(f"return_format must describe a JSON object, got type {schema.get('type')!r}")
    return t


def _resolve(node: Mapping[str, Any], defs: Mapping[str, Any]) -> Mapping[str, Any]:
    ref = node.get("$ref")
    if ref:
        return defs[ref.rsplit("/", 1)[-1]]
    return node


def _to_arrow(node: Mapping[str, Any], defs: Mapping[str, Any], where: str) -> pa.DataType:
    node = _resolve(node, defs)
    variants = node.get("anyOf") or node.get("oneOf")
    if variants:
        non_null = [v for v in variants if _resolve(v, defs).get("type") != "null"]
        if len(non_null) == 1:
            return _to_arrow(non_null[0], defs, where)
        raise ThresherTypeError(f"{where}: a union of {len(non_null)} types has no Arrow type")
    if "enum" in node and "type" not in node:
        return pa.string()
    kind = node.get("type")
    if isinstance(kind, list):
        kinds = [k for k in kind if k != "null"]
        if len(kinds) != 1:
            raise ThresherTypeError(f"{where}: type {kind} has no Arrow type")
        kind = kinds[0]
    if kind == "object":
        props = node.get("properties")
        if not props:
            return pa.string()  # free-form object: kept as its JSON text
        required = set(node.get("required", ()))
        return pa.struct(
            [pa.field(k, _to_arrow(v, defs, f"{where}.{k}"), nullable=k not in required) for k, v in props.items()]
        )
    if kind == "array":
        return pa.list_(_to_arrow(node.get("items", {"type": "string"}), defs, f"{where}[]"))
    if kind == "string" and node.get("format") in _STRING_FORMATS:
        return _STRING_FORMATS[node["format"]]
    if kind in _PRIMITIVES:
        return _PRIMITIVES[kind]
    raise ThresherTypeError(f"{where}: JSON schema type {kind!r} has no Arrow type")


_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.DOTALL)


def extract_json(text: str) -> Any:
    """Parse the JSON value in a model answer: the whole text, a fenced block, or the first ``{...}``.

    Examples
    --------
    >>> extract_json('Sure! ```json\\n{"a": 1}\\n``` done')
    {'a': 1}
    """
    candidates = [text.strip()]
    candidates += [m.strip() for m in _FENCE.findall(text)]
    start, end = text.find("{"), text.rfind("}")
    if 0 <= start < end:
        candidates.append(text[start : end + 1])
    err: Exception | None = None
    for c in candidates:
        try:
            return json.loads(c)
        except ValueError as exc:
            err = exc
    raise ValueError(f"no JSON object in the output ({err})")


def _validate_schema(value: Any, node: Mapping[str, Any], defs: Mapping[str, Any], where: str) -> Any:
    """A small JSON-schema check (types, required, enums) for plain-dict formats."""
    node = _resolve(node, defs)
    variants = node.get("anyOf") or node.get("oneOf")
    if variants:
        errors = []
        for v in variants:
            try:
                return _validate_schema(value, v, defs, where)
            except ValueError as exc:
                errors.append(str(exc))
        raise ValueError("; ".join(errors))
    if "enum" in node and value not in node["enum"]:
        raise ValueError(f"{where}: {value!r} is not one of {node['enum']}")
    kind = node.get("type")
    kinds = kind if isinstance(kind, list) else [kind] if kind else []
    if value is None:
        if kinds and "null" not in kinds:
            raise ValueError(f"{where}: null is not allowed")
        return None
    checks = {
        "string": lambda v: isinstance(v, str),
        "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
        "boolean": lambda v: isinstance(v, bool),
        "object": lambda v: isinstance(v, dict),
        "array": lambda v: isinstance(v, list),
    }
    if kinds and not any(checks.get(k, lambda v: False)(value) for k in kinds if k != "null"):
        raise ValueError(f"{where}: expected {kind}, got {type(value).__name__}")
    if isinstance(value, dict) and node.get("properties"):
        for req in node.get("required", ()):
            if req not in value:
                raise ValueError(f"{where}: missing required field {req!r}")
        return {
            k: _validate_schema(value.get(k), sub, defs, f"{where}.{k}") if k in value else None
            for k, sub in node["properties"].items()
        }
    if isinstance(value, dict):
        return json.dumps(value)
    if isinstance(value, list):
        return [_validate_schema(v, node.get("items", {}), defs, f"{where}[]") for v in value]
    return value


def parse_outputs(
    texts: Sequence[str | None], fmt: ReturnFormat, on_error: str = "null"
) -> tuple[pa.Array, list[str | None]]:
    """Parse and validate model answers into a struct array of :func:`arrow_type_for` ``(fmt)``.

    Parameters
    ----------
    texts : Sequence[str or None]
        Raw model outputs (None stays null).
    fmt : pydantic model class or JSON schema dict
        The return format.
    on_error : {"null", "raise"}
        What an invalid answer becomes.

    Returns
    -------
    (pyarrow.Array, list[str or None])
        The struct values and, per row, the error message (None where the row is valid).
    """
    if on_error not in ("null", "raise"):
        raise ValueError(f"on_error must be 'null' or 'raise', got {on_error!r}")
    arrow_type = arrow_type_for(fmt)
    schema = json_schema_of(fmt)
    defs = schema.get("$defs") or schema.get("definitions") or {}
    values: list[Any] = []
    errors: list[str | None] = []
    for i, text in enumerate(texts):
        if text is None:
            values.append(None)
            errors.append(None)
            continue
        try:
            raw = extract_json(text)
            if _is_pydantic(fmt):
                value = fmt.model_validate(raw).model_dump(mode="python")
            else:
                value = _validate_schema(raw, schema, defs, "$")
            pa.array([value], type=arrow_type)  # the value must fit the planned type
        except Exception as exc:  # noqa: BLE001 - any parse/validation failure is a bad row
            msg = f"row {i}: invalid structured output: {exc}".replace("\n", " ")[:500]
            if on_error == "raise":
                raise ThresherExecutionError(msg) from exc
            values.append(None)
            errors.append(msg)
            continue
        values.append(value)
        errors.append(None)
    return pa.array(values, type=arrow_type), errors
