"""MetaStudio with an IAM user instead of AK/SK: the provider gets a project-scoped token from
IAM (POST /v3/auth/tokens), sends it as X-Auth-Token, keeps it until shortly before it expires,
and gets a new one when the vendor refuses a kept one. Over real HTTP against fakecloud."""

from datetime import UTC, datetime, timedelta

import orjson
import pytest

from jobs.models import CloudAccount, Job, SyncRun
from jobs.providers import get_provider, huawei
from jobs.providers.base import AuthError, ConfigError, ResponseError
from jobs.providers.huawei import HuaweiProvider, IamPassword, TokenStore


class MemoryStore(TokenStore):
    def __init__(self, token="", expires_at=None):
        self.token, self.expires_at, self.saved = token, expires_at, 0

    def load(self):
        return self.token, self.expires_at

    def save(self, token, expires_at):
        self.token, self.expires_at, self.saved = token, expires_at, self.saved + 1


def iam_of(fc, **overrides):
    hw = fc.huawei
    values = {"domain": hw["iam_domain"], "user": hw["iam_user"], "password": hw["iam_password"], "endpoint": fc.url}
    values.update(overrides)
    return IamPassword(**values)


def provider(fc, store=None, **iam_overrides):
    return HuaweiProvider(
        region=fc.huawei["region"],
        project_id=fc.huawei["project_id"],
        endpoint=fc.url,
        iam=iam_of(fc, **iam_overrides),
        token_store=store,
        http_options={"sleep": lambda s: None},
    )


def test_the_token_request_is_the_documented_password_body_scoped_to_the_project():
    body = orjson.loads(huawei.token_request_body(IamPassword("dom", "usr", "pw"), "0123abcd"))

    assert body == {
        "auth": {
            "identity": {
                "methods": ["password"],
                "password": {"user": {"name": "usr", "password": "pw", "domain": {"name": "dom"}}},
            },
            "scope": {"project": {"id": "0123abcd"}},
        }
    }
    assert "pw" not in repr(IamPassword("dom", "usr", "pw"))


def test_a_token_answer_gives_the_header_token_and_the_body_expiry():
    token, expires = huawei.parse_token_response(
        {"X-Subject-Token": "MIItok"}, b'{"token": {"expires_at": "2026-11-23T03:00:00.123000Z"}}'
    )
    assert token == "MIItok" and expires == datetime(2026, 11, 23, 3, 0, 0, 123000, tzinfo=UTC)
    with pytest.raises(ResponseError, match="X-Subject-Token"):
        huawei.parse_token_response({}, b'{"token": {"expires_at": "2026-11-23T03:00:00Z"}}')
    with pytest.raises(ResponseError, match="expires_at"):
        huawei.parse_token_response({"X-Subject-Token": "MIItok"}, b'{"token": {}}')


def test_the_iam_endpoint_is_regional_unless_overridden():
    assert huawei.iam_endpoint_for("cn-north-4") == "https://iam.cn-north-4.myhuaweicloud.com"
    assert huawei.iam_endpoint_for("cn-north-4", "http://127.0.0.1:8765/") == "http://127.0.0.1:8765"
    with pytest.raises(ConfigError, match="IAM endpoint"):
        huawei.iam_endpoint_for("cn-north-4", "http://127.0.0.1:8765/v3")
    with pytest.raises(ConfigError, match="IAM user"):
        HuaweiProvider(region="cn-north-4", project_id="p1", iam=IamPassword("", "u", "pw"))


def test_it_lists_with_one_token_for_every_call(fakecloud):
    store = MemoryStore()
    p = provider(
        fakecloud,
        store,
    )

    jobs = sum(len(page.records) for page in p.iter_pages("avatar_training"))
    p.check_connection()

    counters = fakecloud.counters()
    assert jobs == 30 and counters["iam.token"] == 1 and counters.get("auth_failures", 0) == 0
    assert store.saved == 1 and store.token.startswith("MII")
    assert store.expires_at - datetime.fromtimestamp(fakecloud.now_ms() / 1000, UTC) == timedelta(hours=24)


def test_a_kept_token_is_used_until_it_nears_expiry(fakecloud):
    first = MemoryStore()
    provider(fakecloud, first).check_connection()
    fakecloud.reset_counters()

    provider(fakecloud, MemoryStore(first.token, first.expires_at)).check_connection()
    assert fakecloud.counters().get("iam.token", 0) == 0  # still valid: no IAM call

    nearly = MemoryStore(first.token, datetime.now(UTC) + timedelta(minutes=30))
    provider(fakecloud, nearly).check_connection()
    assert fakecloud.counters()["iam.token"] == 1 and nearly.token != first.token


def test_a_refused_kept_token_is_replaced_once(fakecloud):
    first = MemoryStore()
    provider(fakecloud, first).check_connection()
    fakecloud.expire_tokens()  # revoked or expired early at the vendor
    fakecloud.reset_counters()
    store = MemoryStore(first.token, first.expires_at)

    summary = provider(fakecloud, store).check_connection()

    assert "30 avatar" in summary
    counters = fakecloud.counters()
    assert counters["iam.token"] == 1 and counters["auth_failures"] == 1 and store.token != first.token


def test_a_wrong_password_is_one_clear_auth_error_without_the_password(fakecloud):
    p = provider(fakecloud, password="Wrong-Passw0rd-123")

    with pytest.raises(AuthError) as caught:
        p.check_connection()

    assert caught.value.status == 401 and "password is wrong" in caught.value.message
    assert "Wrong-Passw0rd-123" not in str(caught.value)
    assert fakecloud.counters()["iam.token"] == 1  # no retry storm, no MetaStudio call
    assert fakecloud.counters().get("avatar.list", 0) == 0


def test_an_iam_outage_is_retried_like_any_transient_failure(fakecloud):
    fakecloud.set_fault("error", op="iam.token", count=1, status=503)

    provider(fakecloud).check_connection()

    assert fakecloud.counters()["iam.token"] == 2


@pytest.mark.django_db
def test_a_sync_keeps_the_fetched_token_encrypted_on_the_account_for_the_next_one(fakecloud):
    hw = fakecloud.huawei
    account = CloudAccount(
        name="hw-iam",
        provider="huawei",
        region=hw["region"],
        endpoint=fakecloud.url,
        project_id=hw["project_id"],
        iam_domain=hw["iam_domain"],
        iam_user=hw["iam_user"],
        iam_endpoint=fakecloud.url,
        kinds=["avatar_training"],
    )
    account.set_iam_password(hw["iam_password"])
    account.save()
    from jobs import sync

    run = sync.sync_account_kind(account, "avatar_training")

    assert run.outcome == SyncRun.Outcome.SUCCEEDED and Job.objects.count() == 30
    account.refresh_from_db()
    token, expires = account.get_iam_token()
    assert token.startswith("MII") and token not in account.iam_token_encrypted and expires is not None
    fakecloud.reset_counters()

    again = sync.sync_account_kind(CloudAccount.objects.get(pk=account.pk), "avatar_training")

    assert again.outcome == SyncRun.Outcome.SUCCEEDED
    assert fakecloud.counters().get("iam.token", 0) == 0  # the kept token served the whole sync
    assert get_provider(account)._iam_token == ""  # nothing fetched just by building a client
