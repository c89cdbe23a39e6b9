"""No secret of an account reaches the sync's log, its SyncRun rows or the account's last error,
even when a provider's error text quotes it (a vendor echoing a request, a bug in a client).

The provider here is the in-memory StubProvider: its errors carry the secrets verbatim, so only
the sync's own redaction (jobs.sync.errors.redact) stands between them and the log. Over real
HTTP the client redacts first (tests/test_http.py); the last test checks the two together."""

import json
import logging
from datetime import timedelta

import pytest
from django.utils import timezone

from jobs import sync
from jobs.models import CloudAccount, Job, SyncRun
from jobs.providers import get_provider
from jobs.providers.base import AuthError, NotFoundError, ProviderError, TransportError
from tests.fixtures_sync import StubProvider, make_record
from tests.http_stub import Reply, StubServer

pytestmark = pytest.mark.django_db

AV, VT, VA = "avatar_training", "voice_training", "voice_assessment"

SECRET_KEY = "sk-REDACT-ME-0001-secret-key"
TOKEN = "tok-REDACT-ME-0002-session"
IAM_PASSWORD = "pw-REDACT-ME-0003-iam"
IAM_TOKEN = "MIIiam-REDACT-ME-0004-token"
SECRETS = {"secret key": SECRET_KEY, "token": TOKEN, "IAM password": IAM_PASSWORD, "IAM token": IAM_TOKEN}
# A vendor error that quotes every secret (as an echo of the signed request would).
QUOTED = f"bad signature for {SECRET_KEY} with token {TOKEN}; IAM user pw={IAM_PASSWORD} X-Auth-Token: {IAM_TOKEN}"


@pytest.fixture
def account(db):
    account = CloudAccount(
        name="hw-secrets",
        provider="huawei",
        region="cn-north-4",
        project_id="0123456789abcdef0123456789abcdef",
        access_key_id="AKEXAMPLE0000000",
        iam_domain="corp",
        iam_user="ops",
        kinds=[AV, VT, VA],
        full_sync_interval=0,
    )
    account.set_secret_key(SECRET_KEY)
    account.set_token(TOKEN)
    account.set_iam_password(IAM_PASSWORD)
    account.save()
    account.store_iam_token(IAM_TOKEN, timezone.now() + timedelta(hours=12))
    return account


@pytest.fixture
def log(caplog):
    caplog.set_level(logging.DEBUG)
    return caplog


def assert_no_secret_anywhere(log, account):
    """Not in any log line (tracebacks included), SyncRun column or the account's error."""
    places = {
        "the log": log.text,
        "SyncRun rows": json.dumps(list(SyncRun.objects.values()), default=str),
        "the account's last error": CloudAccount.objects.get(pk=account.pk).last_error,
    }
    for where, text in places.items():
        for name, secret in SECRETS.items():
            assert secret not in text, f"the {name} is in {where}"


def provider(kind=AV, n=2):
    return StubProvider([make_record(kind, i) for i in range(1, n + 1)], page_size=1)


# Each case: what fails, the kind synced, how the error is planted, the outcome it gives.
CASES = {
    "a refused listing": (
        AV,
        lambda p: setattr(p, "fail_on_page", (AV, 0, AuthError(QUOTED, code="APIGW.0301", status=401))),
        "failed",
    ),
    "a listing stopped after a page": (
        AV,
        lambda p: setattr(p, "fail_on_page", (AV, 1, TransportError(QUOTED, status=503))),
        "partial",
    ),
    "an error code quoting a secret": (
        AV,
        lambda p: setattr(p, "fail_on_page", (AV, 0, ProviderError(QUOTED, code=TOKEN, permanent=True))),
        "failed",
    ),
    "a failed detail read": (
        VT,
        lambda p: p.fail_detail.update({"vo-00002": TransportError(QUOTED, status=500)}),
        "partial",
    ),
    "a failed read by id": (VA, lambda p: setattr(p, "fail_get", TransportError(QUOTED, status=502)), "failed"),
    "a crash in the listing": (AV, lambda p: setattr(p, "fail_on_page", (AV, 0, RuntimeError(QUOTED))), "failed"),
    "a crash in a detail read": (VT, lambda p: p.fail_detail.update({"vo-00001": ValueError(QUOTED)}), "partial"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_sync_whose_provider_error_quotes_the_secrets_logs_and_stores_them_redacted(log, account, case):
    kind, plant, outcome = CASES[case]
    p = provider(kind)
    if kind == VA:
        sync.track_jobs(account, VA, ["va-00001", "va-00002"])
    plant(p)

    run = sync.sync_account_kind(account, kind, provider=p)

    assert run.outcome == outcome
    assert "***" in run.error_message  # the error is recorded, its secrets replaced
    assert log.records, "the failure was logged"
    account.refresh_from_db()
    assert account.last_error
    assert_no_secret_anywhere(log, account)


@pytest.mark.parametrize(
    "error",
    [NotFoundError(QUOTED, status=404), TransportError(QUOTED), KeyError(QUOTED)],
    ids=["not found", "transport error", "crash"],
)
def test_a_refresh_whose_provider_error_quotes_the_secrets_logs_and_stores_them_redacted(log, account, error):
    p = provider(VT)
    sync.sync_account_kind(account, VT, provider=p)
    p.fail_get = error

    run = sync.refresh_job(Job.objects.get(remote_id="vo-00001"), provider=p)

    assert run.outcome == "failed" and "***" in run.error_message
    assert_no_secret_anywhere(log, account)


def test_a_vendor_error_body_quoting_the_secret_key_is_redacted_over_real_http(log, account):
    def metastudio(request):  # a gateway that echoes the request's signing key back
        body = {"error_code": "APIGW.0301", "error_msg": f"Incorrect IAM authentication information: {SECRET_KEY}"}
        return Reply(401, json.dumps(body), {"Content-Type": "application/json"})

    with StubServer(metastudio) as server:
        account.endpoint = server.url
        account.iam_user = account.iam_domain = ""  # sign with the key, no IAM
        account.save()
        runs = sync.sync_account(account, provider=get_provider(account, sleep=lambda s: None))

    assert [r.outcome for r in runs] == ["failed"] * 3
    assert runs[0].error_code == "APIGW.0301" and "***" in runs[0].error_message
    assert_no_secret_anywhere(log, account)
