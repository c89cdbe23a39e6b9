"""jobs.providers.huawei: parsing of the documented shapes, and the client over real HTTP
(a loopback stand-in for MetaStudio that checks every signature with the official SDK signer)."""

import json
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qsl

import pytest
import time_machine
from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.sdk_request import SdkRequest
from huaweicloudsdkcore.signer.signer import Signer

from jobs.models import CloudAccount
from jobs.providers import get_provider, huawei
from jobs.providers.base import (
    AVATAR_TRAINING,
    METRICS,
    VOICE_ASSESSMENT,
    VOICE_TRAINING,
    AuthError,
    ConfigError,
    JobRecord,
    NotFoundError,
    ProviderError,
    ResponseError,
    TransportError,
)
from jobs.providers.huawei import HuaweiProvider
from jobs.providers.times import TimeFormatError, parse_epoch, parse_rfc3339
from tests.http_stub import Reply, StubServer

SEEDS = Path(__file__).parent / "data" / "seeds"  # copies of the vendor pages (see README.md there)
AK, SK = "AK-TEST-0001", "SK-test-secret-0000000000000000"
PROJECT = "0123456789abcdef0123456789abcdef"


def seed_avatar_list():
    """The 10-job sample response of seed 002 (List2dModelTrainingJob)."""
    text = (SEEDS / "002_9df5a17f8cdc580e.txt").read_text()
    start = text.index("{", text.index("Example Responses"))
    data, _ = json.JSONDecoder().raw_decode(text[start:])
    return data


def utc(*args):
    return datetime(*args, tzinfo=UTC)


# --- parsing ---------------------------------------------------------------------------------


def test_it_parses_the_documented_avatar_list_sample():
    data = seed_avatar_list()

    records = [huawei.avatar_record(item) for item in data["jobs"]]

    assert data["count"] == 101
    assert len(records) == 10
    first = records[0]
    assert (first.kind, first.remote_id, first.name, first.state) == (
        AVATAR_TRAINING,
        "646682facddb4912976f19a4d61c6a91",
        "Name 1",
        "TRAINING",
    )
    assert first.created_at == utc(2023, 12, 8, 8, 30, 56)
    assert first.updated_at == utc(2023, 12, 9, 7, 38, 9)
    assert (first.edition, first.tags) == ("V3.2", ())
    assert records[5].asset_id == "3174263c6199e0a10d83a257b272ac71"
    assert records[6].batch == "234"
    assert [r.remote_id for r in records] == [item["job_id"] for item in data["jobs"]]


def test_it_strips_phone_numbers_and_expiring_urls_from_payloads():
    records = [huawei.avatar_record(item) for item in seed_avatar_list()["jobs"]]

    for record in records:
        assert "contact" not in record.payload
        assert "cover_download_url" not in record.payload
        assert {"job_id", "name", "state", "model_version", "matting_type"} <= record.payload.keys()
    assert "15312090046" not in json.dumps([r.payload for r in records])


def test_it_strips_nested_urls_but_keeps_the_rest_of_a_detail():
    detail = {
        "job_id": "j1",
        "phone": "13800000000",
        "training_video_download_url": "https://obs/x?sig",
        "action_mark_file_upload_url": "https://obs/y?sig",
        "traning_video_mark_info": {"video_start_time": "00:00:01.000"},
        "samples": [{"action_name_en": "wave", "sample_download_url": "https://obs/s"}],
        "comment_logs": [{"comment_title": "t", "attachment_download_url": ["https://obs/a"]}],
    }

    payload = huawei.avatar_record(detail).payload

    assert payload == {
        "job_id": "j1",
        "traning_video_mark_info": {"video_start_time": "00:00:01.000"},
        "samples": [{"action_name_en": "wave"}],
        "comment_logs": [{"comment_title": "t"}],
    }


def test_it_copies_the_payload_instead_of_sharing_the_vendor_lists_and_objects():
    item = {"job_id": "j1", "tags": ["a"], "mark": {"start": "1"}, "samples": [{"name": "wave"}]}

    payload = huawei.avatar_record(item).payload
    item["tags"].append("b")
    item["mark"]["start"] = "2"
    item["samples"][0]["name"] = "nod"

    assert payload == {"job_id": "j1", "tags": ["a"], "mark": {"start": "1"}, "samples": [{"name": "wave"}]}


def test_it_strips_voice_job_links_and_phone():
    item = {
        "job_id": "v1",
        "phone": "138",
        "voice_authorization_url": "u",
        "training_input_source_url": "u",
        "voice_name": "小美",
    }

    assert huawei.voice_record(item).payload == {"job_id": "v1", "voice_name": "小美"}


def test_it_parses_voice_jobs_with_epoch_times_of_either_unit():
    item = {
        "job_id": "v1",
        "voice_name": "Voice <1>",
        "state": "PROCESSING",
        "job_type": "MIDDLE",
        "language": "CN",
        "create_time": 1700000000123,
        "lastupdate_time": 1700003600,
        "tag": "NEWS",
        "batch_name": "b7",
        "dhtms_job_id": "a-42",
        "asset_id": "asset9",
    }

    record = huawei.voice_record(item)

    assert record.kind == VOICE_TRAINING
    assert record.created_at == utc(2023, 11, 14, 22, 13, 20, 123000)  # milliseconds
    assert record.updated_at == utc(2023, 11, 14, 23, 13, 20)  # seconds
    assert (record.name, record.edition, record.language, record.tags, record.batch) == (
        "Voice <1>",
        "MIDDLE",
        "CN",
        ("NEWS",),
        "b7",
    )
    assert (record.linked_job_id, record.asset_id) == ("a-42", "asset9")


@pytest.mark.parametrize(
    "text, expected",
    [
        ("2026-09-16T14:15:10Z", datetime(2026, 9, 16, 14, 15, 10, tzinfo=UTC)),
        ("2026-09-16T14:15:10.5+08:00", datetime(2026, 9, 16, 6, 15, 10, 500000, tzinfo=UTC)),
        ("2026-09-16t14:15:10.1234567z", datetime(2026, 9, 16, 14, 15, 10, 123456, tzinfo=UTC)),
        (" 2026-09-16 14:15:10-0130 ", datetime(2026, 9, 16, 15, 45, 10, tzinfo=UTC)),
    ],
)
def test_it_reads_rfc3339_times_in_plain_and_looser_forms_as_utc(text, expected):
    parsed = parse_rfc3339(text)

    assert parsed == expected and parsed.tzinfo is UTC


