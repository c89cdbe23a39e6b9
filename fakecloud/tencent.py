"""Tencent Cloud Infinite (CI): translation jobs on `/ai_jobs` and `/jobs`.

DescribeMediaJobs (list, NextToken paging), DescribeAIJob (`/ai_jobs/<id>`, several ids on
`/jobs/<id,id>`), CreateAIJobs / CreateJob (submit). Bodies are well-formed XML (unlike the
seed page's `<Tag>Translation<Tag>`); errors are `<Error>` with Code, Message, RequestId and
TraceId and no Resource, as CI documents. Times are `+0800` strings, `-` or empty when unset.
Wire facts: docs/vendors/tencent-ci.md (§2 list and paging, §3 JobsDetail, §4 NonExistJobIds,
§9 times, §10 XML, §12 errors).
"""

import base64
import bisect
import hashlib
import os
import re
import time
from xml.sax.saxutils import escape

from defusedxml import ElementTree

from . import data
from .clock import cst, parse_time_ms
from .wire import Response, match_route

ROUTES = [
    ("ci.list", "GET", re.compile(r"^/(?P<root>ai_jobs|jobs)/?$")),
    ("ci.detail", "GET", re.compile(r"^/(?P<root>ai_jobs|jobs)/(?P<job_ids>[^/]+)/?$")),
    ("ci.submit", "POST", re.compile(r"^/(?P<root>ai_jobs|jobs)/?$")),
]
OPERATIONS = [op for op, _, _ in ROUTES]

STATES = ("Submitted", "Running", "Success", "Failed", "Pause", "Cancel")
_LANGS = {"zh", "zh-hk", "zh-tw", "zh-tr", "en", "ar", "de", "es", "fr", "id", "it", "ja", "pt", "ru", "ko", "km", "lo"}
_TYPES = {"pdf", "docx", "pptx", "xlsx", "txt", "xml", "html", "markdown", "jpg", "jpeg", "png", "webp"}
_FAILURES = [
    ("InvalidContent", "The input file is damaged or is not a valid document"),
    ("ResourceDownloadFailed", "Failed to download the input object"),
    ("InternalError", "Translation engine internal error, please retry"),
]


def match(method, path):
    return match_route(ROUTES, method, path)


# docs/vendors/tencent-ci.md §1 and §14: <BucketName-APPID>.ci.<Region>.myqcloud.com
_CI_HOST = re.compile(r"^(?P<bucket>[a-z0-9-]+-\d+)\.ci\.[a-z0-9-]+\.myqcloud\.com$")


def bucket_of(host, default):
    """The bucket a request is for: from a `<bucket>.ci.<region>.myqcloud.com` Host (any port),
    else the configured one (an SDK sent by IP and Port, or a plain origin-form request)."""
    found = _CI_HOST.match(host.lower().split(":", 1)[0])
    return found["bucket"] if found else default


def appid_of(bucket):
    """The bucket owner: the digits after the last `-` of `name-APPID`."""
    return bucket.rsplit("-", 1)[-1]


def request_id():
    raw = f"{int(time.time()):x}_{os.urandom(3).hex()}_{os.urandom(2).hex()}_{os.urandom(3).hex()}"
    return base64.b64encode(raw.encode()).decode()


def xml_response(status, body, rid, extra_headers=()):
    headers = [("x-ci-request-id", rid), ("Server", "tencent-ci"), *extra_headers]
    return Response(status, body.encode("utf-8"), "application/xml", headers, cloud="tencent")


def error(status, code, message, rid, extra_headers=()):
    trace = hashlib.sha1(rid.encode()).hexdigest()
    body = (
        "<?xml version='1.0' encoding='utf-8' ?>\n<Error>\n"
        f"<Code>{escape(code)}</Code>\n<Message>{escape(message)}</Message>\n"
        f"<RequestId>{escape(rid)}</RequestId>\n<TraceId>{trace}</TraceId>\n</Error>"
    )
    return xml_response(status, body, rid, extra_headers)


def invalid(rid, message):
    return error(400, "InvalidArgument", message, rid)


# --- rendering -----------------------------------------------------------------------------


def _times(job, si):
    """(StartTime, EndTime): `-` when unset; a job still Submitted has both empty, as in the seed."""
    states = job.path.states
    start = end = "-"
    for i in range(si + 1):
        if states[i] == "Running" and start == "-":
            start = cst(job.times[i])
        if states[i] in ("Success", "Failed", "Cancel"):
            end = cst(job.times[i])
    if states[si] == "Submitted":
        return "", ""
    return start, end


