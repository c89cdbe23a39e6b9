"""Fault injection, scoped to operations and to a number of matching requests.

A fault is a dict (JSON on the control API, `kind:key=value,...` on the command line):

    kind     latency | error | throttle | hang | truncate | malformed | oversize | duplicate | skew
    op       operation pattern(s), comma-separated, fnmatch style: "avatar.list", "voice.*",
             "huawei" (every MetaStudio operation), "iam" (IAM token issuance, iam.token),
             "tencent" (every CI operation); default "*"
    after    let this many matching requests through first (so after=2,count=1 hits page 3)
    count    then fire for this many matching requests; omitted = every one from then on

and, per kind:
    latency    ms=200, jitter=0             sleep before answering: ms, plus or minus up to jitter
                                             (uniform, never below 0), drawn from the server's seed
    error      status=500|502|503|504        the vendor's 5xx body
    throttle   status=429, retry_after=1     APIGW.0308 JSON (429) / CI SlowDown XML (503 for the
                                             default 429), with Retry-After
    hang       seconds=35 (max 600)          sleep, then answer normally (or never, if stopped)
    truncate   mode=length|cut               length: Content-Length larger than the bytes sent,
                                             then the connection closes; cut: half the body with
                                             a matching Content-Length (unparseable JSON/XML)
    malformed                                syntactically broken JSON / XML with status 200
    oversize   bytes=2097152                 pad the body with whitespace up to that size
    duplicate  k=1, mode=shift|extra         list pages repeat the previous page's last k jobs.
                                             Huawei offset pages: shift = the window moves back k
                                             (as if k jobs moved to the head between two calls:
                                             k jobs are missed in that pass); extra = k more items
                                             than limit. CI: NextToken points k jobs back.
    skew       seconds=-1800                 the server's auth clock is off by this much, so
                                             signatures look expired. Negative = behind, which
                                             breaks both clouds (a COS key starts 60 s before it is
                                             signed and lasts hours; Huawei allows 15 min each way)
"""

import fnmatch
import random
import threading

KINDS = ("latency", "error", "throttle", "hang", "truncate", "malformed", "oversize", "duplicate", "skew")
CLOUD_PATTERNS = {
    "huawei": ("avatar.*", "voice.*", "short.*"),
    "iam": ("iam.*",),
    "tencent": ("ci.*",),
    "ci": ("ci.*",),
}
MAX_HANG = 600
_DEFAULTS = {
    "latency": {"ms": 200},
    "error": {"status": 500},
    "throttle": {"status": 429, "retry_after": 1},
    "hang": {"seconds": 35},
    "truncate": {"mode": "length"},
    "malformed": {},
    "oversize": {"bytes": 2 * 1024 * 1024},
    "duplicate": {"k": 1, "mode": "shift"},
    "skew": {"seconds": -1800},
}


class FaultError(ValueError):
    pass


def _number(value, name):
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise FaultError(f"{name} must be a number") from None
    return int(number) if number == int(number) else number


def normalise(spec):
    """Validate a fault dict and fill its defaults."""
    if not isinstance(spec, dict):
        raise FaultError("a fault is a JSON object")
    kind = spec.get("kind")
    if kind not in KINDS:
        raise FaultError(f"kind must be one of {', '.join(KINDS)}")
    fault = dict(_DEFAULTS[kind])
    fault.update({k: v for k, v in spec.items() if v is not None})
    op = fault.get("op", "*")
    if isinstance(op, (list, tuple)):
        op = ",".join(op)
    fault["op"] = str(op) or "*"
    fault["after"] = int(_number(fault.get("after", 0), "after"))
    if fault.get("count") is not None:
        fault["count"] = int(_number(fault["count"], "count"))
        if fault["count"] < 0:
            raise FaultError("count must be >= 0")
    for key in ("ms", "jitter", "seconds", "bytes", "k", "retry_after", "status"):
        if key in fault:
            fault[key] = _number(fault[key], key)
    if kind == "latency" and (fault["ms"] < 0 or fault.get("jitter", 0) < 0):
        raise FaultError("latency ms and jitter must be >= 0")
    if kind == "error" and fault["status"] not in (500, 502, 503, 504):
        raise FaultError("error status must be 500, 502, 503 or 504")
    if kind == "hang":
        fault["seconds"] = min(max(fault["seconds"], 0), MAX_HANG)
    if kind == "truncate" and fault["mode"] not in ("length", "cut"):
        raise FaultError("truncate mode must be length or cut")
    if kind == "duplicate" and fault["mode"] not in ("shift", "extra"):
        raise FaultError("duplicate mode must be shift or extra")
    fault["kind"] = kind
    return fault