@pytest.mark.parametrize(
    "text, reason",
    [
        ("2026-02-30T00:00:00Z", "not a valid date/time"),
        ("2026-09-16T14:15:10+24:00", "not a valid date/time"),
        ("2026-09-16T14:15:10", "not an RFC 3339 time"),
        ("2026-W38-3T14:15:10Z", "not an RFC 3339 time"),
        ("٢٠٢٦-09-16T14:15:10Z", "not"),
        ("0001-01-01T00:00:00+01:00", "not a valid date/time"),  # overflows UTC
        ("0001-01-01T00:00:00.5+0100", "not a valid date/time"),
    ],
)
def test_it_rejects_impossible_or_zoneless_rfc3339_times(text, reason):
    with pytest.raises(TimeFormatError, match=reason):
        parse_rfc3339(text)


def test_it_reads_epoch_values_below_1e11_as_seconds_and_above_as_milliseconds():
    assert parse_epoch(99_999_999_999) == datetime.fromtimestamp(99_999_999_999, UTC)
    assert parse_epoch(100_000_000_001) == datetime.fromtimestamp(100_000_000, UTC).replace(microsecond=1000)
    assert parse_epoch(0) is None
    assert parse_epoch(None) is None


def test_it_keeps_failure_code_and_reason_of_a_voice_job():
    record = huawei.voice_record(
        {"job_id": "v2", "state": "FAILED", "job_failed_code": "MSS.20030035", "job_failed_reason": "时长不足"}
    )

    assert (record.error_code, record.error_message) == ("MSS.20030035", "时长不足")


def test_it_keeps_unknown_states_as_they_are():
    assert huawei.avatar_record({"job_id": "a", "state": "SOMETHING_NEW"}).state == "SOMETHING_NEW"
    assert huawei.voice_record({"job_id": "v", "state": "LLM_MAJOR_STATE"}).state == "LLM_MAJOR_STATE"


def short_job_body(**overrides):
    """The ShowShortJob response shape (seed 003, docs/vendors/huawei-metastudio.md §5.2/§5.3)."""
    result = {
        name: {
            "expected": f"exp-{name}",
            "actual": f"act-{name}",
            "status": (1 if name == "snr" else 0),
            "suggestion": f"建议{name}",
            "suggestion_en": f"advice {name}",
        }
        for name in METRICS
    }
    result["suggestion"] = "整体良好"
    body = {
        "job_type": "VOICE_ASSESS",
        "job_id": "26f06524-4f75-4b3a-a853-b649a21aaf66",
        "state": "SUCCEED",
        "create_time": 1700000000000,
        "lastupdate_time": 1700000060000,
        "assess_result": result,
    }
    body.update(overrides)
    return body


def test_it_parses_a_short_job_with_all_six_metrics():
    record = huawei.short_job_record(short_job_body())

    assert record.kind == VOICE_ASSESSMENT
    assert record.edition == "VOICE_ASSESS"
    assert record.updated_at == utc(2023, 11, 14, 22, 14, 20)
    assessment = record.assessment
    assert assessment.suggestion == "整体良好"
    assert [m.metric for m in assessment.metrics] == list(METRICS)
    snr = assessment.metrics[2]
    assert (snr.expected, snr.actual, snr.status, snr.suggestion, snr.suggestion_en) == (
        "exp-snr",
        "act-snr",
        1,
        "建议snr",
        "advice snr",
    )


def test_it_rejects_a_metric_status_that_is_not_a_number():
    body = short_job_body()
    body["assess_result"]["speed"]["status"] = "bad"

    with pytest.raises(ResponseError, match=r"assess_result\.speed\.status"):
        huawei.short_job_record(body)


def test_it_turns_operation_and_comment_logs_into_events():
    detail = {
        "job_id": "a1",
        "operation_logs": [
            {"operate_time": "2024-03-01T08:00:00Z", "log_type": "USER_CREATE_JOD", "operate_user": "USER"},
            {
                "operate_time": "2024-03-02T09:30:00+08:00",
                "log_type": "SYSTEM_VERIFY_FAILED",
                "operate_user": "SYSTEM",
                "log_description": "resolution",
                "error_code": "44005901",
                "redo_reasons": ["bad video"],
            },
        ],
        "comment_logs": [
            {
                "operate_time": "2024-03-03T00:00:00Z",
                "comment_type": "ADMIN_COMMENT",
                "comment_title": "Re-shoot",
                "comment_message": "Light is too dim",
                "attachment_download_url": ["https://obs/x"],
            },
        ],
    }

    events = huawei.avatar_events(detail, "a1")

    assert [(e.source, e.action, e.operator) for e in events] == [
        ("oplog", "USER_CREATE_JOD", "USER"),
        ("oplog", "SYSTEM_VERIFY_FAILED", "SYSTEM"),
        ("comment", "ADMIN_COMMENT", "ADMIN"),
    ]
    assert events[1].occurred_at == utc(2024, 3, 2, 1, 30)
    assert events[1].message == "resolution"
    assert events[1].details == {"error_code": "44005901", "redo_reasons": ["bad video"]}
    assert events[2].message == "Re-shoot\nLight is too dim"
    assert "https://obs/x" not in json.dumps(events[2].details)


def test_it_parses_voice_op_log_entries_keeping_unknown_actions():
    entry = {
        "time": 1700000000,
        "action": "MOUNTING_FINISH",
        "operator": "SYSTEM",
        "external_info": {"review_id_list": ["r1"], "algorithm_failure_reason": ""},
    }

    event = huawei.oplog_event(entry)

    assert (event.source, event.action, event.operator) == ("oplog", "MOUNTING_FINISH", "SYSTEM")
    assert event.occurred_at == utc(2023, 11, 14, 22, 13, 20)
    assert event.details == {"review_id_list": ["r1"]}


