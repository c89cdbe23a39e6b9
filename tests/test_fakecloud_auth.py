"""fakecloud's own signature verifiers: the reference test vectors, the windows, the errors."""

import calendar
import time
from urllib.parse import quote

import requests

from fakecloud import auth
from tests.fixtures_fakecloud import avatar_path, cos_request, huawei_request

# Test vectors: docs/vendors/huawei-metastudio.md §7.6 and docs/vendors/tencent-ci.md §6.4.
HW = {
    "ak": "AKEXAMPLE0000000000",
    "sk": "SKEXAMPLESECRET0000000000000000000000000",
    "project_id": "0123456789abcdef0123456789abcdef",
    "token": "",
}
HW_HOST = "metastudio.cn-north-4.myhuaweicloud.com"
HW_DATE = "20240101T000000Z"
HW_NOW = calendar.timegm((2024, 1, 1, 0, 0, 0))
COS = {"secret_id": "AKIDEXAMPLE", "secret_key": "SECRETKEYEXAMPLE", "token": ""}


def _hw_headers(signed, signature, extra=None):
    headers = {
        "host": HW_HOST,
        "x-project-id": HW["project_id"],
        "x-sdk-date": HW_DATE,
        "authorization": f"SDK-HMAC-SHA256 Access={HW['ak']}, SignedHeaders={signed}, Signature={signature}",
    }
    headers.update(extra or {})
    return headers


def _vector_a(**changes):
    path = f"/v1/{HW['project_id']}/voice-training-manage/user/jobs/abc-123/op-logs"
    headers = _hw_headers(
        "content-type;host;x-project-id;x-sdk-date",
        "a6bae4328f481b821f7deac9b98e5e62fc04049a2ef12d1514b2d502b3d57eec",
        {"content-type": "application/json"},
    )
    args = {
        "method": "GET",
        "raw_path": path,
        "raw_query": "limit=100&offset=0",
        "headers": headers,
        "body": b"",
        "creds": HW,
        "now": HW_NOW,
    }
    args.update(changes)
    return auth.verify_huawei(**args)


def test_it_accepts_the_huawei_reference_vector_a():
    assert _vector_a() is None


def test_it_rebuilds_the_canonical_request_of_vector_a():
    headers = {
        "content-type": "application/json",
        "host": HW_HOST,
        "x-project-id": HW["project_id"],
        "x-sdk-date": HW_DATE,
    }
    canonical = auth.huawei_canonical_request(
        "GET",
        f"/v1/{HW['project_id']}/voice-training-manage/user/jobs/abc-123/op-logs",
        "offset=0&limit=100",
        headers,
        ["content-type", "host", "x-project-id", "x-sdk-date"],
        b"",
    )
    assert canonical.split("\n")[1].endswith("/op-logs/")  # the trailing slash of the canonical URI
    assert auth.huawei_string_to_sign(canonical, HW_DATE).endswith(
        "e8a795bf347504fe482b0ca379a9bd14616c6cece42cb78afb0e39e5745dc45b"
    )


def test_it_accepts_the_huawei_reference_vector_b():
    path = f"/v1/{HW['project_id']}/voice-training-manage/user/jobs"
    query = "is_ondemand_resource=false&limit=100&offset=0&sort_dir=desc&state=FAILED%2CSUCCEED"
    headers = _hw_headers(
        "host;x-project-id;x-sdk-date", "8f78d6d1267309afe08a787925348934e0da0e90196ed5720e467ccee5d67ae1"
    )
    assert auth.verify_huawei("GET", path, query, headers, b"", HW, HW_NOW) is None


def test_it_rejects_a_tampered_huawei_request():
    failure = _vector_a(raw_query="limit=100&offset=10")
    assert (failure.status, failure.code) == (401, "APIGW.0301")
    assert failure.message.endswith("verify aksk signature fail")


def test_it_rejects_a_huawei_date_beyond_fifteen_minutes():
    assert _vector_a(now=HW_NOW + 15 * 60) is None
    failure = _vector_a(now=HW_NOW + 15 * 60 + 1)
    assert (failure.status, failure.code) == (401, "APIGW.0301")
    assert failure.message.endswith("signature expired")
    assert _vector_a(now=HW_NOW - 16 * 60).message.endswith("signature expired")


