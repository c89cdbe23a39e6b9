"""fakecloud fixtures (see tests/conftest.py).

- `fakecloud`: a fresh FakeCloudServer per test: 30 jobs per kind (so the fixed XSS names at
  indices 3 and 11 are there), seed 1, speed 0 (the virtual clock moves only with
  `fakecloud.advance(seconds)`), demo credentials. Faults, counters, added or removed jobs never
  leak into another test.
- `fakecloud_session`: one FakeCloudServer for the whole session: 200 jobs per kind, seed 2,
  speed 0. Cheaper, but shared: a test that changes it (clock, jobs) must undo what it did, or
  use `fakecloud` instead. Counters are reset before each test that asks for it; faults are
  cleared and the rate limit turned off after it.

Both yield a `fakecloud.testing.FakeCloudServer`: `.url`, `.huawei` (ak, sk, project_id,
token, region), `.tencent` (secret_id, secret_key, bucket, queue_id, region, token),
`.advance()`, `.set_fault()`, `.clear_faults()`, `.counters()`, `.reset_counters()`,
`.add_job()`, `.remove_job()`, `.set_state()`, `.short_job_ids()`, `.jobs(kind)`, `.job(kind, id)`.

Plain helpers (import them): `metastudio_client(server)` and `cos_client(server, via="proxy"|"ip")`
build the official SDK clients pointed at fakecloud; `huawei_request(server, method, path, params)`
and `cos_request(server, method, path, params)` send one raw request signed by the SDKs' own
signers (huaweicloudsdkcore's Signer, qcloud_cos's CosS3Auth), for tests that need the raw body.
"""

import pytest

from fakecloud.testing import FakeCloudServer


@pytest.fixture
def fakecloud():
    with FakeCloudServer(jobs=30, seed=1, speed=0) as server:
        yield server


@pytest.fixture(scope="session")
def _fakecloud_session_server():
    with FakeCloudServer(jobs=200, seed=2, speed=0) as server:
        yield server


@pytest.fixture
def fakecloud_session(_fakecloud_session_server):
    _fakecloud_session_server.reset_counters()
    yield _fakecloud_session_server
    _fakecloud_session_server.clear_faults()
    _fakecloud_session_server.set_rate_limit(None)


# --- clients built from the official SDKs (independent of fakecloud's own verifier) ---------


def metastudio_client(server, sk=None, ak=None):
    """huaweicloudsdkmetastudio's client, unchanged, pointed at fakecloud with an endpoint override."""
    from huaweicloudsdkcore.auth.credentials import BasicCredentials
    from huaweicloudsdkmetastudio.v1 import MetaStudioClient

    hw = server.huawei
    credentials = BasicCredentials(ak or hw["ak"], sk or hw["sk"], hw["project_id"])
    return MetaStudioClient.new_builder().with_credentials(credentials).with_endpoints([server.url]).build()


def cos_client(server, secret_key=None, via="proxy", token=None):
    """cos-python-sdk-v5's CosS3Client, unchanged: through fakecloud as an HTTP proxy (the SDK
    then sends absolute-URI requests for <bucket>.ci.<region>.myqcloud.com), or by IP and Port."""
    from urllib.parse import urlsplit

    from qcloud_cos import CosConfig, CosS3Client

    tc = server.tencent
    options = {
        "Region": tc["region"],
        "SecretId": tc["secret_id"],
        "SecretKey": secret_key or tc["secret_key"],
        "Scheme": "http",
        "Token": token,
    }
    if via == "proxy":
        options["Proxies"] = {"http": server.url}
    else:
        parts = urlsplit(server.url)
        options.update(IP=parts.hostname, Port=parts.port)
    return CosS3Client(CosConfig(**options), retry=0)


def huawei_request(
    server, method, path, params=(), body=b"", headers=None, sk=None, date=None, timeout=10, project=None
):
    """One raw request signed by huaweicloudsdkcore's Signer; `path` is below /v1/{project_id}."""
    from types import SimpleNamespace
    from urllib.parse import urlsplit

    import requests
    from huaweicloudsdkcore.sdk_request import SdkRequest
    from huaweicloudsdkcore.signer.signer import Signer

    hw = server.huawei
    header_params = {"X-Project-Id": hw["project_id"], "Content-Type": "application/json", **(headers or {})}
    if date:
        header_params["X-Sdk-Date"] = date
    request = SdkRequest(
        method=method,
        schema="http",
        host=urlsplit(server.url).netloc,
        resource_path=f"/v1/{project or hw['project_id']}{path}",
        query_params=list(params),
        header_params=header_params,
        body=body,
    )
    Signer(SimpleNamespace(ak=hw["ak"], sk=sk or hw["sk"])).sign(request)
    return requests.request(method, server.url + request.uri, headers=request.header_params, data=body, timeout=timeout)


def cos_request(server, method, path, params=None, body=b"", secret_key=None, timeout=10):
    """One raw request signed by qcloud_cos's CosS3Auth, in origin form."""
    import requests
    from qcloud_cos import CosConfig
    from qcloud_cos.cos_auth import CosS3Auth

    tc = server.tencent
    conf = CosConfig(
        Region=tc["region"], SecretId=tc["secret_id"], SecretKey=secret_key or tc["secret_key"], Scheme="http"
    )
    auth = CosS3Auth(conf, path, params=params or {})
    return requests.request(method, server.url + path, params=params, data=body, auth=auth, timeout=timeout)


def avatar_path():
    return "/digital-human-training-manage/user/jobs"


def voice_path():
    return "/voice-training-manage/user/jobs"
