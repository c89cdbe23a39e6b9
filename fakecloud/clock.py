"""Two clocks: the virtual clock that drives job schedules, and the auth clock.

The virtual clock is `start + real elapsed * speed + advanced offset`; speed 0 freezes it so
tests move it only with advance(). Signatures are checked against the real wall clock (the
clients sign with real time), shifted by the clock-skew fault.
"""

import threading
import time
from datetime import UTC, datetime


class VirtualClock:
    def __init__(self, start_ms=None, speed=1.0, monotonic=time.monotonic):
        if start_ms is None:
            start_ms = int(time.time()) * 1000
        self.start_ms = int(start_ms)
        self.speed = float(speed)
        self._monotonic = monotonic
        self._t0 = monotonic()
        self._offset_ms = 0
        self._lock = threading.Lock()

    def now_ms(self):
        elapsed = self._monotonic() - self._t0
        return self.start_ms + int(elapsed * 1000 * self.speed) + self._offset_ms

    def advance(self, seconds):
        with self._lock:
            self._offset_ms += int(float(seconds) * 1000)
        return self.now_ms()

    @property
    def offset_seconds(self):
        return self._offset_ms / 1000


def rfc3339(ms):
    """Huawei avatar style: `2023-12-08T08:30:56Z` (UTC, seconds)."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ms // 1000))


def cst(ms):
    """Tencent CI style: `2022-07-25T16:35:39+0800` (China Standard Time)."""
    return time.strftime("%Y-%m-%dT%H:%M:%S+0800", time.gmtime(ms // 1000 + 8 * 3600))


def parse_time_ms(value):
    """A filter time as clients send it: RFC 3339 / ISO 8601 (`Z`, `+08:00` or `+0800`) or
    epoch milliseconds (seconds if the number is small). Raises ValueError otherwise."""
    value = value.strip()
    if not value:
        raise ValueError("empty time")
    if value.isdigit():
        number = int(value)
        return number if number > 10**11 else number * 1000
    text = value.replace(" ", "T")
    if text.endswith("Z") or text.endswith("z"):
        text = text[:-1] + "+00:00"
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return int(parsed.timestamp() * 1000)