def test_it_turns_audit_results_into_audit_events():
    data = {
        "system_audit_result": {
            "audit_time": 1700000000000,
            "errors": [
                {
                    "audio_name": "003.wav",
                    "text_name": "003.txt",
                    "error_code": "MSS.20030011",
                    "error_message": "噪音大",
                },
            ],
        },
        "admin_audit_result": {
            "message": "Please re-record",
            "attachment_name": "notes.pdf",
            "attachment_url": "https://obs/n",
            "audit_time": 1700000100000,
        },
    }

    events = huawei.audit_events(data, "v1")

    assert [(e.source, e.action, e.operator) for e in events] == [
        ("audit", "SYSTEM_AUDIT", "SYSTEM"),
        ("audit", "ADMIN_AUDIT", "ADMIN"),
    ]
    assert events[0].message == "003.wav: 噪音大"
    assert events[0].details["errors"][0]["error_code"] == "MSS.20030011"
    assert events[1].details == {"attachment_name": "notes.pdf"}


@pytest.mark.parametrize(
    "item, reason",
    [
        ({"name": "no id"}, "job_id: missing"),
        ({"job_id": ["x"]}, "job_id: missing or not a string"),
        ({"job_id": "a", "create_time": 1700000000}, "create_time: expected an RFC 3339 string"),
        ({"job_id": "a", "create_time": "yesterday"}, "create_time: not an RFC 3339 time"),
        ({"job_id": "a", "tags": "t1"}, "tags: expected a list"),
        ({"job_id": "a", "name": {"zh": "x"}}, "name: expected a string"),
        ({"job_id": "x" * 129}, "longer than 128"),
        ({"job_id": "a\x1fb"}, "job_id: contains control characters"),
        ({"job_id": "a\x7fb"}, "job_id: contains control characters"),
    ],
)
def test_it_rejects_a_malformed_avatar_job_with_a_readable_reason(item, reason):
    with pytest.raises(ResponseError, match=reason):
        huawei.avatar_record(item)


def test_it_truncates_long_strings_to_the_column_sizes():
    record = huawei.avatar_record({"job_id": "a", "name": "n" * 2000, "batch_name": "b" * 2000})

    assert (len(record.name), len(record.batch)) == (512, 255)


def test_it_reads_vendor_error_bodies():
    info = huawei.parse_error(
        401,
        {"X-Request-Id": "hdr"},
        b'{"error_msg": "Incorrect IAM authentication information: verify aksk signature fail",'
        b' "error_code": "APIGW.0301", "request_id": "body-id"}',
    )

    assert (info.code, info.request_id, info.error_class) == ("APIGW.0301", "body-id", AuthError)
    assert "verify aksk signature fail" in info.message
    assert (
        huawei.parse_error(
            400, {"X-Request-Id": "h2"}, b'{"error_code":"MSS.00000003","error_msg":"Invalid parameter"}'
        ).request_id
        == "h2"
    )
    assert huawei.parse_error(400, {}, b'{"error": {"code": "X.1", "message": "nested"}}').code == "X.1"
    assert huawei.parse_error(502, {}, b"<html>bad gateway</html>").message == "<html>bad gateway</html>"
    assert not info.throttled


@pytest.mark.parametrize("code", ["APIGW.0308", "APIG.0308"])
def test_it_reads_the_gateways_throttling_code_as_throttled(code):
    body = b'{"error_msg": "The throttling threshold has been reached", "error_code": "%s"}' % code.encode()

    info = huawei.parse_error(429, {}, body)

    assert (info.code, info.error_class, info.throttled) == (code, TransportError, True)


@pytest.mark.parametrize("code", ["APIGW.0101", "APIG.0101"])
def test_the_gateways_api_not_found_is_a_configuration_error_not_a_credential_or_a_missing_job(code):
    # docs/vendors/huawei-metastudio.md §10: 0101 "API not found" (404): a wrong endpoint or path.
    body = b'{"error_msg": "The API does not exist or has not been published", "error_code": "%s"}' % code.encode()

    info = huawei.parse_error(404, {}, body)

    assert info.error_class is ConfigError and not issubclass(info.error_class, (AuthError, NotFoundError))


# --- endpoints and configuration -------------------------------------------------------------


def test_it_builds_the_regional_endpoint():
    provider = HuaweiProvider(region="cn-north-4", project_id=PROJECT, access_key_id=AK, secret_key=SK)

    assert (provider.base_url, provider.host) == (
        "https://metastudio.cn-north-4.myhuaweicloud.com",
        "metastudio.cn-north-4.myhuaweicloud.com",
    )


@pytest.mark.parametrize(
    "kwargs, needle",
    [
        ({"region": "cn-north-4.evil.com"}, "region"),
        ({"region": "CN_NORTH"}, "region"),
        ({"project_id": "../../x"}, "project id"),
        ({"project_id": ""}, "project id"),
        ({"endpoint": "ftp://x"}, "endpoint"),
        ({"endpoint": "https://user:pw@host"}, "endpoint"),
        ({"endpoint": "https://host/rest"}, "endpoint"),
        ({"secret_key": "", "token": ""}, "secret key"),
    ],
)
def test_it_refuses_settings_that_cannot_work(kwargs, needle):
    options = {"region": "cn-north-4", "project_id": PROJECT, "access_key_id": AK, "secret_key": SK, **kwargs}

    with pytest.raises(ConfigError, match=needle):
        HuaweiProvider(**options)


def test_get_provider_builds_a_huawei_client_from_an_account():
    account = CloudAccount(
        name="hw",
        provider="huawei",
        region="ap-southeast-3",
        project_id=PROJECT,
        access_key_id=AK,
        endpoint="http://127.0.0.1:9999",
    )
    account.set_secret_key(SK)

    provider = get_provider(account)

    assert isinstance(provider, HuaweiProvider)
    assert (provider.base_url, provider.host) == ("http://127.0.0.1:9999", "127.0.0.1:9999")
    assert SK not in repr(provider)
    assert provider.fetch_ahead == 3  # SYNC_FETCH_AHEAD


def test_get_provider_takes_the_fetch_ahead_setting(settings):
    settings.SYNC_FETCH_AHEAD = 0
    account = CloudAccount(name="hw", provider="huawei", region="ap-southeast-3", project_id=PROJECT, access_key_id=AK)
    account.set_secret_key(SK)

    assert get_provider(account).fetch_ahead == 0


# --- over HTTP -------------------------------------------------------------------------------


