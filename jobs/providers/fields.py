"""Typed reads of untrusted vendor values, shared by the provider modules.

Every value a vendor sends is checked here before it reaches a record: strings are truncated
to the column sizes of jobs.models.Job, ids are never truncated (that would merge two jobs),
numbers must be numbers. A value of the wrong type raises ``FieldError`` naming the field; the
provider turns it into a ResponseError with the job id for context.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

_CONTROL_CHARS = re.compile("[\x00-\x1f\x7f]")


class FieldError(ValueError):
    pass


def _type_name(value) -> str:
    return "null" if value is None else type(value).__name__


def text(obj: Mapping, key: str, *, max_len: int = 255) -> str:
    """A string field; None/absent -> "", numbers are accepted as their decimal text."""
    value = obj.get(key)
    if type(value) is str:  # the common case first: this runs for most fields of every listed job
        return value.replace("\x00", "")[:max_len]
    if value is None:
        return ""
    if isinstance(value, bool):
        value = "true" if value else "false"
    elif isinstance(value, int | float):
        value = str(value)
    elif not isinstance(value, str):
        raise FieldError(f"{key}: expected a string, got {_type_name(value)}")
    value = value.replace("\x00", "")
    return value[:max_len]


def identifier(obj: Mapping, key: str, *, max_len: int = 128) -> str:
    """A required id: a non-empty string without control characters, never truncated."""
    value = obj.get(key)
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value.strip():
        raise FieldError(f"{key}: missing or not a string (got {_type_name(value)})")
    value = value.strip()
    if len(value) > max_len:
        raise FieldError(f"{key}: longer than {max_len} characters")
    if _CONTROL_CHARS.search(value):
        raise FieldError(f"{key}: contains control characters")
    return value


def integer(obj: Mapping, key: str, *, minimum: int | None = None, maximum: int | None = None) -> int | None:
    value = obj.get(key)
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise FieldError(f"{key}: expected an integer, got {_type_name(value)}")
    if minimum is not None and value < minimum:
        raise FieldError(f"{key}: {value} is below {minimum}")
    if maximum is not None and value > maximum:
        raise FieldError(f"{key}: {value} is above {maximum}")
    return value


def boolean(obj: Mapping, key: str) -> bool | None:
    value = obj.get(key)
    if value is None or isinstance(value, bool):
        return value
    raise FieldError(f"{key}: expected a boolean, got {_type_name(value)}")


def string_list(obj: Mapping, key: str, *, max_items: int = 50, max_len: int = 64) -> tuple[str, ...]:
    value = obj.get(key)
    if value is None:
        return ()
    if not isinstance(value, list):
        raise FieldError(f"{key}: expected a list, got {_type_name(value)}")
    out = []
    for item in value[:max_items]:
        if not isinstance(item, str):
            raise FieldError(f"{key}: expected a list of strings, found {_type_name(item)}")
        if item:
            out.append(item.replace("\x00", "")[:max_len])
    return tuple(out)


def mapping(obj: Mapping, key: str) -> dict:
    value = obj.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise FieldError(f"{key}: expected an object, got {_type_name(value)}")
    return value


def object_list(obj: Mapping, key: str) -> list[dict]:
    value = obj.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise FieldError(f"{key}: expected a list, got {_type_name(value)}")
    for item in value:
        if not isinstance(item, dict):
            raise FieldError(f"{key}: expected a list of objects, found {_type_name(item)}")
    return value


# Values strip_keys copies as they are (checked by exact type: a subclass takes the slow path).
_SCALARS = frozenset({str, int, float, bool, type(None)})


def strip_keys(data: Any, drop: Callable[[Any], bool]) -> Any:
    """A deep copy of JSON-like data without the keys ``drop`` selects, at any depth.

    Every dict and list is a new object; scalars are shared. ``drop`` gets every key (not only
    strings). This runs for every field of every listed job, so ``drop`` should be cheap
    (Huawei's is a memoised dict lookup).
    """
    if isinstance(data, dict):
        return {
            key: value if type(value) in _SCALARS else strip_keys(value, drop)
            for key, value in data.items()
            if not drop(key)
        }
    if isinstance(data, list | tuple):
        return [value if type(value) in _SCALARS else strip_keys(value, drop) for value in data]
    return data
