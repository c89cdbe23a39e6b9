"""Operating the lease: syncjobs' exit status when skipped, releaselease, the admin action."""

import io
import subprocess
import sys
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from jobs.models import CloudAccount, SyncRun
from jobs.sync.lease import claim_lease
from tests.fixtures_stack import ROOT, base_env, manage

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/jobs/cloudaccount/"


def _held(account, seconds=600):
    lease = claim_lease(account.pk, "a-dead-worker", ttl=seconds)
    assert lease is not None
    run = SyncRun.objects.create(account=account, kind="avatar_training", outcome=SyncRun.Outcome.RUNNING)
    return lease, run


def test_syncjobs_exits_75_when_another_sync_holds_the_lease(tmp_path):
    env = base_env(tmp_path)
    manage(env, "migrate", "--noinput", "-v0")
    manage(
        env,
        "shell",
        "-c",
        "from django.utils import timezone; from datetime import timedelta; "
        "from jobs.models import CloudAccount as A; "
        "A.objects.create(name='busy', provider='huawei', region='cn-north-4', project_id='p', "
        "lease_owner='other', lease_until=timezone.now() + timedelta(minutes=5))",
    )
    result = subprocess.run(
        [sys.executable, "manage.py", "syncjobs", "--account", "busy"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 75, result.stdout + result.stderr
    assert "skipped" in result.stdout and "try again later" in result.stderr


def test_syncjobs_still_exits_1_when_a_run_failed_and_another_was_skipped(huawei_account, monkeypatch):
    from tests.fixtures_sync import StubProvider, transport_error

    stub = StubProvider()
    stub.fail_on_page = ("avatar_training", 0, transport_error())
    monkeypatch.setattr("jobs.sync.runs.get_provider", lambda account: stub)
    other = CloudAccount.objects.create(name="busy", provider="huawei", region="cn-north-4", project_id="p")
    claim_lease(other.pk, "someone", ttl=600)
    with pytest.raises(CommandError) as raised:
        call_command("syncjobs", stdout=io.StringIO())
    assert raised.value.returncode == 1


def test_releaselease_frees_a_held_lease_and_closes_its_runs(huawei_account):
    lease, run = _held(huawei_account)
    out = io.StringIO()

    call_command("releaselease", huawei_account.name, "--yes", stdout=out)

    huawei_account.refresh_from_db()
    assert huawei_account.lease_owner == "" and huawei_account.lease_until is None
    assert huawei_account.lease_token == lease.token + 1  # the old holder is fenced off
    run.refresh_from_db()
    assert run.outcome == SyncRun.Outcome.FAILED and run.error_code == "abandoned"
    assert "a-dead-worker" in out.getvalue() and "1 running run(s) closed" in out.getvalue()
    assert claim_lease(huawei_account.pk, "next") is not None  # the account can sync at once


def test_releaselease_asks_first(huawei_account, monkeypatch):
    _held(huawei_account)
    monkeypatch.setattr("sys.stdin.isatty", lambda: True)
    monkeypatch.setattr("builtins.input", lambda prompt: "n")
    with pytest.raises(CommandError, match="not released"):
        call_command("releaselease", huawei_account.name, stdout=io.StringIO())
    huawei_account.refresh_from_db()
    assert huawei_account.lease_owner == "a-dead-worker"

    monkeypatch.setattr("builtins.input", lambda prompt: "yes")
    call_command("releaselease", huawei_account.name, stdout=io.StringIO())
    huawei_account.refresh_from_db()
    assert huawei_account.lease_owner == ""


def test_releaselease_refuses_without_a_terminal_or_yes(huawei_account):
    _held(huawei_account)
    with pytest.raises(CommandError, match="--yes"):
        call_command("releaselease", huawei_account.name, stdout=io.StringIO())
    huawei_account.refresh_from_db()
    assert huawei_account.lease_owner == "a-dead-worker"


def test_releaselease_says_so_when_nothing_holds_it(huawei_account):
    CloudAccount.objects.filter(pk=huawei_account.pk).update(
        lease_owner="lapsed", lease_until=timezone.now() - timedelta(seconds=5)
    )
    out = io.StringIO()
    call_command("releaselease", huawei_account.name, stdout=out)
    assert "nothing to release" in out.getvalue()
    huawei_account.refresh_from_db()
    assert huawei_account.lease_owner == ""
    with pytest.raises(CommandError, match="no account named"):
        call_command("releaselease", "nope", "--yes", stdout=io.StringIO())


def test_admin_action_asks_then_releases(admin_client, huawei_account):
    lease, run = _held(huawei_account)
    form = {"action": "release_lease", "_selected_action": [huawei_account.pk]}

    page = admin_client.post(CHANGELIST, form)

    assert page.status_code == 200 and "Release the sync lease?" in page.text
    assert "held until" in page.text and 'name="confirmed"' in page.text
    huawei_account.refresh_from_db()
    assert huawei_account.lease_owner == "a-dead-worker"  # only asked

    done = admin_client.post(CHANGELIST, {**form, "confirmed": "yes"}, follow=True)

    assert "Released the sync lease of 1 account; 1 running run(s) closed." in done.text
    huawei_account.refresh_from_db()
    assert huawei_account.lease_owner == "" and huawei_account.lease_token == lease.token + 1
    run.refresh_from_db()
    assert run.outcome == SyncRun.Outcome.FAILED


def test_admin_shows_the_lease_state(admin_client, huawei_account):
    assert "free" in admin_client.get(f"{CHANGELIST}{huawei_account.pk}/change/").text
    _held(huawei_account)
    assert "held by a sync until" in admin_client.get(f"{CHANGELIST}{huawei_account.pk}/change/").text


def test_a_viewer_cannot_release_a_lease(client, huawei_account, viewer):
    viewer.is_staff = True
    viewer.save()
    client.force_login(viewer)
    _held(huawei_account)
    client.post(CHANGELIST, {"action": "release_lease", "_selected_action": [huawei_account.pk], "confirmed": "yes"})
    huawei_account.refresh_from_db()
    assert huawei_account.lease_owner == "a-dead-worker"