class FakeMetaStudio:
    """Just enough MetaStudio to exercise the client: offset/limit paging with `count`,
    details, op-logs, audit results, short jobs; every signature checked with the SDK signer."""

    def __init__(self, avatars=(), voices=(), oplogs=None, short_jobs=None, token=None, ignore_offset=False):
        self.avatars = list(avatars)
        self.voices = list(voices)
        self.oplogs = oplogs or {}
        self.short_jobs = short_jobs or {}
        self.token = token
        self.ignore_offset = ignore_offset
        self.faults = []  # replies to send before normal service

    def verify(self, request):
        if self.token is not None:
            return request.header("X-Auth-Token") == self.token
        authorization = request.header("Authorization") or ""
        signed = authorization.split("SignedHeaders=")[1].split(",")[0].split(";") if authorization else []
        headers = {name: request.header(name) for name in signed}
        sdk_request = SdkRequest(
            method=request.method,
            schema="http",
            host=request.header("Host"),
            resource_path=request.path,
            query_params=parse_qsl(request.query, keep_blank_values=True),
            header_params=headers,
            body=b"",
        )
        Signer(BasicCredentials(AK, SK, PROJECT)).sign(sdk_request)
        # Valid signature, and the query went out exactly as signed (sorted, encoded).
        return sdk_request.header_params["Authorization"] == authorization and sdk_request.uri == request.raw_path

    def __call__(self, request):
        if self.faults:
            return self.faults.pop(0)
        if not self.verify(request):
            body = {"error_code": "APIGW.0301", "error_msg": "verify aksk signature fail", "request_id": "rq-401"}
            return Reply(401, json.dumps(body))
        prefix = f"/v1/{PROJECT}/"
        route = request.path.removeprefix(prefix).split("/")
        params = request.params
        if route[:3] == ["digital-human-training-manage", "user", "jobs"]:
            return self.listing_or_item(self.avatars, route[3:], params)
        if route[:3] == ["voice-training-manage", "user", "jobs"]:
            if len(route) == 5 and route[4] == "op-logs":
                return self.page(self.oplogs.get(route[3], []), params, "operations")
            if len(route) == 5 and route[4] == "audit-result":
                return Reply(
                    200,
                    json.dumps(
                        {
                            "system_audit_result": {
                                "audit_time": 1700000000000,
                                "errors": [{"audio_name": "1.wav", "error_code": "E", "error_message": "noisy"}],
                            }
                        }
                    ),
                )
            return self.listing_or_item(self.voices, route[3:], params)
        if route[:3] == ["voice-training-manage", "user", "short-jobs"] and route[3] in self.short_jobs:
            return Reply(200, json.dumps(self.short_jobs[route[3]]))
        return Reply(
            404, json.dumps({"error_code": "MSS.10001001", "error_msg": "not found"}), {"X-Request-Id": "rq-404"}
        )

    def listing_or_item(self, jobs, rest, params):
        if not rest:
            return self.page(self.filtered(jobs, params), params, "jobs")
        for job in jobs:
            if job["job_id"] == rest[0]:
                return Reply(200, json.dumps(job), {"X-Request-Id": "rq-show"})
        return Reply(404, json.dumps({"error_code": "MSS.10001001", "error_msg": "not found"}))

    @staticmethod
    def filtered(jobs, params):
        """The list APIs' `state` filter (one comma-separated value) and `sort_dir` (§2.1, §3.1);
        the fake's jobs are held oldest first."""
        states = set(params["state"].split(",")) if params.get("state") else None
        chosen = [job for job in jobs if states is None or job["state"] in states]
        return chosen[::-1] if params.get("sort_dir") == "desc" else chosen

    def page(self, items, params, key):
        offset = 0 if self.ignore_offset else int(params.get("offset", 0))
        limit = int(params.get("limit", 10))
        body = {"count": len(items), key: items[offset : offset + limit]}
        return Reply(200, json.dumps(body), {"X-Request-Id": f"rq-{offset}"})


def avatar(n, **extra):
    return {
        "job_id": f"a{n:04d}",
        "name": f"Avatar {n}",
        "state": "TRAINING",
        "create_time": "2024-01-01T00:00:00Z",
        "last_update_time": "2024-01-02T00:00:00Z",
        "contact": "138",
        **extra,
    }


def voice(n, **extra):
    return {
        "job_id": f"v{n:04d}",
        "voice_name": f"Voice {n}",
        "state": "PROCESSING",
        "create_time": 1700000000000,
        "lastupdate_time": 1700000000000,
        "phone": "138",
        **extra,
    }


def offsets_requested(server):
    """The offsets the listing asked for, sorted (pages fetched ahead may arrive in any order)."""
    return sorted(int(r.params["offset"]) for r in server.requests)


@pytest.fixture
def metastudio():
    servers = []

    def start(fake, **provider_kwargs):
        server = StubServer(fake).__enter__()
        servers.append(server)
        options = {
            "region": "cn-north-4",
            "project_id": PROJECT,
            "access_key_id": AK,
            "secret_key": SK,
            "endpoint": server.url,
            "http_options": {"sleep": lambda s: None},
            **provider_kwargs,
        }
        return server, HuaweiProvider(**options)

    yield start
    for server in servers:
        server.__exit__(None, None, None)


def test_it_pages_avatar_jobs_until_count_with_an_explicit_sort(metastudio):
    server, provider = metastudio(FakeMetaStudio(avatars=[avatar(i) for i in range(250)]))

    pages = list(provider.iter_pages(AVATAR_TRAINING))

    ids = [r.remote_id for page in pages for r in page.records]
    assert ids == [f"a{i:04d}" for i in range(250)]
    assert [p.total for p in pages] == [250, 250, 250]
    assert [p.next_cursor for p in pages] == [100, 200, None]
    assert [p.request_id for p in pages] == ["rq-0", "rq-100", "rq-200"]
    requests = sorted(server.requests, key=lambda r: int(r.params["offset"]))  # two went out at once
    assert [r.params for r in requests] == [
        {"limit": "100", "offset": str(offset), "sort_dir": "asc", "sort_key": "create_time"}
        for offset in (0, 100, 200)
    ]
    assert provider.api_calls == 3
    assert provider.last_request_id == "rq-200"


def test_it_sends_sdk_headers_the_gateway_checks(metastudio):
    server, provider = metastudio(FakeMetaStudio(avatars=[avatar(1)]))

    list(provider.iter_pages(AVATAR_TRAINING))

    request = server.requests[0]
    assert request.header("X-Project-Id") == PROJECT
    assert request.header("Host") == server.url.removeprefix("http://")
    assert request.header("Authorization").startswith(f"SDK-HMAC-SHA256 Access={AK}, SignedHeaders=host;")
    assert request.raw_path.endswith("?limit=100&offset=0&sort_dir=asc&sort_key=create_time")


