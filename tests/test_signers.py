"""Both signers against the official SDK signers (test-only dependencies used as oracles) on
generated requests, plus the test vectors in docs/vendors/huawei-metastudio.md §7.6 and
docs/vendors/tencent-ci.md §6.4."""

from unittest import mock
from urllib.parse import quote

import requests
from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.sdk_request import SdkRequest
from huaweicloudsdkcore.signer.signer import Signer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from qcloud_cos import CosConfig, cos_auth
from qcloud_cos.cos_auth import CosS3Auth

from jobs.providers import huawei, tencent

HW_AK = "AKEXAMPLE0000000000"
HW_SK = "SKEXAMPLESECRET0000000000000000000000000"
HW_PROJECT = "0123456789abcdef0123456789abcdef"
HW_HOST = "metastudio.cn-north-4.myhuaweicloud.com"
HW_DATE = "20240101T000000Z"

COS_ID = "AKIDEXAMPLE"
COS_KEY = "SECRETKEYEXAMPLE"
COS_HOST = "examplebucket-1250000000.ci.ap-guangzhou.myqcloud.com"

# Text as the clouds may see it: reserved characters, unicode, empty strings; no lone
# surrogates (they cannot be UTF-8 encoded by anyone).
any_text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=12)
reserved_text = st.text(alphabet="abcXYZ019-_.~ !\"#$%&'()*+,/:;<=>?@[\\]^`{|}é中 ", max_size=12)
texts = st.one_of(any_text, reserved_text)


# --- Huawei SDK-HMAC-SHA256 ------------------------------------------------------------------


def sdk_huawei(method, path, params, headers, body):
    request = SdkRequest(
        method=method,
        schema="https",
        host=HW_HOST,
        resource_path=path,
        query_params=list(params.items()),
        header_params=dict(headers),
        body=body,
    )
    Signer(BasicCredentials(HW_AK, HW_SK, HW_PROJECT)).sign(request)
    return request.header_params["Authorization"], request.uri


def ours_huawei(method, path, params, headers, body):
    signed = huawei.sign(
        method=method,
        path=path,
        params=params,
        headers=headers,
        body=body,
        access_key=HW_AK,
        secret_key=HW_SK,
    )
    return signed.headers["Authorization"], path + (f"?{signed.query}" if signed.query else "")


def test_it_signs_huawei_vector_a():
    headers = {"X-Sdk-Date": HW_DATE, "X-Project-Id": HW_PROJECT, "Content-Type": "application/json", "Host": HW_HOST}
    path = f"/v1/{HW_PROJECT}/voice-training-manage/user/jobs/abc-123/op-logs"

    authorization, uri = ours_huawei("GET", path, {"offset": 0, "limit": 100}, headers, b"")

    assert authorization == (
        "SDK-HMAC-SHA256 Access=AKEXAMPLE0000000000, SignedHeaders=content-type;host;x-project-id;x-sdk-date, "
        "Signature=a6bae4328f481b821f7deac9b98e5e62fc04049a2ef12d1514b2d502b3d57eec"
    )
    assert uri == path + "?limit=100&offset=0"


def test_it_signs_huawei_vector_b():
    headers = {"X-Sdk-Date": HW_DATE, "X-Project-Id": HW_PROJECT, "Host": HW_HOST}
    path = f"/v1/{HW_PROJECT}/voice-training-manage/user/jobs"
    params = {"state": "FAILED,SUCCEED", "limit": 100, "offset": 0, "sort_dir": "desc", "is_ondemand_resource": False}

    authorization, uri = ours_huawei("GET", path, params, headers, b"")

    assert authorization.endswith(
        "SignedHeaders=host;x-project-id;x-sdk-date, "
        "Signature=8f78d6d1267309afe08a787925348934e0da0e90196ed5720e467ccee5d67ae1"
    )
    assert uri == path + "?is_ondemand_resource=false&limit=100&offset=0&sort_dir=desc&state=FAILED%2CSUCCEED"


def test_it_adds_a_trailing_slash_to_the_canonical_uri_only():
    assert huawei.canonical_uri("/v1/p/jobs") == "/v1/p/jobs/"
    assert huawei.canonical_uri("/v1/p/jobs/") == "/v1/p/jobs/"
    assert huawei.canonical_uri("/v1/p/a%20b") == "/v1/p/a%20b/"


def test_it_fills_in_a_fresh_sdk_date_when_none_is_given():
    signed = huawei.sign(
        method="GET", path="/v1/p", params={}, headers={"Host": HW_HOST}, access_key=HW_AK, secret_key=HW_SK
    )

    assert len(signed.headers["X-Sdk-Date"]) == len(HW_DATE)
    assert signed.headers["X-Sdk-Date"] != HW_DATE


