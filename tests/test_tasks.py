"""The thin Celery tasks, called in-process. The real worker and beat: tests/test_tasks_worker.py."""

from datetime import timedelta

import pytest
from django.utils import timezone

from jobs import tasks
from jobs.models import CloudAccount, Job, SyncRun
from jobs.providers.base import AuthError
from tests.fixtures_sync import StubProvider, make_record, transport_error

pytestmark = [pytest.mark.django_db, pytest.mark.db_sensitive]


@pytest.fixture
def sent(monkeypatch):
    calls = []
    monkeypatch.setattr(tasks.sync_account, "apply_async", lambda **kw: calls.append(kw))
    return calls


def test_it_dispatches_each_due_account_once_after_commit(
    huawei_account, tencent_account, sent, django_capture_on_commit_callbacks
):
    CloudAccount.objects.filter(pk=tencent_account.pk).update(last_sync_at=timezone.now())

    with django_capture_on_commit_callbacks(execute=True):
        tasks.dispatch_due_syncs()
        assert sent == []
    with django_capture_on_commit_callbacks(execute=True):
        tasks.dispatch_due_syncs()  # already enqueued: not again

    assert len(sent) == 1
    assert sent[0]["args"] == [huawei_account.pk]
    assert sent[0]["kwargs"] == {"trigger": "schedule"}
    assert sent[0]["expires"] == huawei_account.sync_interval


def test_it_dispatches_active_accounts_sooner(huawei_account, sent, django_capture_on_commit_callbacks):
    ago = timezone.now() - timedelta(seconds=90)
    CloudAccount.objects.filter(pk=huawei_account.pk).update(
        last_sync_at=ago, sync_enqueued_at=ago, has_active_jobs=False, sync_interval=300, active_sync_interval=60
    )
    with django_capture_on_commit_callbacks(execute=True):
        tasks.dispatch_due_syncs()
    assert sent == []

    CloudAccount.objects.filter(pk=huawei_account.pk).update(has_active_jobs=True)
    with django_capture_on_commit_callbacks(execute=True):
        tasks.dispatch_due_syncs()
    assert len(sent) == 1 and sent[0]["expires"] == 60


def test_it_runs_a_sync_and_fills_queued_runs(huawei_account, monkeypatch):
    stub = StubProvider([make_record("voice_training", 1)])
    monkeypatch.setattr("jobs.sync.runs.get_provider", lambda account: stub)
    queued = SyncRun.objects.create(account=huawei_account, kind="voice_training", outcome="queued")

    result = tasks.sync_account.apply(
        args=[huawei_account.pk], kwargs={"kinds": ["voice_training"], "trigger": "manual", "run_ids": [queued.pk]}
    ).get()

    assert result == [queued.pk]
    queued.refresh_from_db()
    assert queued.outcome == "succeeded" and Job.objects.count() == 1


def test_it_retries_a_transient_failure_a_bounded_number_of_times(huawei_account, monkeypatch):
    stub = StubProvider([make_record("avatar_training", 1)])
    stub.fail_on_page = ("avatar_training", 0, transport_error())
    monkeypatch.setattr("jobs.sync.runs.get_provider", lambda account: stub)

    tasks.sync_account.apply(args=[huawei_account.pk], kwargs={"kinds": ["avatar_training"]})

    runs = SyncRun.objects.filter(kind="avatar_training")
    assert runs.count() == 1 + tasks.MAX_RETRIES
    assert set(runs.values_list("outcome", flat=True)) == {"failed"}


def test_it_does_not_retry_bad_credentials(huawei_account, monkeypatch):
    stub = StubProvider([make_record("avatar_training", 1)])
    stub.fail_on_page = ("avatar_training", 0, AuthError("bad signature", code="APIGW.0301", status=401))
    monkeypatch.setattr("jobs.sync.runs.get_provider", lambda account: stub)

    tasks.sync_account.apply(args=[huawei_account.pk], kwargs={"kinds": ["avatar_training"]})

    assert SyncRun.objects.filter(kind="avatar_training").count() == 1
    assert stub.api_calls == 1


def test_it_drops_a_sync_of_a_deleted_account(huawei_account):
    pk = huawei_account.pk
    huawei_account.delete()

    assert tasks.sync_account.apply(args=[pk]).get() == []


def test_it_refreshes_one_job(huawei_account, monkeypatch):
    stub = StubProvider([make_record("voice_training", 1, state="PROCESSING")])
    monkeypatch.setattr("jobs.sync.runs.get_provider", lambda account: stub)
    from jobs import sync

    sync.sync_account_kind(huawei_account, "voice_training", provider=stub)
    stub.replace("voice_training", "vo-00001", state="SUCCEED")
    job = Job.objects.get()
    run = SyncRun.objects.create(account=huawei_account, kind="voice_training", outcome="queued", trigger="refresh")

    assert tasks.refresh_job.apply(args=[job.pk], kwargs={"run_id": run.pk}).get() == run.pk

    job.refresh_from_db()
    assert job.state == "SUCCEED"


def test_it_queues_a_manual_sync_after_commit(huawei_account, monkeypatch, django_capture_on_commit_callbacks):
    sent = []
    monkeypatch.setattr("jobs.tasks.sync_account.apply_async", lambda **kw: sent.append(kw))

    with django_capture_on_commit_callbacks(execute=True):
        runs = tasks.start_manual_sync(huawei_account, kinds=["voice_training"])
        assert sent == []

    assert [(r.kind, r.outcome) for r in runs] == [("voice_training", "queued")]
    assert sent[0]["args"] == [huawei_account.pk]
    assert sent[0]["kwargs"] == {"kinds": ["voice_training"], "trigger": "manual", "run_ids": [runs[0].pk]}