def test_it_pages_voice_jobs_and_drops_their_pii(metastudio):
    server, provider = metastudio(FakeMetaStudio(voices=[voice(i) for i in range(120)]))

    records = [r for page in provider.iter_pages(VOICE_TRAINING) for r in page.records]

    assert len({r.remote_id for r in records}) == 120
    assert all("phone" not in r.payload for r in records)
    assert server.requests[0].params["sort_dir"] == "asc"  # the voice default would be desc


def test_it_stops_when_the_vendor_ignores_offset(metastudio):
    server, provider = metastudio(FakeMetaStudio(avatars=[avatar(i) for i in range(250)], ignore_offset=True))

    with pytest.raises(ResponseError, match="repeats the previous page"):
        list(provider.iter_pages(AVATAR_TRAINING))

    # Page 2 repeated page 1; the only other request may be one already fetched ahead (unless
    # the stop cancelled it before it went out).
    assert offsets_requested(server) in ([0, 100], [0, 100, 200][: 1 + huawei.FETCH_AHEAD])


def test_it_sends_one_request_at_a_time_without_fetching_ahead(metastudio):
    server, provider = metastudio(FakeMetaStudio(avatars=[avatar(i) for i in range(250)]), fetch_ahead=0)

    pages = provider.iter_pages(AVATAR_TRAINING)
    next(pages)
    assert [r.params["offset"] for r in server.requests] == ["0"]  # nothing asked ahead
    list(pages)

    assert [r.params["offset"] for r in server.requests] == ["0", "100", "200"]


def test_it_raises_the_error_of_a_page_fetched_ahead_at_that_page(metastudio):
    fake = FakeMetaStudio(avatars=[avatar(i) for i in range(300)])
    normal = fake.page

    def failing_at_200(items, params, key):
        if params["offset"] == "200":
            return Reply(400, json.dumps({"error_code": "MSS.00000003", "error_msg": "offset rejected"}))
        return normal(items, params, key)

    fake.page = failing_at_200
    server, provider = metastudio(fake)
    pages = provider.iter_pages(AVATAR_TRAINING)

    first, second = next(pages), next(pages)  # page 3 was requested while these were in hand
    assert (first.records[0].remote_id, second.records[0].remote_id) == ("a0000", "a0100")
    with pytest.raises(ProviderError, match="offset rejected") as raised:
        next(pages)
    assert raised.value.code == "MSS.00000003"
    assert offsets_requested(server) == [0, 100, 200]  # one attempt each: a 400 is not retried
    assert provider.api_calls == 3


def test_it_stops_at_an_empty_page_even_if_count_says_more(metastudio):
    fake = FakeMetaStudio(avatars=[avatar(i) for i in range(100)])
    fake.page = lambda items, params, key: Reply(
        200, json.dumps({"count": 500, key: items[int(params["offset"]) : int(params["offset"]) + 100]})
    )
    server, provider = metastudio(fake)

    pages = list(provider.iter_pages(AVATAR_TRAINING))

    assert [len(p.records) for p in pages] == [100, 0]
    assert pages[-1].next_cursor is None


@pytest.mark.parametrize(
    "body, reason",
    [
        (b'{"count": 1, "jobs": {"job_id": "a"}}', "jobs: expected a list"),
        (b'{"count": 1, "jobs": [{"name": "x"}]}', "job_id: missing"),
        (b'{"jobs": []}', "no count"),
        (b'{"count": 1, "jobs": [', "malformed JSON"),
        (b"[1, 2]", "expected a JSON object"),
    ],
)
def test_it_reports_a_malformed_listing_as_a_response_error(metastudio, body, reason):
    fake = FakeMetaStudio()
    fake.page = lambda items, params, key: Reply(200, body)
    _, provider = metastudio(fake)

    with pytest.raises(ResponseError, match=reason):
        list(provider.iter_pages(AVATAR_TRAINING))


def test_it_uses_the_token_instead_of_signing(metastudio):
    server, provider = metastudio(
        FakeMetaStudio(avatars=[avatar(1)], token="iam-token-xyz"),
        access_key_id="",
        secret_key="",
        token="iam-token-xyz",
    )

    records = [r for page in provider.iter_pages(AVATAR_TRAINING) for r in page.records]

    assert len(records) == 1
    assert server.requests[0].header("Authorization") is None
    assert server.requests[0].header("X-Sdk-Date") is None


def test_it_raises_auth_error_for_a_wrong_secret_without_retrying(metastudio):
    server, provider = metastudio(FakeMetaStudio(avatars=[avatar(1)]), secret_key="SK-wrong-000000000000")

    with pytest.raises(AuthError) as caught:
        provider.check_connection()

    assert len(server.requests) == 1
    assert provider.api_calls == 1
    assert (caught.value.code, caught.value.request_id, caught.value.status) == ("APIGW.0301", "rq-401", 401)
    assert "SK-wrong" not in str(caught.value)


def test_it_re_signs_a_retried_request_with_a_fresh_date(metastudio):
    fake = FakeMetaStudio(avatars=[avatar(1)])
    fake.faults = [Reply(503, b'{"error_code": "APIGW.0503", "error_msg": "busy"}')]
    with time_machine.travel(datetime(2024, 5, 1, 12, 0, tzinfo=UTC), tick=False) as clock:
        server, provider = metastudio(fake, http_options={"sleep": lambda seconds: clock.shift(120)})

        records = [r for page in provider.iter_pages(AVATAR_TRAINING) for r in page.records]

    assert len(records) == 1
    assert [r.header("X-Sdk-Date") for r in server.requests] == ["20240501T120000Z", "20240501T120200Z"]
    assert provider.api_calls == 2


def test_it_returns_none_for_a_job_the_vendor_does_not_know(metastudio):
    _, provider = metastudio(FakeMetaStudio(avatars=[avatar(1)]))

    assert provider.get_job(AVATAR_TRAINING, "nope") is None
    assert provider.get_job(VOICE_ASSESSMENT, "nope") is None
    assert provider.get_job(AVATAR_TRAINING, "a0001").name == "Avatar 1"


