"""Fixtures (see tests/conftest.py): users with roles, and a small factory that fills the
cache directly with model rows for view tests."""

import itertools
from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission, User
from django.utils import timezone

from jobs import selectors
from jobs.models import Assessment, AssessmentMetric, CloudAccount, Job, JobEvent, SyncRun
from jobs.status import unified_status

_seq = itertools.count(1)

METRICS = [
    # metric, expected, actual, status, suggestion (zh), suggestion_en
    ("speed", "[3.0, 5.0]", "4.2", 0, "语速合适", "The speech rate is fine."),
    (
        "sound",
        "[-30, -10]",
        "-42",
        1,
        "音量过低，请靠近麦克风",
        "The volume is too low; move closer to the microphone.",
    ),
    ("snr", ">= 20", "31.5", 0, "信噪比良好", "The signal-to-noise ratio is good."),
    (
        "reverb",
        "<= 0.5",
        "0.9",
        1,
        "混响过大，请在安静的小房间录音",
        "Too much reverberation; record in a small quiet room.",
    ),
    ("dnsmos_ovrl", ">= 3.0", "3.4", 0, "整体音质良好", "The overall quality is good."),
    ("dnsmos_bak", ">= 3.5", "3.9", 0, "背景噪声低", "Little background noise."),
]


def make_account(name=None, provider="huawei", **fields):
    n = next(_seq)
    defaults = {
        "name": name or f"account-{n}",
        "provider": provider,
        "region": "cn-north-4" if provider == "huawei" else "ap-beijing",
        "project_id": "0123456789abcdef0123456789abcdef" if provider == "huawei" else "",
        "bucket": "" if provider == "huawei" else "demo-1250000000",
    }
    defaults.update(fields)
    return CloudAccount.objects.create(**defaults)


def make_job(account, kind="avatar_training", state="TRAINING", name=None, updated_at=None, **fields):
    n = next(_seq)
    now = timezone.now()
    updated_at = updated_at or now - timedelta(minutes=n)
    defaults = {
        "remote_id": f"job-{n:06d}",
        "name": name if name is not None else f"Job {n}",
        "state": state,
        "status": unified_status(kind, state),
        "created_at": updated_at - timedelta(hours=1),
        "updated_at": updated_at,
        "state_changed_at": updated_at,
        "synced_at": now - timedelta(hours=1),
    }
    defaults.update(fields)
    if "tags" in defaults and "tags_text" not in fields:
        defaults["tags_text"] = "|" + "|".join(defaults["tags"]) + "|" if defaults["tags"] else ""
    return Job.objects.create(account=account, kind=kind, **defaults)


def make_event(job, occurred_at, to_state="", action="", source=JobEvent.Source.OPLOG, **fields):
    n = next(_seq)
    return JobEvent.objects.create(
        job=job, occurred_at=occurred_at, to_state=to_state, action=action, source=source, key=f"k{n}", **fields
    )


def make_assessment(job, suggestion="建议在安静环境中重新录音"):
    assessment = Assessment.objects.create(job=job, suggestion=suggestion)
    for position, (metric, expected, actual, status, zh, en) in enumerate(METRICS):
        AssessmentMetric.objects.create(
            assessment=assessment,
            metric=metric,
            position=position,
            expected=expected,
            actual=actual,
            status=status,
            suggestion=zh,
            suggestion_en=en,
        )
    return assessment


def make_run(account, kind="avatar_training", **fields):
    return SyncRun.objects.create(account=account, kind=kind, **fields)


def _user(username, operator=False, **extra):
    user = User.objects.create_user(username, password="pw-" + username, **extra)
    if operator:
        user.user_permissions.add(Permission.objects.get(codename="trigger_sync", content_type__app_label="jobs"))
    return user


@pytest.fixture
def viewer(db):
    return _user("vera")


@pytest.fixture
def operator(db):
    return _user("otto", operator=True)


@pytest.fixture
def viewer_client(client, viewer):
    client.force_login(viewer)
    return client


@pytest.fixture
def operator_client(client, operator):
    client.force_login(operator)
    return client


@pytest.fixture
def account(db):
    return make_account("huawei-main")


def walk_pages(qs, sort, size):
    """Every row of `qs` in `sort` order, read a keyset page of `size` at a time."""
    seen, cursor = [], None
    while True:
        page = selectors.job_page(qs, sort, cursor, size)
        seen += page.rows
        if not page.next_cursor:
            return seen
        cursor = selectors.decode_cursor(page.next_cursor, sort)
