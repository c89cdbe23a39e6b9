"""The rule kinds one by one (jobs.alerts), on hand-made caches: stuck, spike and assessment open
an alert once and resolve it when the condition ends (failed and stale: tests/test_alerts.py,
end to end over fakecloud)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from jobs import alerts
from jobs.alert_models import Alert, AlertChannel, AlertDelivery, AlertRule
from jobs.models import Job, SyncRun
from tests.fixtures_ui import METRICS, make_account, make_assessment, make_job

pytestmark = [pytest.mark.django_db, pytest.mark.db_sensitive]


@pytest.fixture
def hook_channel(db):
    c = AlertChannel(name="ops")
    c.set_url("json://127.0.0.1:9/hook")
    c.save()
    return c


def rule(when, channel, **fields):
    r = AlertRule.objects.create(name=f"{when} rule {AlertRule.objects.count()}", when=when, **fields)
    r.channels.set([channel])
    return r


def finished_run(account, kind, minutes_ago=1):
    return SyncRun.objects.create(
        account=account,
        kind=kind,
        started_at=timezone.now() - timedelta(minutes=minutes_ago),
        outcome=SyncRun.Outcome.SUCCEEDED,
    )


def test_a_stuck_job_opens_one_alert_and_resolves_when_it_moves(hook_channel):
    r = rule(AlertRule.When.STUCK, hook_channel)
    account = make_account()
    now = timezone.now()
    stuck = make_job(account, state="TRAINING", state_changed_at=now - timedelta(hours=100))  # limit 72 h
    make_job(account, state="TRAINING", state_changed_at=now - timedelta(hours=2))
    run = finished_run(account, "avatar_training")

    assert alerts.evaluate_run(run) == (1, 0)
    alert = Alert.objects.get(rule=r)
    assert alert.key == f"job:{stuck.pk}" and alert.title == f"Stuck: {stuck.name}"
    assert alerts.evaluate_run(run) == (0, 0)  # still stuck: nothing new

    Job.objects.filter(pk=stuck.pk).update(state="TRAIN_SUCCESS", state_changed_at=timezone.now())
    assert alerts.evaluate_run(run) == (0, 1)
    assert list(AlertDelivery.objects.order_by("id").values_list("event", flat=True)) == ["fired", "resolved"]


def test_a_spike_opens_at_its_threshold_within_its_window_and_resolves_below_it(hook_channel):
    r = rule(AlertRule.When.SPIKE, hook_channel, threshold=3, window_minutes=30)
    account, other = make_account(), make_account()
    now = timezone.now()
    failed = [make_job(account, state="TRAIN_FAILED", state_changed_at=now - timedelta(minutes=m)) for m in (5, 10)]
    make_job(account, state="TRAIN_FAILED", state_changed_at=now - timedelta(minutes=45))  # before the window
    make_job(other, state="TRAIN_FAILED", state_changed_at=now - timedelta(minutes=5))  # another account
    run = finished_run(account, "avatar_training")

    assert alerts.evaluate_run(run) == (0, 0)  # 2 of 3
    failed.append(make_job(account, state="TRAIN_FAILED", state_changed_at=now - timedelta(minutes=1)))
    assert alerts.evaluate_run(run) == (1, 0)
    assert Alert.objects.get(rule=r).key == f"spike:{account.pk}:avatar_training"
    assert alerts.evaluate_run(run) == (0, 0)

    Job.objects.filter(pk=failed[0].pk).update(state_changed_at=now - timedelta(hours=2))
    assert alerts.evaluate_run(run) == (0, 1)


def test_an_assessment_failing_k_metrics_opens_an_alert_and_one_failing_fewer_does_not(hook_channel):
    bad = sum(1 for _metric, _expected, _actual, status, _zh, _en in METRICS if status)  # out of range
    assert bad >= 1
    at_limit = rule(AlertRule.When.ASSESSMENT, hook_channel, threshold=bad)
    above = rule(AlertRule.When.ASSESSMENT, hook_channel, threshold=bad + 1)
    account = make_account()
    job = make_job(account, kind="voice_assessment", state="SUCCEED", synced_at=timezone.now())
    make_assessment(job)
    run = finished_run(account, "voice_assessment")

    assert alerts.evaluate_run(run) == (1, 0)
    alert = Alert.objects.get()
    assert alert.rule == at_limit and alert.title == f"Assessment failed {bad} of 6 metrics: {job.name}"
    assert not Alert.objects.filter(rule=above).exists()
    # A job the run did not write is not looked at again.
    Job.objects.filter(pk=job.pk).update(synced_at=timezone.now() - timedelta(hours=1))
    Alert.objects.all().delete()
    assert alerts.evaluate_run(run) == (0, 0)
