"""Huawei IAM password tokens: issuance, their use on MetaStudio, expiry, errors, faults."""

from datetime import UTC, datetime, timedelta

import pytest
import requests

from fakecloud.testing import FakeCloudProcess, FakeCloudServer
from tests.fixtures_fakecloud import avatar_path, huawei_request

DAY = 24 * 3600


def _body(server, **changes):
    hw = server.huawei
    user = {"name": hw["iam_user"], "password": hw["iam_password"], "domain": {"name": hw["iam_domain"]}}
    user.update({k: v for k, v in changes.items() if k in ("name", "password", "domain")})
    project = changes.get("project", {"id": hw["project_id"]})
    methods = changes.get("methods", ["password"])
    return {"auth": {"identity": {"methods": methods, "password": {"user": user}}, "scope": {"project": project}}}


def _issue(server, body=None, query="?nocatalog=true"):
    return requests.post(server.url + "/v3/auth/tokens" + query, json=body or _body(server), timeout=10)


def _token(server):
    response = _issue(server)
    assert response.status_code == 201, response.text
    return response.headers["X-Subject-Token"]


def _list_avatars(server, token):
    url = f"{server.url}/v1/{server.huawei['project_id']}{avatar_path()}"
    return requests.get(url, params={"limit": 10, "offset": 0}, headers={"X-Auth-Token": token}, timeout=10)


def _at(text):
    assert text.endswith("Z") and "." in text
    return datetime.fromisoformat(text[:-1]).replace(tzinfo=UTC)


def test_it_issues_a_token_in_the_x_subject_token_header(fakecloud):
    now = datetime.fromtimestamp(fakecloud.now_ms() / 1000, UTC)
    response = _issue(fakecloud)
    hw = fakecloud.huawei
    assert response.status_code == 201
    assert response.headers["X-Request-Id"]
    token = response.headers["X-Subject-Token"]
    assert token.startswith("MII") and len(token) >= 200
    body = response.json()["token"]
    assert body["methods"] == ["password"]
    assert body["project"] == {"id": hw["project_id"], "name": hw["region"]}
    assert body["user"] == {"name": "demo-ops", "domain": {"name": "demo-domain"}}
    assert "catalog" not in body
    assert _at(body["issued_at"]) == now
    assert _at(body["expires_at"]) == now + timedelta(seconds=DAY)
    assert _issue(fakecloud).headers["X-Subject-Token"] != token
    assert fakecloud.counters()["iam.token"] == 2


def test_it_adds_a_catalog_unless_nocatalog_is_true(fakecloud):
    catalog = _issue(fakecloud, query="").json()["token"]["catalog"]
    assert catalog[0]["endpoints"][0]["url"] == fakecloud.url


def test_an_issued_token_lists_avatar_jobs_without_a_signature(fakecloud):
    response = _list_avatars(fakecloud, _token(fakecloud))
    assert response.status_code == 200, response.text
    assert response.json()["count"] == len(fakecloud.jobs("avatar"))
    assert len(response.json()["jobs"]) == 10


def test_an_unknown_token_cannot_be_decrypted(fakecloud):
    response = _list_avatars(fakecloud, "MII" + "A" * 250)
    assert response.status_code == 401
    assert response.json()["error_code"] == "APIGW.0301"
    assert response.json()["error_msg"] == "Incorrect IAM authentication information: decrypt token fail"


@pytest.mark.parametrize(
    "change",
    [
        {"password": "wrong"},
        {"name": "someone-else"},
        {"domain": {"name": "other-domain"}},
    ],
)
def test_it_refuses_a_wrong_user_password_or_domain(fakecloud, change):
    response = _issue(fakecloud, _body(fakecloud, **change))
    assert response.status_code == 401
    assert response.json() == {
        "error": {"code": 401, "message": "The username or password is wrong.", "title": "Unauthorized"}
    }
    assert response.headers["X-Request-Id"]
    assert "X-Subject-Token" not in response.headers
    counters = fakecloud.counters()
    assert counters["iam.token"] == 1
    assert counters["auth_failures"] == 1 and counters["iam.auth_failures"] == 1


def test_it_scopes_to_the_region_name_and_refuses_other_projects(fakecloud):
    by_name = _issue(fakecloud, _body(fakecloud, project={"name": "cn-north-4"}))
    assert by_name.status_code == 201
    assert _list_avatars(fakecloud, by_name.headers["X-Subject-Token"]).status_code == 200
    for project in ({"id": "ffffffffffffffffffffffffffffffff"}, {"name": "cn-east-3"}):
        response = _issue(fakecloud, _body(fakecloud, project=project))
        assert response.status_code == 401
        assert response.json() == {
            "error": {
                "code": 401,
                "title": "Unauthorized",
                "message": "The project does not exist or is not accessible.",
            }
        }


