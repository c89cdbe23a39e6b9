import io
import uuid
from datetime import timedelta

import pytest
from cryptography.fernet import Fernet
from django.contrib.auth.models import Group, User
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from jobs.alert_models import AlertChannel
from jobs.models import CloudAccount, Job, SyncRun
from tests.fixtures_sync import StubProvider, make_fakecloud_accounts, make_record, transport_error

pytestmark = [pytest.mark.django_db, pytest.mark.db_sensitive]

PROJECT = "0123456789abcdef0123456789abcdef"


def run(*args, stdin=None):
    out = io.StringIO()
    kwargs = {"stdout": out}
    if stdin is not None:
        kwargs["stdin"] = io.StringIO(stdin)
    call_command(*args, **kwargs)
    return out.getvalue()


def test_it_adds_an_account_with_the_secret_from_stdin():
    out = run(
        "addaccount",
        "prod-bj",
        "--provider",
        "huawei",
        "--project-id",
        PROJECT,
        "--access-key",
        "AK1",
        "--kinds",
        "avatar_training,voice_assessment",
        stdin="the-secret-key\n",
    )

    account = CloudAccount.objects.get(name="prod-bj")
    assert account.get_secret_key() == "the-secret-key"
    assert account.region == "cn-north-4"
    assert account.sync_kinds() == ["avatar_training", "voice_assessment"]
    assert "the-secret-key" not in out and "added prod-bj" in out


def test_it_adds_a_huawei_account_with_an_iam_user_whose_password_comes_from_stdin():
    out = run(
        "addaccount",
        "prod-iam",
        "--provider",
        "huawei",
        "--project-id",
        PROJECT,
        "--iam-domain",
        "dom",
        "--iam-user",
        "ops",
        "--iam-endpoint",
        "http://127.0.0.1:8765",
        stdin="Iam Passw0rd with spaces \n",
    )

    account = CloudAccount.objects.get(name="prod-iam")
    assert account.uses_iam and not account.has_secret_key
    assert (account.iam_domain, account.iam_user, account.iam_endpoint) == ("dom", "ops", "http://127.0.0.1:8765")
    assert account.get_iam_password() == "Iam Passw0rd with spaces"
    assert "Passw0rd" not in out
    with pytest.raises(CommandError, match="no IAM password"):
        run(
            "addaccount",
            "x",
            "--provider",
            "huawei",
            "--project-id",
            PROJECT,
            "--iam-domain",
            "dom",
            "--iam-user",
            "ops",
            stdin="",
        )


def test_it_adds_a_tencent_account():
    run(
        "addaccount",
        "ci-gz",
        "--provider",
        "tencent",
        "--region",
        "ap-guangzhou",
        "--bucket",
        "media-1250000000",
        "--queue-id",
        "p893bcda",
        "--list-path",
        "/jobs",
        "--access-key",
        "AKID1",
        stdin="sk\n",
    )

    account = CloudAccount.objects.get(name="ci-gz")
    assert (account.bucket, account.queue_id, account.list_path) == ("media-1250000000", "p893bcda", "/jobs")


def test_it_refuses_an_account_without_a_secret():
    with pytest.raises(CommandError, match="no secret key"):
        run("addaccount", "x", "--provider", "huawei", "--project-id", PROJECT, "--access-key", "AK", stdin="")

    assert not CloudAccount.objects.exists()


def test_it_refuses_invalid_settings():
    with pytest.raises(CommandError, match="bucket"):
        run(
            "addaccount",
            "x",
            "--provider",
            "tencent",
            "--bucket",
            "nobucket",
            "--queue-id",
            "q",
            "--access-key",
            "A",
            stdin="sk\n",
        )


def add_huawei(name, *extra):
    return run(
        "addaccount", name, "--provider", "huawei", "--project-id", PROJECT, "--access-key", "AK1", *extra, stdin="sk\n"
    )


def test_it_adds_an_account_with_its_request_budget():
    add_huawei("hw-budget", "--max-rps", "7.5")
    add_huawei("hw-default")

    assert CloudAccount.objects.get(name="hw-budget").max_rps == 7.5
    assert CloudAccount.objects.get(name="hw-default").max_rps is None  # half the vendor's documented rate


@pytest.mark.parametrize("rps", ["0", "-2"])
def test_it_refuses_a_request_budget_that_is_not_positive(rps):
    with pytest.raises(CommandError, match="invalid account: max_rps"):
        add_huawei("hw-budget", "--max-rps", rps)

    assert not CloudAccount.objects.exists()


def test_it_has_no_secret_option():
    with pytest.raises(CommandError):
        call_command("addaccount", "x", "--provider", "huawei", "--secret-key", "oops")


def test_it_syncs_in_the_foreground(huawei_account, monkeypatch):
    stub = StubProvider([make_record("avatar_training", i) for i in range(1, 4)])
    monkeypatch.setattr("jobs.sync.runs.get_provider", lambda account: stub)

    out = run("syncjobs", "--account", "hw-main", "--kind", "avatar_training")

    (line,) = out.splitlines()
    assert line.startswith("hw-main avatar_training: succeeded")
    assert "3 seen, 3 new" in line
    assert Job.objects.count() == 3


