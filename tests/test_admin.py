from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from jobs.models import CloudAccount, Job, SyncRun
from jobs.providers.base import AuthError
from tests.fixtures_sync import StubProvider

pytestmark = pytest.mark.django_db

ADD_URL = "/admin/jobs/cloudaccount/add/"
SECRET = "sk-Very-Secret-Value-123456"


def huawei_post(**overrides):
    data = {
        "name": "hw-new",
        "provider": "huawei",
        "region": "cn-north-4",
        "endpoint": "",
        "project_id": "0123456789abcdef0123456789abcdef",
        "bucket": "",
        "queue_id": "",
        "list_path": "/ai_jobs",
        "access_key_id": "AKNEW000000",
        "secret_key": SECRET,
        "token": "",
        "kinds": ["avatar_training", "voice_training"],
        "enabled": "on",
        "sync_interval": "300",
        "active_sync_interval": "60",
        "full_sync_interval": "21600",
        "max_rps": "",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def change_url(account):
    return f"/admin/jobs/cloudaccount/{account.pk}/change/"


def test_it_stores_a_new_secret_encrypted(admin_client):
    response = admin_client.post(ADD_URL, huawei_post())

    assert response.status_code == 302, response.content.decode()[:2000]
    account = CloudAccount.objects.get(name="hw-new")
    assert account.get_secret_key() == SECRET
    assert SECRET not in account.secret_key_encrypted
    assert account.kinds == ["avatar_training", "voice_training"]


def test_it_never_renders_a_secret_back(admin_client, huawei_account):
    huawei_account.set_token("tok-Secret-Token-987654")
    huawei_account.save()

    html = admin_client.get(change_url(huawei_account)).content.decode()

    assert "sk-super-secret-value" not in html
    assert "tok-Secret-Token-987654" not in html
    assert huawei_account.secret_key_encrypted not in html
    assert "Currently set" in html
    assert 'name="clear_secret_key"' in html


def test_it_keeps_the_secret_when_the_field_is_left_blank(admin_client, huawei_account):
    response = admin_client.post(change_url(huawei_account), huawei_post(name="hw-main", secret_key=""))

    assert response.status_code == 302
    huawei_account.refresh_from_db()
    assert huawei_account.get_secret_key() == "sk-super-secret-value"


def test_it_replaces_and_clears_secrets(admin_client, huawei_account):
    admin_client.post(change_url(huawei_account), huawei_post(name="hw-main", secret_key="new-one-abc", token="tok-1"))
    huawei_account.refresh_from_db()
    assert huawei_account.get_secret_key() == "new-one-abc" and huawei_account.get_token() == "tok-1"

    response = admin_client.post(
        change_url(huawei_account), huawei_post(name="hw-main", secret_key="", clear_secret_key="on")
    )

    assert response.status_code == 302
    huawei_account.refresh_from_db()
    assert huawei_account.secret_key_encrypted == "" and huawei_account.get_token() == "tok-1"


@pytest.mark.parametrize(
    "overrides, field",
    [
        ({"project_id": "not a project!"}, "project_id"),
        ({"project_id": ""}, "project_id"),
        ({"region": "Nowhere 1"}, "region"),
        ({"endpoint": "http://user:pw@127.0.0.1:8765/path"}, "endpoint"),
        ({"secret_key": ""}, "secret_key"),
        ({"kinds": ["translation"]}, "kinds"),
        (
            {
                "provider": "tencent",
                "region": "ap-guangzhou",
                "project_id": "",
                "bucket": "NoAppId",
                "queue_id": "p1",
                "kinds": [],
            },
            "bucket",
        ),
    ],
)
def test_it_rejects_invalid_settings(admin_client, overrides, field):
    response = admin_client.post(ADD_URL, huawei_post(**overrides))

    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert field in errors, errors
    assert not CloudAccount.objects.filter(name="hw-new").exists()


def test_it_accepts_a_tencent_account(admin_client):
    data = huawei_post(
        name="ci-new",
        provider="tencent",
        region="ap-guangzhou",
        project_id="",
        bucket="media-1250000000",
        queue_id="p893bcda225bf4945a378da6662e81a89",
        list_path="/jobs",
        kinds=["translation"],
    )

    response = admin_client.post(ADD_URL, data)

    assert response.status_code == 302, response.context["adminform"].form.errors
    assert CloudAccount.objects.get(name="ci-new").list_path == "/jobs"


def test_it_tests_a_connection_with_one_call(admin_client, huawei_account, monkeypatch):
    stub = StubProvider()
    monkeypatch.setattr("jobs.admin.get_provider", lambda account, **kw: stub)

    response = admin_client.post(
        "/admin/jobs/cloudaccount/",
        {"action": "test_connection", "_selected_action": [huawei_account.pk], "index": 0},
        follow=True,
    )

    assert "hw-main: connection works (ok: 3 jobs)" in response.content.decode().lower()
    assert stub.api_calls == 1


def test_it_reports_a_failed_connection_without_the_secret(admin_client, huawei_account, monkeypatch):
    class Failing(StubProvider):
        def check_connection(self):
            raise AuthError("signature mismatch for sk-super-secret-value", code="APIGW.0301", status=401)

    monkeypatch.setattr("jobs.admin.get_provider", lambda account, **kw: Failing())

    response = admin_client.post(
        "/admin/jobs/cloudaccount/",
        {"action": "test_connection", "_selected_action": [huawei_account.pk], "index": 0},
        follow=True,
    )

    html = response.content.decode()
    assert "hw-main: test failed" in html.lower() and "signature mismatch" in html
    assert "sk-super-secret-value" not in html


def test_it_queues_a_sync_from_the_admin(admin_client, huawei_account, monkeypatch):
    monkeypatch.setattr("jobs.tasks.sync_account.apply_async", lambda **kw: None)

    response = admin_client.post(
        "/admin/jobs/cloudaccount/",
        {"action": "sync_now", "_selected_action": [huawei_account.pk], "index": 0},
        follow=True,
    )

    assert "3 sync runs queued." in response.content.decode()
    assert SyncRun.objects.filter(account=huawei_account, outcome="queued").count() == 3


def make_jobs(account, n):
    now = timezone.now()
    Job.objects.bulk_create(
        Job(account=account, kind="avatar_training", remote_id=f"j{i}", name=f"job {i}", created_at=now, updated_at=now)
        for i in range(n)
    )


@pytest.mark.parametrize("url", ["/admin/jobs/job/", "/admin/jobs/jobevent/", "/admin/jobs/syncrun/"])
def test_it_never_counts_a_whole_cache_table(admin_client, huawei_account, url):
    make_jobs(huawei_account, 60)

    with CaptureQueriesContext(connection) as ctx:
        response = admin_client.get(url)

    assert response.status_code == 200
    counts = [q["sql"] for q in ctx.captured_queries if "COUNT(" in q["sql"].upper()]
    cache_counts = [sql for sql in counts if any(t in sql for t in ('"jobs_job"', '"jobs_jobevent"', '"jobs_syncrun"'))]
    assert cache_counts and all("LIMIT" in sql.upper() for sql in cache_counts), cache_counts


def test_it_shows_jobs_read_only(admin_client, huawei_account):
    make_jobs(huawei_account, 1)
    job = Job.objects.get()

    page = admin_client.get(f"/admin/jobs/job/{job.pk}/change/")
    post = admin_client.post(f"/admin/jobs/job/{job.pk}/change/", {"name": "changed"})

    assert page.status_code == 200 and 'name="_save"' not in page.content.decode()
    assert post.status_code == 403
    assert admin_client.get("/admin/jobs/job/add/").status_code == 403


def test_it_lists_the_dispatcher_schedule(admin_client):
    html = admin_client.get("/admin/django_celery_beat/periodictask/").content.decode()

    assert "Dispatch due syncs" in html


def test_it_tests_a_real_connection_with_one_signed_call(admin_client, fakecloud, fc_accounts):
    hw, _ = fc_accounts
    fakecloud.reset_counters()

    response = admin_client.post(
        "/admin/jobs/cloudaccount/",
        {"action": "test_connection", "_selected_action": [hw.pk], "index": 0},
        follow=True,
    )

    html = response.content.decode()
    assert "fc-huawei: connection works" in html.lower()
    counters = fakecloud.counters()
    calls = sum(v for k, v in counters.items() if "." in k and not k.endswith("auth_failures"))
    assert calls == 1 and counters["auth_failures"] == 0
    assert fakecloud.huawei["sk"] not in html


IAM_PASSWORD = "Iam-Passw0rd-Very-Secret"


def iam_post(**overrides):
    iam = {
        "access_key_id": "",
        "secret_key": "",
        "iam_domain": "ops-domain",
        "iam_user": "ops-bot",
        "iam_password": IAM_PASSWORD,
    }
    return huawei_post(**{**iam, **overrides})


def test_a_huawei_account_can_use_an_iam_user_whose_password_is_write_only(admin_client):
    response = admin_client.post(ADD_URL, iam_post())

    assert response.status_code == 302, response.content.decode()[:2000]
    account = CloudAccount.objects.get(name="hw-new")
    assert (account.iam_domain, account.iam_user, account.get_iam_password()) == ("ops-domain", "ops-bot", IAM_PASSWORD)
    assert IAM_PASSWORD not in account.iam_password_encrypted and not account.has_secret_key

    html = admin_client.get(change_url(account)).content.decode()
    assert IAM_PASSWORD not in html and account.iam_password_encrypted not in html
    assert 'name="clear_iam_password"' in html and "IAM user" in html

    account.store_iam_token("MIItoken-of-the-old-user", timezone.now() + timedelta(hours=20))
    response = admin_client.post(change_url(account), iam_post(name="hw-new", iam_password="", iam_user="other"))
    assert response.status_code == 302
    account.refresh_from_db()
    # The password is kept, the token fetched for the previous user is not.
    assert account.get_iam_password() == IAM_PASSWORD and account.get_iam_token() == ("", None)


@pytest.mark.parametrize(
    "overrides, field",
    [
        ({"iam_password": ""}, "iam_password"),
        ({"iam_domain": ""}, "iam_domain"),
        ({"iam_endpoint": "ftp://iam.example.com"}, "iam_endpoint"),
        ({"iam_endpoint": "http://127.0.0.1:9/v3"}, "iam_endpoint"),
    ],
)
def test_an_incomplete_iam_user_is_refused_on_its_field(admin_client, overrides, field):
    response = admin_client.post(ADD_URL, iam_post(**overrides))

    assert response.status_code == 200
    assert field in response.context["adminform"].form.errors
    assert not CloudAccount.objects.filter(name="hw-new").exists()
