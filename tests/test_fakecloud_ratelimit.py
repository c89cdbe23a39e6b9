"""The per-tenant rate limit answers like each vendor's throttle, spends nothing when it refuses,
and is counted; the latency fault's jitter stays within its bounds."""

import json
import time
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET

import pytest
import requests
from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException
from huaweicloudsdkmetastudio.v1 import CommitShortJobRequest, List2dModelTrainingJobRequest
from qcloud_cos.cos_exception import CosServiceError

from fakecloud import faults
from fakecloud.__main__ import parse_args
from fakecloud.testing import FakeCloudProcess, FakeCloudServer
from tests.fixtures_fakecloud import avatar_path, cos_client, cos_request, huawei_request, metastudio_client

SHORT_JOBS = "/voice-training-manage/user/short-jobs"
OTHER_PROJECT = "a" * 32


class HandClock:
    """The limiter's clock, moved only by the test: "immediately after" holds on a slow machine."""

    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now

    def advance(self, seconds):
        self.now += seconds


@pytest.fixture
def clock():
    return HandClock()


@pytest.fixture
def limited(clock):
    """fakecloud with 5 requests a second per tenant, burst 5, on the hand-moved clock."""
    with FakeCloudServer(jobs=30, seed=1, speed=0, rate_limit=5) as server:
        server.app.limiter.clock = clock
        yield server


def _avatar_page(server, **kwargs):
    return huawei_request(server, "GET", avatar_path(), [("offset", 0), ("limit", 10)], **kwargs)


def _ci_page(server):
    return cos_request(server, "GET", "/ai_jobs", {"tag": "Translation", "size": "10"})


def _ci_list(server, bucket):
    """One CI list through the COS SDK as a proxy client: the Host names `bucket`; the status."""
    try:
        cos_client(server).ci_list_media_jobs(Bucket=bucket, Tag="Translation", Path="/ai_jobs", Size=10)
    except CosServiceError as exc:
        return exc.get_status_code()
    return 200


def test_it_lets_a_burst_through_then_answers_the_gateways_429(limited):
    statuses = [_avatar_page(limited).status_code for _ in range(5)]
    throttled = _avatar_page(limited)
    rid = throttled.headers["X-Request-Id"]
    expected = {
        "error_msg": "The throttling threshold has been reached: policy user over ratelimit, limit:5, time:1 second",
        "error_code": "APIGW.0308",
        "request_id": rid,
    }
    assert statuses == [200] * 5
    assert throttled.status_code == 429
    assert throttled.content == json.dumps(expected, separators=(",", ":")).encode()
    assert len(rid) == 32 and throttled.headers["Retry-After"] == "1"
    assert throttled.headers["Content-Type"].startswith("application/json")


def test_it_answers_ci_with_the_slowdown_xml_and_503(limited):
    statuses = [_ci_page(limited).status_code for _ in range(5)]
    throttled = _ci_page(limited)
    error = ET.fromstring(throttled.content)
    assert statuses == [200] * 5
    assert throttled.status_code == 503 and throttled.headers["Retry-After"] == "1"
    assert throttled.headers["Content-Type"] == "application/xml"
    assert [child.tag for child in error] == ["Code", "Message", "RequestId", "TraceId"]  # no Resource
    assert error.findtext("Code") == "SlowDown"
    assert error.findtext("Message") == "Please reduce your request rate."
    assert error.findtext("RequestId") == throttled.headers["x-ci-request-id"]


def test_it_gives_each_project_its_own_budget(limited):
    for _ in range(5):
        _avatar_page(limited)
    # Another project's calls are refused for the project mismatch (400), not for A's budget.
    other = [_avatar_page(limited, project=OTHER_PROJECT).status_code for _ in range(6)]
    assert _avatar_page(limited).status_code == 429
    assert other == [400] * 5 + [429]


def test_it_shares_one_budget_between_the_buckets_of_one_appid(limited):
    own = [_ci_list(limited, "demo-1250000000") for _ in range(5)]
    # The limit comes before the bucket check: the same AppId is throttled, another is not.
    same_owner = _ci_list(limited, "other-1250000000")
    other_owner = _ci_list(limited, "demo-1300000000")
    assert own == [200] * 5
    assert same_owner == 503  # CI's SlowDown
    assert other_owner == 404  # NoSuchBucket: its own budget let it through to the bucket check


def test_it_lets_requests_through_again_at_the_rate(limited, clock):
    for _ in range(5):
        _avatar_page(limited)
    clock.advance(0.2)  # one request's worth at 5/s
    refilled = [_avatar_page(limited).status_code for _ in range(2)]
    clock.advance(60)  # a long wait refills the burst, no more
    after_a_minute = [_avatar_page(limited).status_code for _ in range(6)]
    assert refilled == [200, 429]
    assert after_a_minute == [200] * 5 + [429]