def job_xml(app, job, si):
    state = job.path.states[si]
    if state == "Failed":
        code, message = _FAILURES[int(job.job_id[1:3], 16) % len(_FAILURES)]
    else:
        code, message = "Success", "Success"
    start, end = _times(job, si)
    extra = job.extra or {}
    parts = [
        "<JobsDetail>",
        f"<Code>{code}</Code>",
        f"<Message>{escape(message)}</Message>",
        f"<JobId>{job.job_id}</JobId>",
        f"<State>{state}</State>",
        f"<CreationTime>{cst(job.create_ms)}</CreationTime>",
        f"<StartTime>{start}</StartTime>",
        f"<EndTime>{end}</EndTime>",
        f"<QueueId>{escape(extra.get('QueueId', app.tencent['queue_id']))}</QueueId>",
        "<Tag>Translation</Tag>",
        "<Input>",
        f"<Object>{escape(job.name)}</Object>",
        f"<Lang>{escape(job.src_lang)}</Lang>",
        f"<Type>{escape(job.src_type)}</Type>",
        "</Input>",
        "<Operation>",
        f"<Translation><Lang>{escape(job.dst_lang)}</Lang><Type>{escape(job.dst_type)}</Type></Translation>",
        "<Output>",
        f"<Region>{escape(app.tencent['region'])}</Region>",
        f"<Bucket>{escape(app.tencent['bucket'])}</Bucket>",
        f"<Object>{escape(job.dst_object)}</Object>",
        "</Output>",
        f"<JobLevel>{escape(str(job.job_level))}</JobLevel>",
    ]
    if extra.get("UserData"):
        parts.append(f"<UserData>{escape(extra['UserData'])}</UserData>")
    parts += ["</Operation>", "</JobsDetail>"]
    return "".join(parts)


# --- list ----------------------------------------------------------------------------------


def _sort_key(job):
    return job.create_ms * 10_000_000 + _seq(job)


def _seq(job):
    # The NextToken is numeric like the real ones: creation ms and a per-job tiebreak.
    return int(job.job_id[1:8], 16) % 10_000_000