def test_it_rejects_an_unknown_access_key_and_a_foreign_project():
    other = dict(HW, ak="AKOTHER")
    assert _vector_a(creds=other).code == "APIGW.0301"
    foreign = dict(HW, project_id="f" * 32)
    assert _vector_a(creds=foreign).code == "APIGW.0301"


def test_it_requires_x_project_id_with_aksk():
    headers = _hw_headers("content-type;host;x-sdk-date", "0" * 64, {"content-type": "application/json"})
    del headers["x-project-id"]
    failure = _vector_a(headers=headers)
    assert failure.code == "APIGW.0301" and failure.message.endswith("x-project-id not found")


def test_it_accepts_a_configured_token_instead_of_a_signature():
    creds = dict(HW, token="MIIexampletoken")
    path = f"/v1/{HW['project_id']}/voice-training-manage/user/jobs"
    assert auth.verify_huawei("GET", path, "", {"x-auth-token": "MIIexampletoken"}, b"", creds, 0) is None
    assert auth.verify_huawei("GET", path, "", {"x-auth-token": "other"}, b"", creds, 0).code == "APIGW.0301"
    assert auth.verify_huawei("GET", path, "", {"x-auth-token": "MIIexampletoken"}, b"", HW, 0) is not None


def _cos_args():
    params = {
        "tag": "Translation",
        "orderByTime": "Desc",
        "states": "Success,Failed",
        "size": "100",
        "nextToken": "",
        "queueId": "p893bcda225bf4945a378da6662e81a89",
        "startCreationTime": "2022-07-01T00:00:00+0800",
        "endCreationTime": "2022-07-31T23:59:59+0800",
    }
    query = "&".join(f"{k}={quote(v, safe='')}" for k, v in params.items())
    key_time = "1699999940;1700010000"
    authorization = (
        f"q-sign-algorithm=sha1&q-ak=AKIDEXAMPLE&q-sign-time={key_time}&q-key-time={key_time}"
        "&q-header-list=host&q-url-param-list=endcreationtime;nexttoken;orderbytime;queueid;size;"
        "startcreationtime;states;tag&q-signature=4380ae2c38cfbb9b7a597797b56f4fda3def0783"
    )
    return {
        "method": "GET",
        "raw_path": "/ai_jobs",
        "raw_query": query,
        "creds": COS,
        "now": 1700000000,
        "headers": {"host": "examplebucket-1250000000.ci.ap-guangzhou.myqcloud.com", "authorization": authorization},
    }


def _cos_vector(**changes):
    args = _cos_args()
    args.update(changes)
    return auth.verify_cos(**args)


def test_it_accepts_the_cos_reference_vector():
    assert _cos_vector() is None
    assert auth.cos_sign_key("SECRETKEYEXAMPLE", "1699999940;1700010000") == "da70b011fa5a40fbff3ee9688310baedd01def8b"


def test_it_checks_the_cos_sign_time_window():
    assert _cos_vector(now=1700010000) is None
    late = _cos_vector(now=1700010001)
    early = _cos_vector(now=1699999939)
    assert (late.status, late.code) == (401, "SignatureExpired")
    assert early.code == "SignatureExpired"


def test_it_checks_a_cos_security_token_when_one_is_configured():
    creds = dict(COS, token="STS-TOKEN")
    headers = _cos_args()["headers"]
    for name in ("x-cos-security-token", "x-ci-security-token"):
        assert _cos_vector(creds=creds, headers={**headers, name: "STS-TOKEN"}) is None
    missing = _cos_vector(creds=creds)
    wrong = _cos_vector(creds=creds, headers={**headers, "x-cos-security-token": "OTHER"})
    assert missing.code == wrong.code == "InvalidAuthorization"


def test_it_rejects_a_tampered_cos_request():
    failure = _cos_vector(raw_path="/jobs")
    assert (failure.status, failure.code) == (401, "AccessDenied")


