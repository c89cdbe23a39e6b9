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


class KeyStripper:
    """Removes the keys ``drop`` selects from JSON-like data the caller owns, at any depth, in place.

    For data just parsed from a response, where a copy (strip_keys) would be wasted work. Each
    key's decision is remembered (at most MAX_KEYS of them), so a dict whose keys have all been
    seen before costs two C-level set operations, a subset test and an intersection, plus a walk
    over its values to find nested containers. Plain dicts and lists are changed in place; any
    other container below them (a tuple, a dict subclass) is replaced by a stripped copy. Safe to
    share between threads: at worst two threads decide the same new key twice.
    """

    MAX_KEYS = 4096

    def __init__(self, drop: Callable[[Any], bool]):
        self._drop = drop
        self._known: set = set()
        self._dropped: set = set()

    def __call__(self, data: Any) -> Any:
        """``data`` itself, stripped (a copy only if it is neither a plain dict nor a list)."""
        box = [data]
        self._values(box, enumerate(box))
        return box[0]

    def _dict(self, data: dict) -> None:
        keys = data.keys()
        doomed = keys & self._dropped
        if not keys <= self._known:
            doomed |= self._learn(keys - self._known)
        for key in doomed:
            del data[key]
        self._values(data, data.items())

    def _values(self, container, pairs) -> None:
        """Strip the containers among ``pairs`` (a dict's items or a list's enumerate())."""
        for key, value in pairs:
            kind = type(value)
            if kind is dict:
                self._dict(value)
            elif kind is list:
                self._values(value, enumerate(value))
            elif kind not in _SCALARS:
                container[key] = strip_keys(value, self._drop)

    def _learn(self, keys) -> set:
        """Decide keys not seen before; returns those to drop."""
        dropped = {key for key in keys if self._drop(key)}
        if len(self._known) < self.MAX_KEYS:
            self._known.update(keys)
            self._dropped.update(dropped)
        return dropped