def _list_filters(app, req):
    q = req.query
    tag = q.get("tag")
    if not tag:
        raise ValueError("tag is required")
    size_raw = q.get("size") or "10"
    try:
        size = int(size_raw)
    except ValueError:
        raise ValueError("size must be an integer") from None
    if not 1 <= size <= 100:
        raise ValueError("size must be between 1 and 100")
    order = q.get("orderByTime") or "Desc"
    if order not in ("Desc", "Asc"):
        raise ValueError("orderByTime must be Desc or Asc")
    states = [s for s in (q.get("states") or "All").split(",") if s]
    for s in states:
        if s != "All" and s not in STATES:
            raise ValueError(f"invalid state {s}")
    states = None if "All" in states or not states else frozenset(states)
    start = end = None
    try:
        if q.get("startCreationTime"):
            start = parse_time_ms(q["startCreationTime"])
        if q.get("endCreationTime"):
            end = parse_time_ms(q["endCreationTime"])
    except ValueError:
        raise ValueError("invalid creation time") from None
    token = q.get("nextToken") or ""
    if token and not token.isdigit():
        raise ValueError("invalid nextToken")
    queue = q.get("queueId") or None
    if queue and queue != app.tencent["queue_id"]:
        raise LookupError(queue)
    input_object = q.get("inputObject") or None
    key = ("ci", tag, states, start, end, input_object)
    conditions = []
    if tag != "Translation":
        conditions.append(lambda job, si: False)  # fakecloud only holds translation jobs
    if states:
        conditions.append(lambda job, si: job.path.states[si] in states)
    if start is not None:  # CI times are whole seconds on the wire
        conditions.append(lambda job, si: job.create_ms // 1000 >= start // 1000)
    if end is not None:
        conditions.append(lambda job, si: job.create_ms // 1000 <= end // 1000)
    if input_object:
        conditions.append(lambda job, si: job.name == input_object)
    predicate = None
    if conditions:
        predicate = lambda job, si: all(c(job, si) for c in conditions)  # noqa: E731
    return size, order, token, key, predicate


def list_jobs(app, req):
    try:
        size, order, token, key, predicate = _list_filters(app, req)
    except LookupError:
        return error(400, "QueueNotFound", "The queue does not exist", req.request_id)
    except ValueError as exc:
        return invalid(req.request_id, str(exc))
    snap = app.store.snapshot("translation")
    rows = snap.select(key, predicate, lambda job, si: _sort_key(job))  # ascending keys
    keys = _keys(snap, key, rows)
    if order == "Asc":
        start = bisect.bisect_right(keys, int(token)) if token else 0
        page = rows[start : start + size]
        more = start + size < len(rows)
    else:
        end = bisect.bisect_left(keys, int(token)) if token else len(rows)
        page = rows[max(0, end - size) : end][::-1]
        more = end - size > 0
    next_token = ""
    if more and page:
        last = page[-1]
        dup = req.duplicate
        if dup and len(page) > 1:
            # The token points k jobs back, so the next page starts with k jobs seen already.
            k = min(int(dup.get("k", 1)), len(page) - 1)
            last = page[-1 - k]
        next_token = str(_sort_key(last[0]))
    body = "<Response>" + "".join(job_xml(app, job, si) for job, si in page)
    body += f"<NextToken>{next_token}</NextToken></Response>"
    return xml_response(200, body, req.request_id)


def _keys(snap, key, rows):
    cache_key = key + ("keys",)
    with snap._lock:
        keys = snap._cache.get(cache_key)
    if keys is None:
        keys = [_sort_key(job) for job, _ in rows]
        with snap._lock:
            snap._cache[cache_key] = keys
    return keys


# --- detail and submit ---------------------------------------------------------------------


def describe(app, req):
    ids = [i for i in req.params["job_ids"].split(",") if i]
    if not ids or len(ids) > 100:
        return invalid(req.request_id, "invalid job id list")
    t = app.store.clock.now_ms()
    found, missing = [], []
    for job_id in ids:
        job = app.store.get("translation", job_id)
        if job is None:
            missing.append(job_id)
        else:
            found.append(job_xml(app, job, job.state_index(t)))
    body = "<Response>" + "".join(found)
    body += "".join(f"<NonExistJobIds>{escape(j)}</NonExistJobIds>" for j in missing)
    body += "</Response>"
    return xml_response(200, body, req.request_id)


def _text(node, path):
    found = node.find(path)
    return (found.text or "").strip() if found is not None and found.text else ""


def submit(app, req):
    try:
        root = ElementTree.fromstring(req.body or b"")
    except Exception:  # noqa: BLE001 - any parse failure is the client's malformed XML
        return error(400, "MalformedXML", "The XML you provided was not well-formed", req.request_id)
    if root.tag != "Request":
        return error(400, "MalformedXML", "The root element must be Request", req.request_id)
    tag = _text(root, "Tag")
    if tag != "Translation":
        return invalid(req.request_id, "Tag must be Translation")
    obj, src_lang, src_type = _text(root, "Input/Object"), _text(root, "Input/Lang"), _text(root, "Input/Type")
    dst_lang, dst_type = _text(root, "Operation/Translation/Lang"), _text(root, "Operation/Translation/Type")
    out_object = _text(root, "Operation/Output/Object")
    no_output = _text(root, "Operation/NoNeedOutput").lower() == "true"
    if not obj or src_lang not in _LANGS or dst_lang not in _LANGS or src_type not in _TYPES:
        return invalid(req.request_id, "invalid Input or Operation.Translation")
    if dst_type and dst_type not in _TYPES:
        return invalid(req.request_id, "invalid Operation.Translation.Type")
    if not out_object and not no_output:
        return invalid(req.request_id, "Operation.Output is required")
    queue = _text(root, "QueueId")
    if queue and queue != app.tencent["queue_id"]:
        return error(400, "QueueNotFound", "The queue does not exist", req.request_id)
    fields = {
        "object": obj,
        "src_lang": src_lang,
        "src_type": src_type,
        "dst_lang": dst_lang,
        "dst_type": dst_type or src_type,
        "dst_object": out_object,
        "job_level": _text(root, "Operation/JobLevel") or "0",
    }
    user_data = _text(root, "Operation/UserData")
    if user_data:
        fields["UserData"] = user_data
    job = app.store.add_job("translation", fields, path=data.TRANSLATION_SUBMITTED)
    body = "<Response>" + job_xml(app, job, 0).replace(
        "<StartTime></StartTime><EndTime></EndTime>", "<StartTime>-</StartTime><EndTime>-</EndTime>"
    )
    body += "</Response>"
    return xml_response(200, body, req.request_id)


HANDLERS = {"ci.list": list_jobs, "ci.detail": describe, "ci.submit": submit}


# --- faults, in this cloud's words ---------------------------------------------------------

_SERVER_ERRORS = {
    500: ("InternalError", "We encountered an internal error. Please try again."),
    502: ("BadGateway", "Bad gateway"),
    503: ("ServiceUnavailable", "Service is unavailable. Please try again."),
    504: ("GatewayTimeout", "Gateway timeout"),
}


def server_error(status, rid):
    code, message = _SERVER_ERRORS.get(status, _SERVER_ERRORS[500])
    return error(status, code, message, rid)


# tencent-ci.md §12/§13 name SlowDown (1020, frequency control) but no HTTP status for it: fakecloud
# answers 503, the status S3 and COS send SlowDown with.
THROTTLE_STATUS = 503


def throttled(status, retry_after, rid, limit=None):
    # The rate limit and the throttle fault ask for 429, the generic throttling status: CI's is
    # THROTTLE_STATUS. A fault given another status gets that one. Unlike APIGW.0308, SlowDown
    # names no limit.
    status = THROTTLE_STATUS if status == 429 else status
    return error(
        status, "SlowDown", "Please reduce your request rate.", rid, extra_headers=[("Retry-After", str(retry_after))]
    )