def parse_cli(text):
    """`error:op=avatar.list,count=3,status=503` -> a fault dict."""
    kind, _, rest = text.partition(":")
    spec = {"kind": kind.strip()}
    for part in filter(None, rest.split(",")):
        key, sep, value = part.partition("=")
        if not sep:
            raise FaultError(f"expected key=value, got {part!r}")
        spec[key.strip()] = value.strip()
    # op patterns are separated by "+" on the command line, where "," separates keys
    if "op" in spec:
        spec["op"] = spec["op"].replace("+", ",")
    return normalise(spec)


def op_matches(pattern_text, op):
    for pattern in pattern_text.split(","):
        pattern = pattern.strip()
        for expanded in CLOUD_PATTERNS.get(pattern, (pattern,)):
            if fnmatch.fnmatchcase(op, expanded):
                return True
    return False


def latency_ms(fault, rng):
    """One request's delay: ms, moved uniformly by up to +-jitter, never negative."""
    jitter = fault.get("jitter", 0)
    if not jitter:
        return fault["ms"]
    return max(0.0, fault["ms"] + rng.uniform(-jitter, jitter))


class FaultSet:
    def __init__(self, seed=None):
        self._lock = threading.Lock()
        self._faults = []
        self._next_id = 1
        # Jitter is drawn from the seed: a sequential client sees the same delays run after run
        # (concurrent clients interleave their draws, so only their bounds are repeatable).
        self._rng = random.Random(seed)

    def add(self, spec):
        fault = normalise(spec)
        with self._lock:
            fault["id"] = self._next_id
            self._next_id += 1
            fault["seen"] = 0
            fault["fired"] = 0
            self._faults.append(fault)
        return dict(fault)

    def replace(self, specs):
        faults = [normalise(s) for s in specs]  # validate all before changing anything
        with self._lock:
            self._faults = []
        return [self.add(f) for f in faults]

    def clear(self):
        with self._lock:
            self._faults = []

    def describe(self):
        with self._lock:
            out = []
            for fault in self._faults:
                item = dict(fault)
                if fault.get("count") is not None:
                    item["remaining"] = max(fault["count"] - fault["fired"], 0)
                out.append(item)
            return out

    def fire(self, op):
        """The faults that fire for one request of `op` (their counters move)."""
        fired = {}
        with self._lock:
            for fault in self._faults:
                if not op_matches(fault["op"], op):
                    continue
                fault["seen"] += 1
                if fault["seen"] <= fault["after"]:
                    continue
                if fault.get("count") is not None and fault["fired"] >= fault["count"]:
                    continue
                fault["fired"] += 1
                if fault["kind"] in fired:
                    continue  # the first matching fault of a kind is the one applied
                if fault["kind"] == "latency":
                    delay = round(latency_ms(fault, self._rng), 3)
                    fault["min_delay_ms"] = min(fault.get("min_delay_ms", delay), delay)
                    fault["max_delay_ms"] = max(fault.get("max_delay_ms", delay), delay)
                    fired["latency"] = dict(fault, delay_ms=delay)
                else:
                    fired[fault["kind"]] = dict(fault)
        return fired
