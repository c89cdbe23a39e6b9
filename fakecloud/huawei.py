"""Huawei Cloud MetaStudio: avatar and voice training jobs, op-logs, audit results, short jobs.

Paths, parameters, bodies and error codes follow the vendor pages (copies in tests/data/seeds/)
and docs/vendors/huawei-metastudio.md (§2–§5, §10–§11). Times are in each API's own format:
RFC 3339 strings for avatar jobs and their logs, epoch milliseconds for voice jobs, short jobs,
op-logs and audits.
"""

import hashlib
import json
import re

from . import data
from .clock import parse_time_ms, rfc3339
from .data import BG_REPLACE, FAST_FLEXUS, FLEXUS, LIVE_COPY, ONDEMAND, ONLY_HUMAN, REMAKE
from .wire import json_response, match_route

_P = r"^/v1/(?P<project>[^/]+)"
ROUTES = [
    # (operation, method, pattern)
    ("avatar.list", "GET", re.compile(_P + r"/digital-human-training-manage/user/jobs/?$")),
    ("avatar.detail", "GET", re.compile(_P + r"/digital-human-training-manage/user/jobs/(?P<job_id>[^/]+)/?$")),
    ("voice.list", "GET", re.compile(_P + r"/voice-training-manage/user/jobs/?$")),
    ("voice.oplogs", "GET", re.compile(_P + r"/voice-training-manage/user/jobs/(?P<job_id>[^/]+)/op-logs/?$")),
    ("voice.audit", "GET", re.compile(_P + r"/voice-training-manage/user/jobs/(?P<job_id>[^/]+)/audit-result/?$")),
    ("voice.detail", "GET", re.compile(_P + r"/voice-training-manage/user/jobs/(?P<job_id>[^/]+)/?$")),
    ("short.create", "POST", re.compile(_P + r"/voice-training-manage/user/short-jobs/?$")),
    ("short.commit", "POST", re.compile(_P + r"/voice-training-manage/user/short-jobs/(?P<job_id>[^/]+)/?$")),
    ("short.show", "GET", re.compile(_P + r"/voice-training-manage/user/short-jobs/(?P<job_id>[^/]+)/?$")),
]
OPERATIONS = [op for op, _, _ in ROUTES]


def match(method, path):
    return match_route(ROUTES, method, path)


class BadParameter(Exception):
    pass


def error(status, code, message, request_id, extra_headers=()):
    return json_response(status, {"error_code": code, "error_msg": message}, request_id, extra_headers)


def gateway_error(status, code, message, request_id, extra_headers=()):
    """APIG errors carry request_id in the body as well."""
    payload = {"error_msg": message, "error_code": code, "request_id": request_id}
    return json_response(status, payload, request_id, extra_headers)


def invalid(request_id):
    return error(400, "MSS.00000003", "Invalid parameter", request_id)


def not_found(request_id, job_id):
    # MetaStudio documents no "job not found" code; this pairs 404 with the generic parameter code.
    return error(404, "MSS.00000003", f"Invalid parameter: job {job_id} does not exist", request_id)


# --- parameter parsing --------------------------------------------------------------------


def _int(query, name, default, lo, hi):
    raw = query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadParameter(name) from None
    if not lo <= value <= hi:
        raise BadParameter(name)
    return value


def _bool(query, name):
    raw = query.get(name)
    if raw is None or raw == "":
        return None
    if raw.lower() == "true":
        return True
    if raw.lower() == "false":
        return False
    raise BadParameter(name)


def _time(query, name):
    raw = query.get(name)
    if raw is None or raw == "":
        return None
    try:
        return parse_time_ms(raw)
    except ValueError:
        raise BadParameter(name) from None


def _choice(query, name, options, default):
    raw = query.get(name)
    if raw is None or raw == "":
        return default
    if raw not in options:
        raise BadParameter(name)
    return raw


def _paging(query):
    return _int(query, "offset", 0, 0, 2147483647), _int(query, "limit", 10, 1, 100)


# --- cosmetics derived from ids (no stored state needed) -----------------------------------


