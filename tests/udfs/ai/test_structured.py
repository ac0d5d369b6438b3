from __future__ import annotations

import pyarrow as pa
import pydantic
import pytest

from thresher.errors import ThresherExecutionError, ThresherTypeError
from thresher.udfs.ai.structured import arrow_type_for, extract_json, parse_outputs, response_format


class Tag(pydantic.BaseModel):
    name: str
    weight: float = 1.0


class Review(pydantic.BaseModel):
    sentiment: str
    score: int
    tags: list[Tag]
    note: str | None = None


def test_pydantic_model_to_arrow_struct():
    t = arrow_type_for(Review)
    assert t == pa.struct(
        [
            pa.field("sentiment", pa.string(), nullable=False),
            pa.field("score", pa.int64(), nullable=False),
            pa.field(
                "tags",
                pa.list_(pa.struct([pa.field("name", pa.string(), nullable=False), pa.field("weight", pa.float64())])),
                nullable=False,
            ),
            pa.field("note", pa.string()),
        ]
    )


def test_json_schema_to_arrow_struct_and_errors():
    schema = {
        "type": "object",
        "properties": {
            "a": {"type": "integer"},
            "b": {"type": "array", "items": {"type": "string"}},
            "c": {"enum": ["x", "y"]},
        },
        "required": ["a"],
    }
    assert arrow_type_for(schema) == pa.struct(
        [pa.field("a", pa.int64(), nullable=False), pa.field("b", pa.list_(pa.string())), pa.field("c", pa.string())]
    )
    with pytest.raises(ThresherTypeError):
        arrow_type_for({"type": "string"})
    with pytest.raises(ThresherTypeError):
        arrow_type_for({"type": "object", "properties": {"u": {"anyOf": [{"type": "string"}, {"type": "integer"}]}}})
    assert response_format(Review)["json_schema"]["schema"]["title"] == "Review"


def test_parse_valid_invalid_and_fenced_outputs():
    texts = [
        '{"sentiment": "pos", "score": 4, "tags": [{"name": "fun"}]}',
        'Here you go:\n```json\n{"sentiment": "neg", "score": 1, "tags": []}\n```',
        '{"sentiment": "pos", "score": "many", "tags": []}',
        "I cannot answer that.",
        None,
    ]
    values, errors = parse_outputs(texts, Review)
    assert values.type == arrow_type_for(Review)
    rows = values.to_pylist()
    assert rows[0] == {"sentiment": "pos", "score": 4, "tags": [{"name": "fun", "weight": 1.0}], "note": None}
    assert rows[1]["sentiment"] == "neg"
    assert rows[2] is None and "score" in errors[2]
    assert rows[3] is None and "row 3" in errors[3]
    assert rows[4] is None and errors[4] is None and errors[0] is None
    with pytest.raises(ThresherExecutionError, match="row 2"):
        parse_outputs(texts, Review, on_error="raise")


def test_parse_with_json_schema_validation():
    schema = {"type": "object", "properties": {"a": {"type": "integer"}, "c": {"enum": ["x", "y"]}}, "required": ["a"]}
    values, errors = parse_outputs(['{"a": 1, "c": "x"}', '{"c": "x"}', '{"a": 2, "c": "z"}', '{"a": true}'], schema)
    assert values.to_pylist() == [{"a": 1, "c": "x"}, None, None, None]
    assert "missing required field 'a'" in errors[1] and "not one of" in errors[2] and "expected integer" in errors[3]


def test_extract_json_prefers_whole_text():
    assert extract_json(' {"a": [1, 2]} ') == {"a": [1, 2]}