def test_it_lists_everything_with_full_even_after_a_recent_full_listing(fakecloud, settings):
    settings.SYNC_DETAIL_BUDGET = 0
    hw, _ = make_fakecloud_accounts(fakecloud.url, full_sync_interval=86400)
    args = ("syncjobs", "--account", hw.name, "--kind", "avatar_training")

    assert "avatar_training: succeeded (full)" in run(*args)  # a kind's first sync lists everything
    assert "avatar_training: succeeded (incremental)" in run(*args)  # then the recent full listing stands
    out = run(*args, "--full")

    assert "avatar_training: succeeded (full)" in out
    runs = list(SyncRun.objects.filter(account=hw, kind="avatar_training").order_by("pk"))
    assert [r.mode for r in runs] == ["full", "incremental", "full"]
    assert runs[-1].seen == len(fakecloud.jobs("avatar")) > 0


def test_it_prints_a_line_per_kind_and_fails_when_a_run_fails(huawei_account, monkeypatch):
    stub = StubProvider([make_record("voice_training", 1)])
    stub.fail_on_page = ("avatar_training", 0, transport_error())
    monkeypatch.setattr("jobs.sync.runs.get_provider", lambda account: stub)
    out = io.StringIO()

    with pytest.raises(CommandError, match="1 sync run"):
        call_command("syncjobs", stdout=out)

    lines = out.getvalue().splitlines()
    assert [line.split(":")[0] for line in lines] == [
        "hw-main avatar_training",
        "hw-main voice_training",
        "hw-main voice_assessment",
    ]
    assert "failed" in lines[0] and "APIGW.0308" in lines[0] and "rid-503" in lines[0]


def test_it_tracks_short_jobs(huawei_account):
    sj1, sj2, sj3 = sorted(str(uuid.uuid4()) for _ in range(3))
    out = run("trackjob", "hw-main", "voice_assessment", sj1, sj2)
    again = run("trackjob", "hw-main", "voice_assessment", sj2, sj3)

    assert "tracking 2 new" in out and "tracking 1 new job(s), 1 already" in again
    assert sorted(Job.objects.values_list("remote_id", flat=True)) == [sj1, sj2, sj3]


def test_it_refuses_ids_that_cannot_be_short_job_ids(huawei_account):
    with pytest.raises(CommandError, match="not short-job ids.*'not-an-id'"):
        run("trackjob", "hw-main", "voice_assessment", str(uuid.uuid4()), "not-an-id")
    assert not Job.objects.exists()


def test_it_refuses_to_track_for_a_tencent_account(tencent_account):
    with pytest.raises(CommandError, match="does not sync"):
        run("trackjob", "ci-main", "voice_assessment", "sj-1")


def test_it_rotates_credentials_to_the_first_key(settings, huawei_account):
    old = settings.CREDENTIALS_KEYS[0]
    new = Fernet.generate_key().decode()
    huawei_account.set_token("tok-123")
    huawei_account.iam_user = "ops"
    huawei_account.set_iam_password("iam-passw0rd")
    huawei_account.store_iam_token("MIIcached", timezone.now() + timedelta(hours=20))
    huawei_account.save()
    channel = AlertChannel(name="ops")
    channel.set_url("json://hooks.example.com/T0KEN")
    channel.save()
    settings.CREDENTIALS_KEYS = [new, old]

    out = run("rotatecredentials")

    assert "1 account" in out and "1 alert channel" in out
    settings.CREDENTIALS_KEYS = [new]
    assert AlertChannel.objects.get().get_url() == "json://hooks.example.com/T0KEN"
    account = CloudAccount.objects.get(pk=huawei_account.pk)
    assert account.get_secret_key() == "sk-super-secret-value" and account.get_token() == "tok-123"
    assert account.get_iam_password() == "iam-passw0rd" and account.get_iam_token()[0] == "MIIcached"


def test_it_changes_nothing_when_a_secret_cannot_be_decrypted(settings, huawei_account):
    before = huawei_account.secret_key_encrypted
    settings.CREDENTIALS_KEYS = [Fernet.generate_key().decode()]

    with pytest.raises(CommandError, match="cannot be decrypted"):
        run("rotatecredentials")

    assert CloudAccount.objects.get(pk=huawei_account.pk).secret_key_encrypted == before


def test_it_sets_up_the_demo_idempotently():
    for _ in range(2):
        run("demo_setup", "--fakecloud-url", "http://127.0.0.1:8765", "--no-track")

    assert User.objects.get(username="admin").is_superuser
    operator = User.objects.get(username="operator")
    viewer = User.objects.get(username="viewer")
    assert operator.check_password("operator") and operator.has_perm("jobs.trigger_sync")
    assert viewer.has_perm("jobs.view_job") and not viewer.has_perm("jobs.trigger_sync")
    assert Group.objects.filter(name__in=["viewer", "operator"]).count() == 2
    hw = CloudAccount.objects.get(name="demo-huawei")
    ci = CloudAccount.objects.get(name="demo-tencent")
    assert hw.endpoint == ci.endpoint == "http://127.0.0.1:8765"
    assert hw.has_secret_key and ci.has_secret_key
    assert PeriodicTask.objects.get(name="Dispatch due syncs").task == "jobs.dispatch_due_syncs"


def test_it_sets_up_demo_accounts_that_sync_from_a_fakecloud(fakecloud, settings):
    settings.SYNC_DETAIL_BUDGET = 0
    out = run("demo_setup", "--fakecloud-url", fakecloud.url)

    short_ids = fakecloud.short_job_ids()
    assert f"tracking {len(short_ids)} new short job(s)" in out
    hw = CloudAccount.objects.get(name="demo-huawei")
    assert set(hw.jobs.filter(kind="voice_assessment").values_list("remote_id", flat=True)) == set(short_ids)

    out = run("syncjobs", "--account", "demo-tencent")
    assert "demo-tencent translation: succeeded" in out
    assert Job.objects.filter(account__name="demo-tencent").count() == len(fakecloud.jobs("translation"))
