"""Every fault mode happens as configured, only where scoped, and the counters count."""

import json
import urllib.request
import xml.etree.ElementTree as ET

import pytest
import requests

from fakecloud import faults
from tests.fixtures_fakecloud import avatar_path, cos_request, huawei_request, voice_path


def _avatar_page(server, offset=0, limit=10, **kwargs):
    return huawei_request(server, "GET", avatar_path(), [("offset", offset), ("limit", limit)], **kwargs)


def _ci_page(server, **params):
    return cos_request(server, "GET", "/ai_jobs", {"tag": "Translation", "size": "10", **params})


def test_it_fails_exactly_page_three_with_a_5xx_body(fakecloud):
    fakecloud.set_fault("error", op="avatar.list", after=2, count=1, status=503)
    statuses = [_avatar_page(fakecloud, offset=o).status_code for o in (0, 10, 20, 20)]
    assert statuses == [200, 200, 503, 200]
    assert fakecloud.counters()["avatar.list"] == 4
    assert fakecloud.faults()[0]["fired"] == 1 and fakecloud.faults()[0]["remaining"] == 0


def test_it_answers_5xx_in_each_clouds_words(fakecloud):
    fakecloud.set_fault("error", op="voice.list", count=1, status=500)
    fakecloud.set_fault("error", op="ci.*", count=1, status=503)
    huawei = huawei_request(fakecloud, "GET", voice_path())
    ci = _ci_page(fakecloud)
    assert huawei.status_code == 500 and huawei.json()["error_code"] == "MSS.00000004"
    assert huawei.headers["X-Request-Id"]
    assert ci.status_code == 503 and ET.fromstring(ci.content).findtext("Code") == "ServiceUnavailable"
    assert ci.headers["x-ci-request-id"]


def test_it_scopes_a_fault_to_its_operation(fakecloud):
    fakecloud.set_fault("error", op="voice.list", status=502)
    assert _avatar_page(fakecloud).status_code == 200
    assert huawei_request(fakecloud, "GET", voice_path()).status_code == 502
    assert huawei_request(fakecloud, "GET", voice_path()).status_code == 502  # no count: every time
    assert fakecloud.counters()["voice.list"] == 2


def test_it_throttles_with_the_vendor_bodies_and_retry_after(fakecloud):
    fakecloud.set_fault("throttle", op="huawei", count=1, retry_after=3)
    fakecloud.set_fault("throttle", op="tencent", count=1, retry_after=2)
    huawei = _avatar_page(fakecloud)
    ci = _ci_page(fakecloud)
    assert huawei.status_code == 429 and huawei.headers["Retry-After"] == "3"
    assert huawei.json()["error_code"] == "APIGW.0308"
    assert ci.status_code == 503 and ci.headers["Retry-After"] == "2"  # COS's SlowDown status
    assert ET.fromstring(ci.content).findtext("Code") == "SlowDown"
    assert _avatar_page(fakecloud).status_code == 200


def test_it_delays_answers_with_latency(fakecloud):
    fakecloud.set_fault("latency", op="avatar.list", count=1, ms=1500)
    with pytest.raises(requests.exceptions.ReadTimeout):
        _avatar_page(fakecloud, timeout=0.3)
    assert _avatar_page(fakecloud, timeout=5).status_code == 200
    assert fakecloud.faults()[0]["fired"] == 1


def test_it_hangs_longer_than_a_client_timeout(fakecloud):
    fakecloud.set_fault("hang", op="ci.list", count=1, seconds=3)
    with pytest.raises(requests.exceptions.ReadTimeout):
        cos_request(fakecloud, "GET", "/ai_jobs", {"tag": "Translation"}, timeout=0.3)
    assert fakecloud.counters()["ci.list"] == 1
    assert fakecloud.faults()[0]["fired"] == 1


def test_it_truncates_a_body_below_its_content_length(fakecloud):
    fakecloud.set_fault("truncate", op="avatar.list", count=1)
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        _avatar_page(fakecloud)
    assert _avatar_page(fakecloud).status_code == 200


def test_it_cuts_a_body_into_unparseable_json_and_xml(fakecloud):
    fakecloud.set_fault("truncate", op="avatar.list,ci.list", count=2, mode="cut")
    huawei = _avatar_page(fakecloud)
    ci = _ci_page(fakecloud)
    assert int(huawei.headers["Content-Length"]) == len(huawei.content)
    with pytest.raises(ValueError):
        json.loads(huawei.content)
    with pytest.raises(ET.ParseError):
        ET.fromstring(ci.content)


