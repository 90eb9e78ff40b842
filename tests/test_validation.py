"""The one type check shared by module options and config fields."""

from typing import Any, Literal

import pytest

from attnzoo.validation import AttnzooError, coerce, fits


@pytest.mark.parametrize(
    ("value", "hint"),
    [
        (3, float),
        (3.0, float),
        (3, int),
        (True, bool),
        (None, int | None),
        ("a", str),
        ("x", Literal["x", "y"]),
        ([1, 2], list[int]),
        ((1, 2), tuple[int, ...]),
        ({"a": 0.5}, dict[str, float]),
        (object(), Any),
    ],
)
def test_values_of_the_declared_type_fit(value, hint):
    assert fits(value, hint)
    assert coerce(value, hint) == value


@pytest.mark.parametrize(
    ("value", "hint"),
    [
        (True, int),
        (True, float),
        (1.5, int),
        ("1", int),
        (None, int),
        ("z", Literal["x"]),
        ([1, "a"], list[int]),
        ({"a": "b"}, dict[str, float]),
        ("ab", list[str]),
    ],
)
def test_values_of_another_type_do_not(value, hint):
    assert not fits(value, hint)


def test_numeric_strings_only_where_asked():
    assert coerce("1e-3", float, numeric_strings=True) == 1e-3
    assert coerce(["2", 3], list[int], numeric_strings=True) == [2, 3]
    with pytest.raises(ValueError):
        coerce("1.5", int, numeric_strings=True)
    assert not fits("1e-3", float)


def test_the_project_error_is_a_value_error():
    assert issubclass(AttnzooError, ValueError)


def test_mappings_are_checked_key_by_key():
    from collections.abc import Mapping

    assert fits({256: 56}, Mapping[int, int]) and fits({256: 56}, int | Mapping[int, int] | None)
    assert not fits({256: "x"}, Mapping[int, int])