def test_it_refills_on_the_real_clock():
    with FakeCloudServer(jobs=5, seed=1, speed=0, rate_limit=2) as server:
        statuses = []
        while 429 not in statuses and len(statuses) < 20:
            statuses.append(_avatar_page(server).status_code)
        time.sleep(0.6)  # more than the 0.5 s one request takes to come back at 2/s
        later = _avatar_page(server).status_code
    assert statuses[-1] == 429 and statuses[:2] == [200, 200]
    assert later == 200


def test_a_throttled_request_changes_nothing(limited):
    created = huawei_request(limited, "POST", SHORT_JOBS, body=b'{"job_type": "VOICE_ASSESS"}').json()["job_id"]
    short_jobs = len(limited.jobs("short"))
    for _ in range(4):
        _avatar_page(limited)
    limited.set_fault("error", op="avatar.list", count=1, status=503)
    create = huawei_request(limited, "POST", SHORT_JOBS, body=b'{"job_type": "VOICE_ASSESS"}')
    commit = huawei_request(limited, "POST", f"{SHORT_JOBS}/{created}", body=b"{}")
    listed = _avatar_page(limited)
    assert create.status_code == commit.status_code == listed.status_code == 429
    assert len(limited.jobs("short")) == short_jobs
    assert limited.job("short", created)["state"] == "CREATING"
    assert limited.faults()[0]["seen"] == 0  # never reached the faults either


def test_it_throttles_before_checking_the_signature(limited):
    for _ in range(5):
        _avatar_page(limited)
    wrong = _avatar_page(limited, sk="0" * 40)
    assert wrong.status_code == 429
    assert limited.counters()["auth_failures"] == 0


def test_it_counts_throttled_requests_per_cloud(limited):
    for _ in range(7):
        _avatar_page(limited)
    for _ in range(6):
        _ci_page(limited)
    counters = limited.counters()
    assert counters["avatar.list"] == 7 and counters["ci.list"] == 6  # every request that arrived
    assert counters["throttled"] == 3
    assert counters["huawei.throttled"] == 2 and counters["ci.throttled"] == 1
    limited.reset_counters()
    assert limited.counters()["throttled"] == 0


def test_it_does_not_limit_iam_token_requests(limited):
    hw = limited.huawei
    user = {"name": hw["iam_user"], "password": hw["iam_password"], "domain": {"name": hw["iam_domain"]}}
    body = {
        "auth": {
            "identity": {"methods": ["password"], "password": {"user": user}},
            "scope": {"project": {"id": hw["project_id"]}},
        }
    }
    statuses = [requests.post(limited.url + "/v3/auth/tokens", json=body, timeout=10).status_code for _ in range(7)]
    assert statuses == [201] * 7
    assert limited.counters()["throttled"] == 0


def test_the_sdk_sees_a_429_client_error(limited):
    client = metastudio_client(limited)
    for _ in range(5):
        client.list2d_model_training_job(List2dModelTrainingJobRequest(limit=1))
    with pytest.raises(ClientRequestException) as caught:
        client.list2d_model_training_job(List2dModelTrainingJobRequest(limit=1))
    # huaweicloudsdkcore 3.1.219 mounts urllib3 Retry(total=retry_times, status_forcelist=[429]): with
    # the default retry_times=0 a 429 is a RetryError before the body is read, so the SDK reports
    # error_code "429" and no request id, whatever the gateway said (the raw test above reads it).
    assert caught.value.status_code == 429
    assert caught.value.error_code == "429"
    assert "too many 429 error responses" in caught.value.error_msg
    assert limited.counters()["huawei.throttled"] == 1


def test_the_sdk_with_retries_waits_out_retry_after():
    from huaweicloudsdkcore.auth.credentials import BasicCredentials
    from huaweicloudsdkcore.http.http_config import HttpConfig
    from huaweicloudsdkmetastudio.v1 import MetaStudioClient

    with FakeCloudServer(jobs=5, seed=1, speed=0, rate_limit=5) as server:
        config = HttpConfig.get_default_config()
        config.retry_times = 1  # urllib3 then sleeps the Retry-After (1 s) before trying again
        hw = server.huawei
        client = (
            MetaStudioClient.new_builder()
            .with_credentials(BasicCredentials(hw["ak"], hw["sk"], hw["project_id"]))
            .with_endpoints([server.url])
            .with_http_config(config)
            .build()
        )
        pages = [client.list2d_model_training_job(List2dModelTrainingJobRequest(limit=1)) for _ in range(7)]
        counters = server.counters()
    assert [page.count for page in pages] == [5] * 7
    assert counters["huawei.throttled"] >= 1
    assert counters["avatar.list"] == 7 + counters["huawei.throttled"]


def test_the_sdk_commit_of_a_throttled_short_job_did_not_happen(limited):
    job_id = limited.short_job_ids()[0]
    before = limited.job("short", job_id)["state"]
    for _ in range(5):
        _avatar_page(limited)
    with pytest.raises(ClientRequestException) as caught:
        metastudio_client(limited).commit_short_job(CommitShortJobRequest(job_id=job_id))
    assert caught.value.status_code == 429
    assert limited.job("short", job_id)["state"] == before