def test_it_sends_malformed_json_and_xml(fakecloud):
    fakecloud.set_fault("malformed", count=2)
    huawei = _avatar_page(fakecloud)
    ci = _ci_page(fakecloud)
    assert huawei.status_code == ci.status_code == 200
    with pytest.raises(ValueError):
        json.loads(huawei.content)
    with pytest.raises(ET.ParseError):
        ET.fromstring(ci.content)
    assert b"<Tag>Translation<Tag>" in ci.content  # the seed page's own mistake


def test_it_pads_pages_beyond_a_size(fakecloud):
    fakecloud.set_fault("oversize", count=2, bytes=3_000_000)
    huawei = _avatar_page(fakecloud)
    ci = _ci_page(fakecloud)
    assert len(huawei.content) >= 3_000_000 and len(ci.content) >= 3_000_000
    assert huawei.json()["count"] == len(fakecloud.jobs("avatar"))  # still valid, only big
    assert ET.fromstring(ci.content).tag == "Response"


def test_it_repeats_ids_across_huawei_pages(fakecloud):
    first = _avatar_page(fakecloud, 0, 10).json()["jobs"]
    fakecloud.set_fault("duplicate", op="avatar.list", count=1, k=2)
    second = _avatar_page(fakecloud, 10, 10).json()["jobs"]
    assert [j["job_id"] for j in second[:2]] == [j["job_id"] for j in first[-2:]]
    assert len(second) == 10


def test_it_repeats_ids_across_ci_pages_without_losing_any(fakecloud):
    fakecloud.set_fault("duplicate", op="ci.list", count=1, k=3)
    ids, token = [], ""
    while True:
        root = ET.fromstring(_ci_page(fakecloud, nextToken=token).content)
        ids += [d.findtext("JobId") for d in root.findall("JobsDetail")]
        token = root.findtext("NextToken")
        if not token:
            break
    assert len(ids) == len(set(ids)) + 3
    assert set(ids) == {j["job_id"] for j in fakecloud.jobs("translation")}


def test_it_skews_the_auth_clock(fakecloud):
    # Behind: Huawei allows 15 minutes either way; a COS key starts 60 s before signing.
    fakecloud.set_fault("skew", seconds=-1200)
    huawei = _avatar_page(fakecloud)
    ci = _ci_page(fakecloud)
    assert huawei.status_code == 401 and "signature expired" in huawei.json()["error_msg"]
    assert ci.status_code == 401 and ET.fromstring(ci.content).findtext("Code") == "SignatureExpired"
    assert fakecloud.counters()["auth_failures"] == 2
    fakecloud.clear_faults()
    assert _avatar_page(fakecloud).status_code == 200


def test_it_resets_counters(fakecloud):
    _avatar_page(fakecloud)
    huawei_request(fakecloud, "GET", f"{avatar_path()}/{fakecloud.jobs('avatar')[0]['job_id']}")
    before = fakecloud.counters()
    fakecloud.reset_counters()
    assert before["avatar.list"] == 1 and before["avatar.detail"] == 1
    assert set(fakecloud.counters().values()) == {0}


def test_it_sets_and_clears_faults_over_http(fakecloud):
    def call(method, path, payload=None):
        data = json.dumps(payload).encode() if payload is not None else None
        request = urllib.request.Request(fakecloud.url + path, data=data, method=method)
        with urllib.request.urlopen(request) as response:
            return json.loads(response.read())

    call("PUT", "/_fakecloud/faults", {"faults": [{"kind": "error", "op": "avatar.list", "count": 1}]})
    shown = call("GET", "/_fakecloud/faults")["faults"]
    failed = _avatar_page(fakecloud).status_code
    call("DELETE", "/_fakecloud/faults")
    assert shown[0]["kind"] == "error" and shown[0]["remaining"] == 1
    assert failed == 500
    assert call("GET", "/_fakecloud/faults")["faults"] == []
    assert call("GET", "/_fakecloud/counters")["avatar.list"] == 1


def test_it_rejects_a_nonsense_fault(fakecloud):
    with pytest.raises(RuntimeError):
        fakecloud.set_fault("gremlins")
    with pytest.raises(RuntimeError):
        fakecloud.set_fault("error", status=418)
    assert fakecloud.faults() == []


def test_it_parses_faults_from_the_command_line():
    fault = faults.parse_cli("error:op=avatar.list+voice.list,after=2,count=1,status=503")
    assert fault == {"kind": "error", "op": "avatar.list,voice.list", "after": 2, "count": 1, "status": 503}
    assert faults.op_matches(fault["op"], "voice.list") and not faults.op_matches(fault["op"], "ci.list")
