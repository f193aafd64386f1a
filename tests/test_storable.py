"""The free-form object checks name where the problem is: the path of the offending key or container."""

from __future__ import annotations

import pytest

from skydriver.json_codec import has_non_finite
from skydriver.storable import MAX_DEPTH, NotStorable, check_depth, check_free_form


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"$set": 1}, "key '$set' starts with '$'"),
        ({"a": [{"b": {"x\u0000": 1}}]}, "key 'x\\x00' in a[0].b holds a NUL character"),
        ({"a": {"b": [[{"$where": 1}]]}}, "key '$where' in a.b[0][0] starts with '$'"),
        ([{"ok": 1}, {"c": {"$x": 2}}], "key '$x' in [1].c starts with '$'"),
    ],
)
def test_a_bad_key_is_named_with_its_path(value: object, message: str) -> None:
    with pytest.raises(NotStorable) as raised:
        check_free_form(value)
    assert str(raised.value) == message


def test_too_deep_names_the_first_container_past_the_limit() -> None:
    value: dict = {}
    inner = value
    for _ in range(MAX_DEPTH):
        inner["k"] = {}
        inner = inner["k"]
    with pytest.raises(NotStorable) as raised:
        check_depth(value)
    assert str(raised.value) == f"nested more than {MAX_DEPTH} levels deep (at {'.'.join(['k'] * MAX_DEPTH)})"
    check_depth({"k": value["k"]["k"]})  # one level less is fine


def test_good_objects_pass() -> None:
    check_free_form({"est. percent": "1/2", "": [1, {"a b": None}], "nested": [[[]]]})
    check_depth([[{"a": [1, 2]}]] * 3)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"a": [1, 2.5, {"b": "nan"}]}, False),
        ({"a": [1, {"b": float("nan")}]}, True),
        ([[[float("-inf")]]], True),
        (float("inf"), True),
        ({"a": True, "b": None}, False),
    ],
)
def test_non_finite_numbers_are_found_anywhere(value: object, expected: bool) -> None:
    assert has_non_finite(value) is expected