huawei_values = st.one_of(texts, st.integers(-(10**12), 10**12), st.booleans(), st.lists(texts, max_size=3))
extra_headers = st.dictionaries(
    st.sampled_from(["X-App-UserId", "User-Agent", "X-Custom_Underscored", "Accept", "X-Security-Token"]),
    st.text(alphabet="abcXYZ 019-_.:;/=", max_size=20),
    max_size=3,
)
bodies = st.one_of(
    st.just((None, b"")),
    st.tuples(st.just("application/json"), st.binary(min_size=1, max_size=40)),
    st.tuples(st.just("application/json;charset=UTF-8"), st.binary(max_size=40)),
    st.tuples(st.just("application/octet-stream"), st.binary(min_size=1, max_size=40)),
)


@settings(max_examples=300, deadline=None)
@given(
    method=st.sampled_from(["GET", "POST", "PUT", "DELETE", "get"]),
    segments=st.lists(texts, min_size=1, max_size=5),
    trailing=st.booleans(),
    params=st.dictionaries(texts, huawei_values, max_size=6),
    extra=extra_headers,
    body=bodies,
)
def test_it_signs_huawei_requests_exactly_like_the_sdk(method, segments, trailing, params, extra, body):
    path = "/" + "/".join(quote(segment, safe="") for segment in segments) + ("/" if trailing else "")
    content_type, payload = body
    headers = {"Host": HW_HOST, "X-Project-Id": HW_PROJECT, "X-Sdk-Date": HW_DATE, **extra}
    if content_type:
        headers["Content-Type"] = content_type

    ours = ours_huawei(method, path, params, headers, payload)
    theirs = sdk_huawei(
        method, path, {k: (list(v) if isinstance(v, list) else v) for k, v in params.items()}, headers, payload
    )

    assert ours == theirs


# --- Tencent COS q-sign -----------------------------------------------------------------------


def sdk_cos(path, params, headers, url, now):
    config = CosConfig(Region="ap-guangzhou", SecretId=COS_ID, SecretKey=COS_KEY)
    prepared = requests.Request("GET", url, headers=headers).prepare()
    with mock.patch.object(cos_auth.time, "time", return_value=now):  # freeze the SDK's clock
        CosS3Auth(config, key=path, params=dict(params))(prepared)
    return prepared.headers["Authorization"]


def test_it_signs_the_tencent_vector():
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

    authorization = tencent.sign(
        method="GET",
        path="/ai_jobs",
        params=params,
        headers={"host": COS_HOST},
        secret_id=COS_ID,
        secret_key=COS_KEY,
        now=1700000000,
    )

    assert authorization == (
        "q-sign-algorithm=sha1&q-ak=AKIDEXAMPLE&q-sign-time=1699999940;1700010000&q-key-time=1699999940;1700010000"
        "&q-header-list=host&q-url-param-list=endcreationtime;nexttoken;orderbytime;queueid;size;startcreationtime;"
        "states;tag&q-signature=4380ae2c38cfbb9b7a597797b56f4fda3def0783"
    )


def test_it_encodes_plus_as_percent_2b():
    assert tencent.encode("2022-07-01T00:00:00+0800") == "2022-07-01T00%3A00%3A00%2B0800"
    assert tencent.encode("a b~") == "a%20b~"


def test_it_starts_the_sign_window_a_minute_early():
    authorization = tencent.sign(
        method="GET", path="/", params={}, headers={}, secret_id=COS_ID, secret_key=COS_KEY, now=1000, expire=600
    )

    assert "q-sign-time=940;1600&q-key-time=940;1600&" in authorization


def _unique_after_lowercase(params):
    # The SDK keeps params in a dict keyed by the encoded, lower-cased name: keys that collide
    # there would be signed differently by construction, so generate distinct ones.
    keys = [tencent.encode(k).lower() for k in params]
    return len(set(keys)) == len(keys)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(
    segments=st.lists(texts, min_size=0, max_size=4),
    params=st.dictionaries(texts, st.one_of(texts, st.integers(0, 10**9).map(str)), max_size=6).filter(
        _unique_after_lowercase
    ),
    token=st.one_of(st.just(""), st.text(alphabet="abcXYZ019-_.:+/=", min_size=1, max_size=30)),
    now=st.integers(100, 2_000_000_000),
)
def test_it_signs_tencent_requests_exactly_like_the_sdk(segments, params, token, now):
    path = "/" + "/".join(segments)
    url = f"https://{COS_HOST}" + quote(path, safe="/")
    sent_headers = {"x-ci-security-token": token} if token else {}
    signed_headers = {"host": COS_HOST, **sent_headers}

    ours = tencent.sign(
        method="GET", path=path, params=params, headers=signed_headers, secret_id=COS_ID, secret_key=COS_KEY, now=now
    )
    theirs = sdk_cos(path, params, sent_headers, url, now)

    assert ours == theirs


def test_it_signs_the_host_without_port_like_the_sdk():
    path, params = "/ai_jobs", {"tag": "Translation"}

    ours = tencent.sign(
        method="GET",
        path=path,
        params=params,
        headers={"host": "127.0.0.1"},
        secret_id=COS_ID,
        secret_key=COS_KEY,
        now=1700000000,
    )

    assert ours == sdk_cos(path, params, {}, "http://127.0.0.1:8123/ai_jobs?tag=Translation", 1700000000)