@pytest.mark.parametrize(
    "body",
    [
        b"{",
        b"[]",
        b'{"auth": {}}',
        {"auth": {"identity": {"methods": ["password"]}, "scope": {"project": {"name": "cn-north-4"}}}},
    ],
)
def test_it_answers_a_malformed_body_with_400(fakecloud, body):
    if isinstance(body, bytes):
        response = requests.post(
            fakecloud.url + "/v3/auth/tokens", data=body, headers={"Content-Type": "application/json"}, timeout=10
        )
    else:
        response = _issue(fakecloud, body)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == 400 and error["title"] == "Bad Request" and error["message"]


@pytest.mark.parametrize(
    "changes",
    [
        {"methods": ["token"]},
        {"methods": ["password", "totp"]},
        {"password": ""},
        {"project": {}},
    ],
)
def test_it_wants_password_method_fields_and_a_scope(fakecloud, changes):
    response = _issue(fakecloud, _body(fakecloud, **changes))
    assert response.status_code == 400
    assert response.json()["error"]["title"] == "Bad Request"
    assert fakecloud.counters()["iam.auth_failures"] == 0


def test_a_token_expires_after_24_virtual_hours(fakecloud):
    token = _token(fakecloud)
    fakecloud.advance(DAY - 1)
    assert _list_avatars(fakecloud, token).status_code == 200
    fakecloud.advance(2)
    response = _list_avatars(fakecloud, token)
    assert response.status_code == 401
    assert response.json()["error_code"] == "APIGW.0301"
    assert response.json()["error_msg"] == "Incorrect IAM authentication information: token expires"
    assert response.json()["request_id"] == response.headers["X-Request-Id"]
    assert _list_avatars(fakecloud, _token(fakecloud)).status_code == 200


def test_expire_tokens_ends_every_issued_token_at_once(fakecloud):
    first, second = _token(fakecloud), _token(fakecloud)
    assert fakecloud.expire_tokens() == 2
    for token in (first, second):
        assert _list_avatars(fakecloud, token).json()["error_msg"].endswith("token expires")
    assert fakecloud.counters()["huawei.auth_failures"] == 2
    assert _list_avatars(fakecloud, _token(fakecloud)).status_code == 200
    assert fakecloud.expire_tokens() == 1


def test_the_static_token_and_signatures_still_work_beside_issued_tokens(fakecloud):
    assert huawei_request(fakecloud, "GET", avatar_path()).status_code == 200
    with FakeCloudServer(jobs=3, huawei_token="MIIstatic") as server:
        server.expire_tokens()
        assert _list_avatars(server, "MIIstatic").status_code == 200
        assert _list_avatars(server, _token(server)).status_code == 200


def test_faults_target_iam_token(fakecloud):
    fakecloud.set_fault("error", op="iam.token", count=1, status=503)
    failed = _issue(fakecloud)
    assert failed.status_code == 503 and failed.json()["error_code"] == "APIGW.0202"
    assert "X-Subject-Token" not in failed.headers
    assert _issue(fakecloud).status_code == 201
    fakecloud.set_fault("throttle", op="iam", count=1, retry_after=2)
    throttled = _issue(fakecloud)
    assert throttled.status_code == 429 and throttled.headers["Retry-After"] == "2"
    assert fakecloud.counters()["iam.token"] == 3
    # "huawei" means MetaStudio: its faults leave IAM alone
    fakecloud.set_fault("error", op="huawei", status=500)
    assert _issue(fakecloud).status_code == 201


def test_state_shows_the_iam_user_but_never_the_password(fakecloud):
    state = fakecloud.state()
    assert state["huawei"]["iam_user"] == "demo-ops" and state["huawei"]["iam_domain"] == "demo-domain"
    assert "FakeDemoIamPassw0rd!" not in str(state)


def test_a_process_exposes_iam_credentials_with_the_password_from_the_environment():
    password = "EnvIamPassw0rd-not-in-argv"
    with FakeCloudProcess(jobs=3, huawei_iam_user="env-user", huawei_iam_password=password) as fc:
        assert password not in " ".join(fc._args)
        assert fc.huawei["iam_user"] == "env-user"
        assert fc.huawei["iam_domain"] == "demo-domain"
        assert fc.huawei["iam_password"] == password
        token = _token(fc)
        assert _list_avatars(fc, token).status_code == 200
        assert fc.expire_tokens() == 1
        assert _list_avatars(fc, token).status_code == 401
        assert fc.counters()["iam.token"] == 1