def _signed_url(app, path, t_ms, filename):
    """A 24-hour OBS download link, shaped like the real ones (the dashboard must not keep it).
    Expires is rounded up to the hour, so one job's links stay the same for an hour."""
    expires = (t_ms // 3_600_000 + 25) * 3600
    sig = hashlib.md5(f"{path}{filename}{expires}".encode()).hexdigest()
    return f"{app.obs_prefix}{path}/{filename}?AccessKeyId=FAKEOBSACCESSKEY0000&Expires={expires}&Signature={sig}"


def _hex(job_id, salt):
    return hashlib.md5(f"{salt}:{job_id}".encode()).hexdigest()


# --- assessment ----------------------------------------------------------------------------

# (metric, expected, good actual range, low actual, high actual, advice zh/en for low and high)
_METRICS = [
    (
        "speed",
        "3.0-5.5",
        (3.4, 5.1),
        (2.1, 2.8),
        (5.9, 7.2),
        ("语速偏慢，请适当加快语速", "Speaking rate is too slow; speak a little faster"),
        ("语速偏快，请适当放慢语速", "Speaking rate is too fast; slow down a little"),
    ),
    (
        "sound",
        "-25.0--8.0",
        (-20.0, -11.0),
        (-38.0, -29.0),
        (-5.0, -1.0),
        ("音量偏小，请靠近麦克风或提高录音增益", "Volume is too low; move closer to the microphone or raise the gain"),
        ("音量过大，存在削波失真", "Volume is too high and clips"),
    ),
    (
        "snr",
        ">=35.0",
        (38.0, 52.0),
        (14.0, 29.0),
        None,
        ("背景噪声较大，请在安静的环境中录制", "Background noise is too high; record in a quiet room"),
        None,
    ),
    (
        "reverb",
        "<=0.40",
        (0.08, 0.32),
        None,
        (0.55, 1.2),
        None,
        ("混响较大，请在吸音较好的房间录制", "Too much reverberation; record in a room with soft furnishings"),
    ),
    (
        "dnsmos_ovrl",
        ">=3.00",
        (3.1, 3.8),
        (2.1, 2.8),
        None,
        ("整体音质评分偏低，请检查录音设备", "Overall quality score is low; check the recording equipment"),
        None,
    ),
    (
        "dnsmos_bak",
        ">=3.50",
        (3.6, 4.3),
        (2.4, 3.3),
        None,
        ("背景噪声评分偏低，请减少环境噪声", "Background noise score is low; reduce ambient noise"),
        None,
    ),
]
_OK_ADVICE = ("正常", "OK")


def assess_result(job_id):
    """The six metrics and overall advice, derived from the job id (so it never changes)."""
    h = hashlib.sha256(f"assess:{job_id}".encode()).digest()
    poor = h[0] < 80  # about three in ten recordings have problems
    result, problems = {}, []
    for n, (metric, expected, good, low, high, low_advice, high_advice) in enumerate(_METRICS):
        roll = h[n + 1]
        frac = h[n + 10] / 255
        status, span, advice = 0, good, _OK_ADVICE
        if poor and roll < 110:
            if low is not None and (high is None or roll % 2 == 0):
                status, span, advice = -1, low, low_advice
            elif high is not None:
                status, span, advice = 1, high, high_advice
        actual = span[0] + (span[1] - span[0]) * frac
        result[metric] = {
            "expected": expected,
            "actual": f"{actual:.2f}",
            "status": status,
            "suggestion": advice[0],
            "suggestion_en": advice[1],
        }
        if status:
            problems.append(advice[0])
    if problems:
        result["suggestion"] = "存在以下问题：" + "；".join(problems) + "。建议重新录制后再提交训练。"
    else:
        result["suggestion"] = "音频质量良好，满足训练要求。"
    return result


# --- avatar --------------------------------------------------------------------------------

_PRE_ASSET = {"WAIT_FILE_UPLOAD", "AUTO_VERIFYING", "AUTO_VERIFY_FAILED"}


def _asset_from(path):
    """Index of the first state at which the job has a model asset (it passed auto review)."""
    found = path.cache.get("asset_from")
    if found is None:
        found = next((i for i, s in enumerate(path.states) if s not in _PRE_ASSET), len(path.states))
        path.cache["asset_from"] = found
    return found


def avatar_basic(app, job, si, t):
    state = job.path.states[si]
    flags = job.flags
    item = {
        "job_id": job.job_id,
        "name": job.name,
        "state": state,
    }
    if si >= _asset_from(job.path):
        item["asset_id"] = _hex(job.job_id, "asset")
    item["project_id"] = app.huawei["project_id"]
    item["cover_download_url"] = _signed_url(app, f"dhtm/{job.job_id}", t, "cover.jpg")
    item["last_update_time"] = rfc3339(job.times[si])
    item["create_time"] = rfc3339(job.create_ms)
    item["contact"] = job.contact
    if job.batch_name is not None:
        item["batch_name"] = job.batch_name
    item["tags"] = list(job.tags)
    item["model_version"] = job.model_version
    item["matting_type"] = job.matting_type
    item["model_resolution"] = job.model_resolution
    if job.app_user_id:
        item["app_user_id"] = job.app_user_id
    item["is_flexus"] = bool(flags & FLEXUS)
    item["is_live_copy"] = bool(flags & LIVE_COPY)
    item["is_fast_flexus"] = bool(flags & FAST_FLEXUS)
    item["is_only_human_model"] = bool(flags & ONLY_HUMAN)
    item["optional_training_location"] = [job.train_location]
    item["is_background_replacement"] = bool(flags & BG_REPLACE)
    item["is_ondemand_resource"] = bool(flags & ONDEMAND)
    if job.extra:
        item.update(job.extra)
    return item


def avatar_detail(app, job, t):
    si = job.state_index(t)
    item = avatar_basic(app, job, si, t)
    base = f"dhtm/{job.job_id}"
    for key, filename in [
        ("training_video_download_url", "training.mp4"),
        ("id_card_image1_download_url", "id_card_front.jpg"),
        ("id_card_image2_download_url", "id_card_back.jpg"),
        ("grant_file_download_url", "authorization.pdf"),
        ("audio_file_download_url", "audio.wav"),
        ("verify_video_download_url", "verify.mp4"),
    ]:
        item[key] = _signed_url(app, base, t, filename)
    operation_logs, comment_logs = [], []
    for at, entry in job.events_until(t):
        if entry[0] == "op":
            _, log_type, user, error_code, description = entry
            log = {"operate_time": rfc3339(at), "log_type": log_type, "operate_user": user}
            if description:
                log["log_description"] = description
            if error_code:
                log["error_code"] = error_code
            operation_logs.append(log)
        elif entry[0] == "comment":
            _, comment_type, title, message = entry
            comment_logs.append(
                {
                    "operate_time": rfc3339(at),
                    "comment_type": comment_type,
                    "comment_title": title,
                    "comment_message": message,
                    "attachment_download_url": [],
                }
            )
    item["operation_logs"] = operation_logs
    item["comment_logs"] = comment_logs
    item["is_mask_file_uploaded"] = False
    # sic: the vendor's JSON key is misspelled "traning".
    item["traning_video_mark_info"] = {"video_start_time": "00:00:01.000", "video_end_time": "00:03:12.480"}
    item["worker_type"] = ["GPU"]
    if job.voice_train_job_id:
        item["voice_train_job_id"] = job.voice_train_job_id
    if job.flags & FLEXUS:
        h = _hex(job.job_id, "voice")
        item["voice_properties"] = {
            "job_tag": ["ECOMMERCE", "NEWS", "MARKETING"][int(h[0], 16) % 3],
            "sex": "FEMALE" if int(h[1], 16) % 2 else "MALE",
            "language": "CN" if int(h[2], 16) % 4 else "EN",
        }
        item["flexus_retry_count"] = 0
    item["audio_source_type"] = "VIDEO"
    item["supported_service"] = ["VIDEO_2D", "LIVE_2D"]
    if job.flags & ONDEMAND:
        item["allocated_resource"] = {
            "resource_id": _hex(job.job_id, "resource")[:24],
            "charge_mode": "ON_DEMAND",
            "expire_time": rfc3339(job.create_ms + 30 * 86400 * 1000),
        }
    item["train_video_rotation_state"] = "SUCCESS"
    training = [i for i, s in enumerate(job.path.states[: si + 1]) if s == "TRAINING"]
    if training:
        i = training[-1]
        sub_last = job.times[min(i + 1, si)]
        item["sub_training_job_info"] = [
            {
                "job_id": _hex(job.job_id, "sub"),
                "sub_job_type": "TRAIN",
                "heart_beat_id": _hex(job.job_id, "beat")[:16],
                "state": "RUNNING" if job.path.states[si] == "TRAINING" else "FINISHED",
                "create_time": job.times[i],  # epoch ms numbers here, unlike the parent's strings
                "last_update_time": sub_last,
            }
        ]
    if job.extra:
        item.update(job.extra)
    return item


_AVATAR_SORT = {"create_time", "update_time", "asset_order"}


def _avatar_filters(req, app):
    q = req.query
    offset, limit = _paging(q)
    sort_key = _choice(q, "sort_key", _AVATAR_SORT, "create_time")
    sort_dir = _choice(q, "sort_dir", {"asc", "desc"}, "asc")  # avatar default: asc
    states = frozenset(s for s in (q.get("state") or "").split(",") if s) or None
    create_since, create_until = _time(q, "create_since"), _time(q, "create_until")
    update_since, update_until = _time(q, "update_since"), _time(q, "update_until")
    flags = []
    for name, bit in (("is_flexus", FLEXUS), ("is_live_copy", LIVE_COPY), ("is_ondemand_resource", ONDEMAND)):
        value = _bool(q, name)
        if value is not None:
            flags.append((bit, value))
    text = {
        name: q.get(name) or None
        for name in ("batch_name", "tag", "job_id", "name", "model_resolution", "train_location")
    }
    tenant = q.get("query_project_id") or None
    app_user = req.headers.get("x-app-userid") or None
    key = (
        "avatar",
        sort_key,
        sort_dir,
        states,
        create_since,
        create_until,
        update_since,
        update_until,
        tuple(flags),
        tuple(sorted(text.items())),
        tenant,
        app_user,
    )
    conditions = []
    if tenant and tenant != app.huawei["project_id"]:
        conditions.append(lambda job, si: False)
    if states:
        conditions.append(lambda job, si: job.path.states[si] in states)
    # Avatar times are whole seconds on the wire, so the filters compare whole seconds too.
    if create_since is not None:
        conditions.append(lambda job, si: job.create_ms // 1000 >= create_since // 1000)
    if create_until is not None:
        conditions.append(lambda job, si: job.create_ms // 1000 <= create_until // 1000)
    if update_since is not None:
        conditions.append(lambda job, si: job.times[si] // 1000 >= update_since // 1000)
    if update_until is not None:
        conditions.append(lambda job, si: job.times[si] // 1000 <= update_until // 1000)
    for bit, value in flags:
        conditions.append(lambda job, si, bit=bit, value=value: bool(job.flags & bit) == value)
    if text["batch_name"]:
        conditions.append(lambda job, si, v=text["batch_name"]: job.batch_name == v)
    if text["tag"]:
        conditions.append(lambda job, si, v=text["tag"]: v in job.tags)
    if text["job_id"]:
        conditions.append(lambda job, si, v=text["job_id"]: job.job_id == v)
    if text["name"]:
        conditions.append(lambda job, si, v=text["name"].lower(): v in job.name.lower())
    if text["model_resolution"]:
        conditions.append(lambda job, si, v=text["model_resolution"]: job.model_resolution == v)
    if text["train_location"]:
        conditions.append(lambda job, si, v=text["train_location"]: job.train_location == v)
    if app_user:
        conditions.append(lambda job, si: job.app_user_id == app_user)
    sort = None
    if sort_key == "update_time":
        sort = lambda job, si: (job.times[si], job.job_id)  # noqa: E731
    elif sort_key == "asset_order":
        sort = lambda job, si: (_hex(job.job_id, "asset"), job.job_id)  # noqa: E731
    return offset, limit, key, _all(conditions), sort, sort_dir == "desc"


def _all(conditions):
    if not conditions:
        return None
    if len(conditions) == 1:
        return conditions[0]
    return lambda job, si: all(c(job, si) for c in conditions)


def _page(rows, offset, limit, duplicate):
    """The page's rows; the duplicate-ids fault repeats the previous page's tail first."""
    if duplicate and offset > 0:
        k = min(int(duplicate.get("k", 1)), offset, limit)
        if duplicate.get("mode") == "extra":
            return rows[offset - k : offset + limit]
        return rows[offset - k : offset - k + limit]  # as if k jobs moved to the head meanwhile
    return rows[offset : offset + limit]


def _list(app, req, kind, filters, item):
    """A MetaStudio list page: filter, sort and page a snapshot; `item` renders each job."""
    try:
        offset, limit, key, predicate, sort, reverse = filters()
    except BadParameter:
        return invalid(req.request_id)
    snap = app.store.snapshot(kind)
    rows = snap.select(key, predicate, sort, reverse)
    t = snap.t
    jobs = [item(app, job, si, t) for job, si in _page(rows, offset, limit, req.duplicate)]
    return json_response(200, {"count": len(rows), "jobs": jobs}, req.request_id)


def avatar_list(app, req):
    return _list(app, req, "avatar", lambda: _avatar_filters(req, app), avatar_basic)


def avatar_show(app, req):
    job = app.store.get("avatar", req.params["job_id"])
    if job is None:
        return not_found(req.request_id, req.params["job_id"])
    return json_response(200, avatar_detail(app, job, app.store.clock.now_ms()), req.request_id)


# --- voice ---------------------------------------------------------------------------------

_ASSESSED = {"CREATING", "SYSTEM_AUDITING"}
_FAILED_VOICE = {"FAILED", "SPLIT_FAILED"}


def voice_item(app, job, si, t):
    state = job.path.states[si]
    flags = job.flags
    item = {
        "job_type": job.job_type,
        "job_id": job.job_id,
    }
    if job.app_user_id:
        item["app_user_id"] = job.app_user_id
    item["voice_name"] = job.name
    item["sex"] = job.sex
    item["language"] = job.language
    item["state"] = state
    item["reject_times"] = job.path.meta.get("reject_times", 0)
    if state == "SUCCEED":
        item["asset_id"] = _hex(job.job_id, "asset")
    if state in _FAILED_VOICE and job.path.meta.get("failed"):
        item["job_failed_code"], item["job_failed_reason"] = job.path.meta["failed"]
    item["create_time"] = job.create_ms
    item["lastupdate_time"] = job.times[si]  # sic: "lastupdate_time", not "last_update_time"
    base = f"voice/{job.job_id}"
    item["voice_authorization_url"] = _signed_url(app, base, t, "authorization.pdf")
    item["training_input_source_url"] = _signed_url(app, base, t, "input.zip")
    item["create_type"] = job.create_type
    item["tag"] = job.tag
    item["phone"] = job.phone
    if job.dhtms_job_id:
        item["dhtms_job_id"] = job.dhtms_job_id
    if job.batch_name is not None:
        item["batch_name"] = job.batch_name
    if flags & ONDEMAND:
        item["allocated_resource"] = {
            "resource_id": _hex(job.job_id, "resource")[:24],
            "charge_mode": "ON_DEMAND",
            "expire_time": rfc3339(job.create_ms + 30 * 86400 * 1000),
        }
    item["output_language"] = "zh-CN" if job.language == "CN" else "en-US"
    item["is_remake"] = bool(flags & REMAKE)
    if state not in _ASSESSED or si > 1:
        item["assess_result"] = assess_result(job.job_id)
    item["is_ondemand_resource"] = bool(flags & ONDEMAND)
    if job.extra:
        item.update(job.extra)
    return item


def _voice_filters(req):
    q = req.query
    offset, limit = _paging(q)
    sort_key = _choice(q, "sort_key", {"create_time", "update_time"}, "create_time")
    sort_dir = _choice(q, "sort_dir", {"asc", "desc"}, "desc")  # voice default: desc
    states = frozenset(s for s in (q.get("state") or "").split(",") if s) or None
    job_types = frozenset(s for s in (q.get("job_type") or "").split(",") if s) or None
    # Voice list filter times: RFC 3339 or epoch milliseconds are both accepted.
    create_since, create_until = _time(q, "create_since"), _time(q, "create_until")
    update_since, update_until = _time(q, "update_since"), _time(q, "update_until")
    ondemand = _bool(q, "is_ondemand_resource")
    text = {name: q.get(name) or None for name in ("job_id", "voice_name", "tag", "batch_name")}
    app_user = req.headers.get("x-app-userid") or None
    key = (
        "voice",
        sort_key,
        sort_dir,
        states,
        job_types,
        create_since,
        create_until,
        update_since,
        update_until,
        ondemand,
        tuple(sorted(text.items())),
        app_user,
    )
    conditions = []
    if states:
        conditions.append(lambda job, si: job.path.states[si] in states)
    if job_types:
        conditions.append(lambda job, si: job.job_type in job_types)
    if create_since is not None:
        conditions.append(lambda job, si: job.create_ms >= create_since)
    if create_until is not None:
        conditions.append(lambda job, si: job.create_ms <= create_until)
    if update_since is not None:
        conditions.append(lambda job, si: job.times[si] >= update_since)
    if update_until is not None:
        conditions.append(lambda job, si: job.times[si] <= update_until)
    if ondemand is not None:
        conditions.append(lambda job, si: bool(job.flags & ONDEMAND) == ondemand)
    if text["job_id"]:
        conditions.append(lambda job, si, v=text["job_id"]: job.job_id == v)
    if text["voice_name"]:
        conditions.append(lambda job, si, v=text["voice_name"].lower(): v in job.name.lower())
    if text["tag"]:
        conditions.append(lambda job, si, v=text["tag"]: job.tag == v)
    if text["batch_name"]:
        conditions.append(lambda job, si, v=text["batch_name"]: job.batch_name == v)
    if app_user:
        conditions.append(lambda job, si: job.app_user_id == app_user)
    sort = (lambda job, si: (job.times[si], job.job_id)) if sort_key == "update_time" else None
    return offset, limit, key, _all(conditions), sort, sort_dir == "desc"


def voice_list(app, req):
    return _list(app, req, "voice", lambda: _voice_filters(req), voice_item)


def voice_show(app, req):
    job = app.store.get("voice", req.params["job_id"])
    if job is None:
        return not_found(req.request_id, req.params["job_id"])
    t = app.store.clock.now_ms()
    return json_response(200, voice_item(app, job, job.state_index(t), t), req.request_id)


def voice_oplogs(app, req):
    try:
        offset, limit = _paging(req.query)
    except BadParameter:
        return invalid(req.request_id)
    job = app.store.get("voice", req.params["job_id"])
    if job is None:
        return not_found(req.request_id, req.params["job_id"])
    operations = []
    for at, entry in job.events_until(app.store.clock.now_ms()):
        if entry[0] != "act":
            continue
        _, action, operator, external = entry
        op = {"time": at, "action": action, "operator": operator}  # time: epoch milliseconds
        if external:
            op["external_info"] = dict(external)
        operations.append(op)
    page = operations[offset : offset + limit]
    return json_response(200, {"count": len(operations), "operations": page}, req.request_id)


def voice_audit(app, req):
    job = app.store.get("voice", req.params["job_id"])
    if job is None:
        return not_found(req.request_id, req.params["job_id"])
    system, admin = None, None
    for at, entry in job.events_until(app.store.clock.now_ms()):
        if entry[0] != "act":
            continue
        _, action, operator, external = entry
        if action == "SYSTEM_AUDIT_PASS":
            system = {"audit_time": at, "errors": []}
        elif action == "AUDIT_NOT_PASS" and operator == "SYSTEM":
            system = {"audit_time": at, "errors": [dict(e) for e in data._AUDIT_ERRORS]}
        elif action == "ADMIN_AUDIT_PASS":
            admin = {"message": "审核通过", "attachment_name": "", "attachment_url": "", "audit_time": at}
        elif action == "AUDIT_NOT_PASS" and operator == "ADMIN":
            admin = {
                "message": (external or {}).get("admin_audit_failure_reason", "审核不通过"),
                "attachment_name": "review-note.pdf",
                "attachment_url": _signed_url(app, f"voice/{job.job_id}", app.store.clock.now_ms(), "review-note.pdf"),
                "audit_time": at,
            }
    payload = {}
    if system is not None:
        payload["system_audit_result"] = system
    if admin is not None:
        payload["admin_audit_result"] = admin
    return json_response(200, payload, req.request_id)


# --- short jobs (voice quality assessment) -------------------------------------------------


def short_item(job, t):
    si = job.state_index(t)
    state = job.path.states[si]
    item = {"job_type": "VOICE_ASSESS", "job_id": job.job_id, "state": state}
    if state == "FAILED" and job.path.meta.get("failed"):
        item["job_failed_code"], item["job_failed_reason"] = job.path.meta["failed"]
    item["create_time"] = job.create_ms
    item["lastupdate_time"] = job.times[si]
    if state == "SUCCEED":
        item["assess_result"] = assess_result(job.job_id)
    return item


def short_create(app, req):
    try:
        body = json.loads(req.body or b"{}")
    except ValueError:
        return error(400, "MSS.10000002", "Request JSON exception", req.request_id)
    if not isinstance(body, dict):
        return error(400, "MSS.00000002", "Invalid body", req.request_id)
    language = body.get("language", "CN")
    if body.get("job_type") != "VOICE_ASSESS" or language not in ("CN", "EN"):
        return invalid(req.request_id)
    job = app.store.add_job("short", {"language": language}, state="CREATING")
    upload = f"{req.base_url}/_fakecloud/obs/voice-assess/{job.job_id}.zip?Expires={job.create_ms // 1000 + 86400}"
    return json_response(200, {"job_id": job.job_id, "data_uploading_url": upload}, req.request_id)


def short_commit(app, req):
    result = app.store.commit_short(req.params["job_id"])
    if result is None:
        return not_found(req.request_id, req.params["job_id"])
    if result is False:
        return error(400, "MSS.00000003", "Invalid parameter: the job has already been committed", req.request_id)
    return json_response(200, {}, req.request_id)


def short_show(app, req):
    job = app.store.get("short", req.params["job_id"])
    if job is None:
        return not_found(req.request_id, req.params["job_id"])
    return json_response(200, short_item(job, app.store.clock.now_ms()), req.request_id)


HANDLERS = {
    "avatar.list": avatar_list,
    "avatar.detail": avatar_show,
    "voice.list": voice_list,
    "voice.detail": voice_show,
    "voice.oplogs": voice_oplogs,
    "voice.audit": voice_audit,
    "short.create": short_create,
    "short.commit": short_commit,
    "short.show": short_show,
}


# --- faults, in this cloud's words ---------------------------------------------------------

_SERVER_ERRORS = {
    500: ("MSS.00000004", "Internal Error", False),
    # The gateway's documented codes: 0202 backend unavailable (502; also what a 503 backend
    # shows through it), 0203 backend timeout (504).
    502: ("APIGW.0202", "Backend unavailable", True),
    503: ("APIGW.0202", "Backend unavailable", True),
    504: ("APIGW.0203", "Backend timeout", True),
}


def server_error(status, request_id):
    code, message, gateway = _SERVER_ERRORS.get(status, _SERVER_ERRORS[500])
    if gateway:
        return gateway_error(status, code, message, request_id)
    return error(status, code, message, request_id)


# The text as docs/vendors/huawei-metastudio.md §10 gives it; limit 20 is cn-north-4's list/detail rate.
THROTTLE_MESSAGE = "The throttling threshold has been reached: policy user over ratelimit, limit:{limit}, time:1 second"


def throttled(status, retry_after, request_id, limit=20):
    # The gateway names whole requests a second: a fractional limit (0.5) shows as its integer
    # part, at least 1.
    return gateway_error(
        status,
        "APIGW.0308",
        THROTTLE_MESSAGE.format(limit=max(1, int(limit))),
        request_id,
        extra_headers=[("Retry-After", str(retry_after))],
    )