def test_it_fetches_the_avatar_detail_with_its_events_and_linked_voice_job(metastudio):
    detail = avatar(
        1,
        voice_train_job_id="v0009",
        training_video_download_url="https://obs/x",
        operation_logs=[
            {"operate_time": "2024-01-01T00:00:00Z", "log_type": "USER_CREATE_JOD", "operate_user": "USER"}
        ],
    )
    _, provider = metastudio(FakeMetaStudio(avatars=[detail]))
    listed = huawei.avatar_record(avatar(1))

    result = provider.fetch_detail(listed)

    assert result.record.linked_job_id == "v0009"
    assert "training_video_download_url" not in result.record.payload
    assert [(e.source, e.action) for e in result.events] == [("oplog", "USER_CREATE_JOD")]


def test_it_reads_every_op_log_page_and_the_audit_result_of_a_rejected_voice_job(metastudio):
    logs = [
        {"time": 1700000000000 + i * 1000, "action": "COMMIT_JOB" if i % 2 else "CREATE_JOB", "operator": "USER"}
        for i in range(150)
    ]
    fake = FakeMetaStudio(voices=[voice(1, state="AUDIT_FAILED"), voice(2)], oplogs={"v0001": logs, "v0002": logs})
    server, provider = metastudio(fake)

    rejected = provider.fetch_detail(huawei.voice_record(voice(1, state="AUDIT_FAILED")))
    running = provider.fetch_detail(huawei.voice_record(voice(2)))

    assert [e.source for e in rejected.events].count("oplog") == 150
    assert [e.source for e in rejected.events][-1] == "audit"
    assert [e.source for e in running.events] == ["oplog"] * 150
    paths = [r.path.rsplit("/", 1)[-1] for r in server.requests]
    assert paths == ["op-logs", "op-logs", "audit-result", "op-logs", "op-logs"]


def test_it_fetches_a_short_job_with_its_assessment(metastudio):
    body = short_job_body()
    _, provider = metastudio(FakeMetaStudio(short_jobs={body["job_id"]: body}))

    record = provider.get_job(VOICE_ASSESSMENT, body["job_id"])
    detail = provider.fetch_detail(JobRecord(kind=VOICE_ASSESSMENT, remote_id=body["job_id"]))

    assert len(record.assessment.metrics) == 6
    assert detail.record.assessment == record.assessment
    assert detail.events == []


def test_it_checks_the_connection_with_one_cheap_call(metastudio):
    server, provider = metastudio(FakeMetaStudio(avatars=[avatar(i) for i in range(7)]))

    summary = provider.check_connection()

    assert "7 avatar training job" in summary
    assert server.requests[0].params["limit"] == "1"
    assert provider.api_calls == 1


# --- filtered and newest-first listings, reads by id, tenant facts ---------------------------


def test_it_sends_the_state_filter_and_newest_first_order_in_the_signed_query(metastudio):
    fake = FakeMetaStudio(avatars=[avatar(1), avatar(2, state="JOB_SUCCESS"), avatar(3, state="WAIT_FILE_UPLOAD")])
    server, provider = metastudio(fake)

    pages = list(provider.iter_pages(AVATAR_TRAINING, states={"WAIT_FILE_UPLOAD", "TRAINING"}, newest_first=True))

    # One comma-separated value, sorted, encoded as signed (the fake checks the signature
    # with the SDK signer and that the URL went out exactly as signed).
    [request] = server.requests
    assert request.raw_path.endswith(
        "?limit=100&offset=0&sort_dir=desc&sort_key=create_time&state=TRAINING%2CWAIT_FILE_UPLOAD"
    )
    assert [r.remote_id for page in pages for r in page.records] == ["a0003", "a0001"]
    assert [p.total for p in pages] == [2]


def test_it_filters_voice_jobs_by_state_oldest_first_by_default(metastudio):
    server, provider = metastudio(FakeMetaStudio(voices=[voice(1), voice(2, state="SUCCEED"), voice(3)]))

    records = [r for page in provider.iter_pages(VOICE_TRAINING, states=["PROCESSING"]) for r in page.records]

    assert [r.remote_id for r in records] == ["v0001", "v0003"]
    assert server.requests[0].params == {
        "limit": "100",
        "offset": "0",
        "sort_dir": "asc",
        "sort_key": "create_time",
        "state": "PROCESSING",
    }


def test_it_pages_a_filtered_listing_by_its_filtered_count(metastudio):
    jobs = [avatar(i, state="TRAINING" if i % 2 else "JOB_SUCCESS") for i in range(500)]
    server, provider = metastudio(FakeMetaStudio(avatars=jobs))

    pages = list(provider.iter_pages(AVATAR_TRAINING, states=["TRAINING"], newest_first=True))

    ids = [r.remote_id for page in pages for r in page.records]
    assert ids == [f"a{i:04d}" for i in range(499, 0, -2)]  # the 250 in training, newest first
    assert [p.total for p in pages] == [250, 250, 250]  # the filtered count
    assert [p.next_cursor for p in pages] == [100, 200, None]
    assert offsets_requested(server) == [0, 100, 200]
    assert {(r.params["state"], r.params["sort_dir"]) for r in server.requests} == {("TRAINING", "desc")}


def test_a_filtered_listing_keeps_the_repeat_page_guard(metastudio):
    fake = FakeMetaStudio(avatars=[avatar(i) for i in range(250)], ignore_offset=True)
    server, provider = metastudio(fake, fetch_ahead=0)

    with pytest.raises(ResponseError, match="repeats the previous page"):
        list(provider.iter_pages(AVATAR_TRAINING, states=["TRAINING"]))

    assert len(server.requests) == 2


def test_it_asks_for_no_page_ahead_when_told_not_to(metastudio):
    server, provider = metastudio(FakeMetaStudio(avatars=[avatar(i) for i in range(350)]))  # fetch_ahead=2

    pages = provider.iter_pages(AVATAR_TRAINING, newest_first=True, fetch_ahead=False)
    first = next(pages)
    pages.close()  # a caller that met known jobs stops here

    assert first.records[0].remote_id == "a0349"
    assert [r.params["offset"] for r in server.requests] == ["0"]
    assert provider.api_calls == 1


def test_an_empty_state_filter_lists_nothing_without_a_call(metastudio):
    server, provider = metastudio(FakeMetaStudio(avatars=[avatar(1)]))

    pages = list(provider.iter_pages(AVATAR_TRAINING, states=()))

    assert [(p.records, p.total, p.next_cursor) for p in pages] == [([], 0, None)]
    assert server.requests == [] and provider.api_calls == 0