def test_it_sets_and_clears_the_limit_over_http(fakecloud, clock):
    def call(method, payload=None):
        data = json.dumps(payload).encode() if payload is not None else None
        request = urllib.request.Request(fakecloud.url + "/_fakecloud/rate-limit", data=data, method=method)
        try:
            with urllib.request.urlopen(request) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())

    fakecloud.app.limiter.clock = clock
    off = call("GET")
    on = call("POST", {"rps": 1})
    statuses = [_avatar_page(fakecloud).status_code for _ in range(2)]
    shown = fakecloud.state()["rate_limit"]
    cleared = call("DELETE")
    assert off == (200, {"rps": None, "burst": None})
    assert on == (200, {"rps": 1, "burst": 1})
    assert statuses == [200, 429] and shown == {"rps": 1, "burst": 1}
    assert cleared == (200, {"rps": None, "burst": None})
    assert _avatar_page(fakecloud).status_code == 200
    assert call("POST", {"rps": 0})[0] == call("POST", {"rps": "fast"})[0] == call("POST", {})[0] == 400


def test_the_helper_sets_a_fractional_limit_and_turns_it_off(fakecloud, clock):
    fakecloud.app.limiter.clock = clock
    shown = fakecloud.set_rate_limit(0.5)  # one request, then one every 2 s
    statuses = [_avatar_page(fakecloud).status_code for _ in range(2)]
    throttled = _avatar_page(fakecloud)
    fakecloud.set_rate_limit(None)
    assert shown == {"rps": 0.5, "burst": 1}
    assert statuses == [200, 429]
    assert "limit:1, time:1 second" in throttled.json()["error_msg"]  # the gateway names whole requests
    assert throttled.headers["Retry-After"] == "2"
    assert _avatar_page(fakecloud).status_code == 200


def test_a_process_takes_the_limit_and_jitter_from_its_flags():
    with FakeCloudProcess(jobs=5, rate_limit=0.1, extra_args=["--latency-ms", "5", "--jitter-ms", "2"]) as fc:
        statuses = [_avatar_page(fc).status_code for _ in range(2)]  # within 10 s: one passes
        shown = fc.state()["rate_limit"]
        latency = fc.faults()[0]
        counters = fc.counters()
    assert statuses == [200, 429]
    assert shown == {"rps": 0.1, "burst": 1}
    assert latency["kind"] == "latency" and latency["ms"] == 5 and latency["jitter"] == 2
    assert 3 <= latency["min_delay_ms"] <= latency["max_delay_ms"] <= 7
    assert counters["huawei.throttled"] == 1


def test_it_rejects_nonsense_flags(capsys):
    for argv in (["--rate-limit", "0"], ["--rate-limit", "-2"], ["--jitter-ms", "20"]):
        with pytest.raises(SystemExit):
            parse_args(argv)
    args = parse_args(["--rate-limit", "2.5", "--latency-ms", "100", "--jitter-ms", "20"])
    assert args.rate_limit == 2.5 and args.latency_ms == 100 and args.jitter_ms == 20


# --- latency jitter ----------------------------------------------------------------------------


def _delays(fault_set, n):
    return [fault_set.fire("avatar.list")["latency"]["delay_ms"] for _ in range(n)]


def test_jitter_stays_within_its_bounds_and_varies():
    fault_set = faults.FaultSet(seed=1)
    fault_set.add({"kind": "latency", "ms": 100, "jitter": 20})
    delays = _delays(fault_set, 200)
    assert all(80 <= d <= 120 for d in delays)
    assert min(delays) < 90 and max(delays) > 110  # spread over the range, not one value
    shown = fault_set.describe()[0]
    assert (shown["min_delay_ms"], shown["max_delay_ms"]) == (min(delays), max(delays))


def test_jitter_never_goes_below_zero():
    fault_set = faults.FaultSet(seed=1)
    fault_set.add({"kind": "latency", "ms": 10, "jitter": 50})
    delays = _delays(fault_set, 200)
    assert min(delays) == 0 and max(delays) <= 60


def test_jitter_repeats_with_the_seed_and_is_off_by_default():
    first, second, plain = faults.FaultSet(seed=7), faults.FaultSet(seed=7), faults.FaultSet(seed=7)
    for fault_set in (first, second):
        fault_set.add({"kind": "latency", "ms": 100, "jitter": 20})
    plain.add({"kind": "latency", "ms": 100})
    assert _delays(first, 20) == _delays(second, 20)
    assert set(_delays(plain, 20)) == {100}


def test_it_rejects_a_negative_jitter():
    with pytest.raises(faults.FaultError):
        faults.normalise({"kind": "latency", "ms": 100, "jitter": -1})


def test_jittered_latency_delays_real_answers_within_bounds(fakecloud):
    fakecloud.set_fault("latency", op="avatar.list", count=5, ms=60, jitter=40)
    statuses = [_avatar_page(fakecloud).status_code for _ in range(5)]
    shown = fakecloud.faults()[0]
    assert statuses == [200] * 5
    assert shown["seen"] == 5
    assert 20 <= shown["min_delay_ms"] <= shown["max_delay_ms"] <= 100