def test_it_rejects_missing_and_malformed_cos_authorization():
    missing = _cos_vector(headers={"host": "x"})
    malformed = _cos_vector(headers={"host": "x", "authorization": "q-sign-algorithm=sha1&q-ak=AKIDEXAMPLE"})
    unknown = _cos_vector(creds=dict(COS, secret_id="AKIDOTHER"))
    assert (missing.status, missing.code) == (401, "MissingAuthorization")
    assert (malformed.status, malformed.code) == (401, "InvalidAuthorization")
    assert unknown.code == "SecretidNotExist"


# --- over HTTP ----------------------------------------------------------------------------


def test_it_accepts_requests_signed_by_the_huawei_sdk_signer(fakecloud):
    response = huawei_request(fakecloud, "GET", avatar_path(), [("limit", 5), ("state", "JOB_SUCCESS,TRAINING")])
    assert response.status_code == 200
    assert response.headers["X-Request-Id"]


def test_it_rejects_an_old_x_sdk_date_over_http(fakecloud):
    old = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(time.time() - 20 * 60))
    response = huawei_request(fakecloud, "GET", avatar_path(), date=old)
    body = response.json()
    assert response.status_code == 401
    assert body["error_code"] == "APIGW.0301" and body["request_id"] == response.headers["X-Request-Id"]
    assert "signature expired" in body["error_msg"]


def test_it_refuses_a_path_for_another_project(fakecloud):
    response = huawei_request(fakecloud, "GET", avatar_path(), project="e" * 32)
    assert response.status_code == 400
    assert response.json()["error_code"] == "MSS.00010009"


def test_it_accepts_a_configured_token_over_http():
    from fakecloud.testing import FakeCloudServer

    with FakeCloudServer(jobs=3, huawei_token="MIItoken") as server:
        url = f"{server.url}/v1/{server.huawei['project_id']}{avatar_path()}"
        good = requests.get(url, headers={"X-Auth-Token": "MIItoken"})
        bad = requests.get(url, headers={"X-Auth-Token": "MIIother"})
    assert good.status_code == 200 and good.json()["count"] == 3
    assert bad.status_code == 401 and bad.json()["error_code"] == "APIGW.0301"


def test_it_accepts_cos_requests_in_absolute_form(fakecloud):
    from qcloud_cos import CosConfig
    from qcloud_cos.cos_auth import CosS3Auth

    tc = fakecloud.tencent
    conf = CosConfig(Region=tc["region"], SecretId=tc["secret_id"], SecretKey=tc["secret_key"], Scheme="http")
    params = {"tag": "Translation", "size": "3"}
    url = f"http://{tc['bucket']}.ci.{tc['region']}.myqcloud.com/ai_jobs"
    response = requests.get(
        url, params=params, auth=CosS3Auth(conf, "/ai_jobs", params=params), proxies={"http": fakecloud.url}
    )
    assert response.status_code == 200
    assert response.headers["x-ci-request-id"]
    assert response.content.count(b"<JobsDetail>") == 3


def test_it_rejects_another_bucket(fakecloud):
    from qcloud_cos import CosConfig
    from qcloud_cos.cos_auth import CosS3Auth

    tc = fakecloud.tencent
    conf = CosConfig(Region=tc["region"], SecretId=tc["secret_id"], SecretKey=tc["secret_key"], Scheme="http")
    url = f"http://other-1250000000.ci.{tc['region']}.myqcloud.com/ai_jobs"
    response = requests.get(
        url,
        params={"tag": "Translation"},
        proxies={"http": fakecloud.url},
        auth=CosS3Auth(conf, "/ai_jobs", params={"tag": "Translation"}),
    )
    assert response.status_code == 404
    assert b"<Code>NoSuchBucket</Code>" in response.content


def test_it_counts_auth_failures_per_cloud(fakecloud):
    huawei_request(fakecloud, "GET", avatar_path(), sk="S" * 40)
    cos_request(fakecloud, "GET", "/ai_jobs", {"tag": "Translation"}, secret_key="K" * 32)
    cos_request(fakecloud, "GET", "/ai_jobs", {"tag": "Translation"}, secret_key="K" * 32)
    counters = fakecloud.counters()
    assert counters["huawei.auth_failures"] == 1
    assert counters["ci.auth_failures"] == 2
    assert counters["auth_failures"] == 3
    assert counters["avatar.list"] == 1 and counters["ci.list"] == 2