@pytest.mark.parametrize(
    "states, error", [("TRAINING", TypeError), (["TRAINING,JOB_SUCCESS"], ValueError), ([""], ValueError)]
)
def test_it_refuses_a_state_filter_it_cannot_send_as_one_value(metastudio, states, error):
    server, provider = metastudio(FakeMetaStudio(avatars=[avatar(1)]))

    with pytest.raises(error):
        provider.iter_pages(AVATAR_TRAINING, states=states)

    assert server.requests == []


def test_it_gets_several_jobs_with_one_show_call_each_and_none_for_a_missing_one(metastudio):
    server, provider = metastudio(FakeMetaStudio(avatars=[avatar(1), avatar(2)], voices=[voice(1)]))

    found = provider.get_jobs(AVATAR_TRAINING, ["a0002", "gone-1", "a0001", "a0002"])
    voices = provider.get_jobs(VOICE_TRAINING, iter(["v0001"]))

    assert list(found) == ["a0002", "gone-1", "a0001"]  # each id once, in the order asked
    assert (found["a0002"].name, found["gone-1"], found["a0001"].name) == ("Avatar 2", None, "Avatar 1")
    assert voices["v0001"].kind == VOICE_TRAINING
    assert [r.path.rsplit("/", 1)[-1] for r in server.requests] == ["a0002", "gone-1", "a0001", "v0001"]
    assert provider.api_calls == 4


def test_get_jobs_refuses_an_answer_about_another_job(metastudio):
    fake = FakeMetaStudio(avatars=[avatar(1)])
    fake.listing_or_item = lambda jobs, rest, params: Reply(200, json.dumps(avatar(9)))
    _, provider = metastudio(fake)

    with pytest.raises(ResponseError, match="asked for job a0001, the vendor answered job a0009"):
        provider.get_jobs(AVATAR_TRAINING, ["a0001"])


@pytest.mark.parametrize(
    "region, rps", [("cn-north-4", 20.0), ("cn-east-3", 10.0), ("ap-southeast-3", 10.0), ("la-north-2", 10.0)]
)
def test_it_knows_its_tenant_and_the_documented_request_rate(region, rps):
    provider = HuaweiProvider(region=region, project_id=PROJECT, access_key_id=AK, secret_key=SK)

    assert provider.tenant_key == f"metastudio:{region}:{PROJECT}"
    assert provider.documented_rps == rps
    with pytest.raises(AttributeError):
        provider.tenant_key = "other"  # read-only


# --- against fakecloud (the simulator; its own signature checks) ----------------------------


def fakecloud_provider(fc, **kwargs):
    creds = fc.huawei
    options = {
        "region": creds["region"],
        "project_id": creds["project_id"],
        "access_key_id": creds["ak"],
        "secret_key": creds["sk"],
        "endpoint": fc.url,
        "http_options": {"sleep": lambda s: None},
        **kwargs,
    }
    return HuaweiProvider(**options)


@pytest.mark.parametrize(
    "kind, fc_kind, op", [(AVATAR_TRAINING, "avatar", "avatar.list"), (VOICE_TRAINING, "voice", "voice.list")]
)
def test_it_lists_every_fakecloud_job_exactly_once(fakecloud, kind, fc_kind, op):
    provider = fakecloud_provider(fakecloud, page_size=7)

    pages = list(provider.iter_pages(kind))

    records = [r for page in pages for r in page.records]
    expected = {job["job_id"]: job["state"] for job in fakecloud.jobs(fc_kind)}
    assert len(records) == len(expected) == 30
    assert {r.remote_id: r.state for r in records} == expected
    assert all(r.created_at and r.updated_at for r in records)
    assert fakecloud.counters()[op] == provider.api_calls == len(pages) == 5


@pytest.mark.parametrize(
    "kind, parse, listed",
    [
        (AVATAR_TRAINING, huawei.avatar_record, huawei.listed_avatar),
        (VOICE_TRAINING, huawei.voice_record, huawei.listed_voice),
    ],
)
def test_a_listed_job_makes_the_same_record_from_its_stripped_payload_as_from_the_vendor_item(
    fakecloud, kind, parse, listed
):
    # The sync skips normalising a listed job whose stripped payload it already holds: that is
    # only sound if no record field comes from a key the stripping removes.
    provider = fakecloud_provider(fakecloud)
    fetch = provider.list_avatar_jobs if kind == AVATAR_TRAINING else provider.list_voice_jobs
    items = fetch(0, 100)[0]["jobs"]
    assert len(items) == 30 and any("contact" in i or "phone" in i for i in items)

    for item in items:
        entry = listed(item)
        from_item, from_payload = parse(item), entry.record()
        assert from_payload == from_item and from_payload.payload == from_item.payload
        assert (entry.kind, entry.remote_id) == (kind, from_item.remote_id)
        assert "contact" not in entry.payload and "phone" not in entry.payload


def test_it_reads_fakecloud_details_op_logs_and_audit_results(fakecloud):
    provider = fakecloud_provider(fakecloud)
    voices = [r for page in provider.iter_pages(VOICE_TRAINING) for r in page.records]
    rejected = voices[0].remote_id
    fakecloud.set_state("voice", rejected, "AUDIT_FAILED")
    voices = [r for page in provider.iter_pages(VOICE_TRAINING) for r in page.records]
    avatars = [r for page in provider.iter_pages(AVATAR_TRAINING) for r in page.records]

    avatar_details = [provider.fetch_detail(r) for r in avatars]
    voice_details = {r.remote_id: provider.fetch_detail(r) for r in voices}

    assert all(d.events and {e.source for e in d.events} <= {"oplog", "comment"} for d in avatar_details)
    assert all(d.events[0].action == "USER_CREATE_JOD" for d in avatar_details)
    assert all(d.events and d.events[0].action == "CREATE_JOB" for d in voice_details.values())
    assert "audit" in {e.source for e in voice_details[rejected].events}
    counters = fakecloud.counters()
    assert counters["avatar.detail"] == 30
    assert counters["voice.audit"] == sum(r.state == "AUDIT_FAILED" for r in voices) >= 1


