"""Vendor time values -> aware UTC datetimes. Each provider calls these from one helper.

The clouds disagree on time formats (docs/vendors/huawei-metastudio.md §11,
docs/vendors/tencent-ci.md §9):
RFC 3339 strings (MetaStudio avatar jobs), epoch numbers of unstated unit (MetaStudio voice,
short jobs, op-logs, audit results) and ``2019-07-07T12:12:12+0800`` strings (Tencent CI).
A value of the wrong type or one that does not parse raises ``TimeFormatError`` (a ValueError);
the provider turns it into a ResponseError naming the field.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime

# Epoch values above this are milliseconds: 1e11 seconds is the year 5138, while 1e11
# milliseconds is March 1973, so no real job time is ambiguous.
EPOCH_MS_THRESHOLD = 1e11
# Reject anything past 9999-12-31 (datetime's limit) with a clear message rather than OverflowError.
_MAX_EPOCH_SECONDS = 253402300799

_RFC3339 = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?"
    r"(Z|z|[+-]\d{2}:?\d{2})$"
)

# The forms the clouds actually send (ASCII digits, "T", at most 6 fraction digits, "Z",
# "+hh:mm" or Tencent's "+hhmm"): a quick match, then fromisoformat. Everything else takes the
# general path below.
_RFC3339_PLAIN = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,6})?(?:Z|[+-][0-9]{2}(:?)[0-9]{2})"
)


class TimeFormatError(ValueError):
    pass


def _describe(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def parse_rfc3339(value) -> datetime | None:
    """``2020-07-30T10:43:17Z`` / ``...+08:00`` / ``...+0800`` / fractions -> aware UTC.

    None and "" mean "not set". A string without an offset is rejected: guessing a zone
    would silently shift every time by hours.
    """
    if type(value) is str and (plain := _RFC3339_PLAIN.fullmatch(value)):
        # Listing hot path (two or three times per job). fromisoformat before 3.11 wants "+00:00".
        if value[-1] == "Z":
            text = value[:-1] + "+00:00"
        elif plain[1]:  # "+hh:mm"
            text = value
        else:  # "+hhmm"
            text = value[:-2] + ":" + value[-2:]
        try:
            # astimezone overflows for times near year 1 or 9999 with an offset.
            return datetime.fromisoformat(text).astimezone(UTC)
        except (ValueError, OverflowError):
            raise TimeFormatError(f"not a valid date/time: {_describe(value)}") from None
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise TimeFormatError(f"expected an RFC 3339 string, got {type(value).__name__} {_describe(value)}")
    text = value.strip()
    match = _RFC3339.match(text)
    if not match:
        raise TimeFormatError(f"not an RFC 3339 time: {_describe(value)}")
    year, month, day, hour, minute, second, fraction, offset = match.groups()
    if offset in ("Z", "z"):
        offset = "+00:00"
    elif ":" not in offset:
        offset = offset[:3] + ":" + offset[3:]
    # fromisoformat takes at most 6 fraction digits.
    fraction = (fraction or "")[:7]
    try:
        parsed = datetime.fromisoformat(f"{year}-{month}-{day}T{hour}:{minute}:{second}{fraction}{offset}")
        return parsed.astimezone(UTC)
    except (ValueError, OverflowError):
        raise TimeFormatError(f"not a valid date/time: {_describe(value)}") from None


def parse_epoch(value) -> datetime | None:
    """An epoch number of unstated unit -> aware UTC: above 1e11 milliseconds, else seconds.

    None, "" and 0 mean "not set" (the vendor's ranges start at 0 for unset fields).
    Integral strings are accepted; booleans, fractions of a string, negatives are not.
    """
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise TimeFormatError(f"expected an epoch number, got a boolean {_describe(value)}")
    if isinstance(value, str):
        if not re.fullmatch(r"\d{1,16}", value.strip()):
            raise TimeFormatError(f"expected an epoch number, got {_describe(value)}")
        value = int(value.strip())
    if isinstance(value, float):
        if not math.isfinite(value):
            raise TimeFormatError(f"expected an epoch number, got {_describe(value)}")
    elif not isinstance(value, int):
        raise TimeFormatError(f"expected an epoch number, got {type(value).__name__} {_describe(value)}")
    if value < 0:
        raise TimeFormatError(f"negative epoch time {_describe(value)}")
    if value == 0:
        return None
    seconds = value / 1000 if value > EPOCH_MS_THRESHOLD else value
    if seconds > _MAX_EPOCH_SECONDS:
        raise TimeFormatError(f"epoch time out of range: {_describe(value)}")
    if isinstance(seconds, int):
        return datetime.fromtimestamp(seconds, UTC)
    # Exact millisecond arithmetic (float division can be off by a microsecond).
    if isinstance(value, int):
        whole, millis = divmod(value, 1000)
        return datetime.fromtimestamp(whole, UTC).replace(microsecond=millis * 1000)
    return datetime.fromtimestamp(seconds, UTC)


def parse_offset_time(value) -> datetime | None:
    """Tencent CI ``2019-07-07T12:12:12+0800`` -> aware UTC; ``-`` and "" mean "not set".

    The docs' format string ``%Y-%m-%dT%H:%m:%S%z`` uses %m for minutes (a typo); the real
    values have a colon-less offset, which parse_rfc3339 accepts as well as ``+08:00``/``Z``.
    """
    if isinstance(value, str) and value.strip() in ("", "-"):
        return None
    return parse_rfc3339(value)