def test_it_reads_fakecloud_short_jobs_with_six_metrics(fakecloud):
    provider = fakecloud_provider(fakecloud)
    ids = fakecloud.short_job_ids()

    records = [provider.get_job(VOICE_ASSESSMENT, job_id) for job_id in ids]

    assert [r.remote_id for r in records] == ids
    done = [r for r in records if r.state == "SUCCEED"]
    assert done
    assert all([m.metric for m in r.assessment.metrics] == list(METRICS) for r in done)
    assert provider.get_job(VOICE_ASSESSMENT, "00000000-0000-0000-0000-000000000000") is None


def test_it_gets_an_auth_error_from_fakecloud_for_a_wrong_secret_without_retrying(fakecloud):
    provider = fakecloud_provider(fakecloud, secret_key="FAKESK-WRONG-000000000000000000000")

    with pytest.raises(AuthError) as caught:
        list(provider.iter_pages(AVATAR_TRAINING))

    assert caught.value.code.endswith("0301")
    assert caught.value.request_id
    assert provider.api_calls == 1
    assert fakecloud.counters()["huawei.auth_failures"] == 1


def test_it_authenticates_to_fakecloud_with_a_token():
    from fakecloud.testing import FakeCloudServer

    with FakeCloudServer(jobs=3, seed=1, speed=0, huawei_token="iam-token-for-tests") as fc:
        provider = fakecloud_provider(fc, access_key_id="", secret_key="", token="iam-token-for-tests")

        records = [r for page in provider.iter_pages(AVATAR_TRAINING) for r in page.records]

    assert len(records) == 3


@pytest.mark.parametrize(
    "fault, outcome",
    [
        ({"kind": "throttle", "count": 2, "retry_after": 1}, "ok"),
        ({"kind": "error", "status": 503, "count": 2}, "ok"),
        ({"kind": "truncate", "mode": "length"}, TransportError),
        ({"kind": "truncate", "mode": "cut", "count": 1}, ResponseError),
        ({"kind": "malformed", "count": 1}, ResponseError),
        ({"kind": "oversize", "bytes": 300_000, "count": 1}, ResponseError),
        ({"kind": "skew", "seconds": 1800}, AuthError),
    ],
)
def test_it_handles_fakecloud_faults(fakecloud, fault, outcome):
    sleeps = []
    provider = fakecloud_provider(fakecloud, http_options={"sleep": sleeps.append, "max_body_bytes": 200_000})
    fakecloud.set_fault(op="avatar.list", **fault)

    if outcome == "ok":
        records = [r for page in provider.iter_pages(AVATAR_TRAINING) for r in page.records]
        assert len(records) == 30
        assert provider.api_calls == 3
        assert len(sleeps) == 2
    else:
        with pytest.raises(outcome):
            list(provider.iter_pages(AVATAR_TRAINING))
    assert fakecloud.counters()["avatar.list"] == provider.api_calls


def test_it_pages_by_the_limit_when_a_page_repeats_jobs_beyond_it(metastudio):
    jobs = [avatar(i) for i in range(250)]

    def overlapping(items, params, key):
        offset = int(params["offset"])
        page = items[max(0, offset - 1) : offset + 100]  # the previous page's last job, then 100 new
        return Reply(200, json.dumps({"count": len(items), key: page}))

    fake = FakeMetaStudio(avatars=jobs)
    fake.page = overlapping
    server, provider = metastudio(fake)

    ids = [r.remote_id for page in provider.iter_pages(AVATAR_TRAINING) for r in page.records]

    assert set(ids) == {job["job_id"] for job in jobs}
    assert offsets_requested(server) == [0, 100, 200]  # in any order: two go out at once


def test_it_pages_by_what_came_when_the_server_caps_the_page_size(metastudio):
    fake = FakeMetaStudio(avatars=[avatar(i) for i in range(120)])
    fake.page = lambda items, params, key: Reply(
        200, json.dumps({"count": len(items), key: items[int(params["offset"]) : int(params["offset"]) + 50]})
    )
    server, provider = metastudio(fake)

    ids = [r.remote_id for page in provider.iter_pages(AVATAR_TRAINING) for r in page.records]

    assert ids == [f"a{i:04d}" for i in range(120)]
    assert offsets_requested(server) == [0, 50, 100]


def test_it_still_lists_every_fakecloud_job_when_pages_carry_extra_duplicates(fakecloud):
    provider = fakecloud_provider(fakecloud, page_size=7)
    fakecloud.set_fault("duplicate", op="avatar.list", k=2, mode="extra")

    ids = [r.remote_id for page in provider.iter_pages(AVATAR_TRAINING) for r in page.records]

    assert len(ids) > 30  # the duplicates are the sync's to drop
    assert set(ids) == {job["job_id"] for job in fakecloud.jobs("avatar")}


@pytest.mark.parametrize(
    "kind, fc_kind, op", [(AVATAR_TRAINING, "avatar", "avatar.list"), (VOICE_TRAINING, "voice", "voice.list")]
)
@pytest.mark.parametrize("newest_first", [False, True])
def test_a_filtered_fakecloud_listing_returns_exactly_the_jobs_in_those_states(
    fakecloud, kind, fc_kind, op, newest_first
):
    remote = {job["job_id"]: job["state"] for job in fakecloud.jobs(fc_kind)}
    present = sorted(set(remote.values()))
    states = {*present[: len(present) // 2 or 1], "NOT_A_STATE_ANY_JOB_IS_IN"}
    expected = {job_id for job_id, state in remote.items() if state in states}
    assert 0 < len(expected) < len(remote)
    provider = fakecloud_provider(fakecloud, page_size=4)

    pages = list(provider.iter_pages(kind, states=states, newest_first=newest_first))

    records = [r for page in pages for r in page.records]
    assert sorted(r.remote_id for r in records) == sorted(expected)  # each once, no other
    assert {p.total for p in pages} == {len(expected)}
    created = [r.created_at for r in records]
    assert created == sorted(created, reverse=newest_first)
    assert fakecloud.counters()[op] == provider.api_calls == len(pages) == -(-len(expected) // 4)


def test_it_gets_fakecloud_jobs_by_id_with_none_for_an_unknown_one(fakecloud):
    provider = fakecloud_provider(fakecloud)
    wanted = [job["job_id"] for job in fakecloud.jobs("avatar")[:3]]

    found = provider.get_jobs(AVATAR_TRAINING, [*wanted, "0" * 32])

    assert [found[job_id].remote_id for job_id in wanted] == wanted
    assert found["0" * 32] is None
    assert fakecloud.counters()["avatar.detail"] == 4
