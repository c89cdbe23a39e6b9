"""Vendor log entries become events one for one: entries that differ in nothing but their text
(the same second, action and operator; a different description, reason or comment) are two
events, and storing the same entries again adds none.

Over real HTTP: MetaStudio's avatar detail (its operation_logs and comment_logs) and voice
op-log pages come from a loopback server (tests/http_stub.py), read by the real client and
parser, stored by the real sync and shown on the detail page."""

import json
import re
from datetime import UTC, datetime

import pytest

from jobs import sync
from jobs.models import CloudAccount, Job, JobEvent
from jobs.providers.base import EventRecord
from jobs.providers.huawei import HuaweiProvider
from tests.fixtures_sync import T0, StubProvider, make_record
from tests.http_stub import Reply, StubServer

pytestmark = pytest.mark.django_db

AV, VT = "avatar_training", "voice_training"
PROJECT = "0123456789abcdef0123456789abcdef"


def _account():
    return CloudAccount.objects.create(name="events", provider="huawei", region="cn-north-4", project_id=PROJECT)


def test_storing_entries_that_differ_only_in_their_message_keeps_each():
    job = Job.objects.create(
        account=_account(), kind=VT, remote_id="v1", created_at=T0, updated_at=T0, first_seen_at=T0, synced_at=T0
    )
    entries = [
        EventRecord(occurred_at=T0, source="oplog", action="AUDIT_NOT_PASS", operator="ADMIN", message=message)
        for message in ("background noise in 12 files", "3 files are too short", "")
    ]

    assert sync.store_events(job.pk, entries) == 3
    assert sync.store_events(job.pk, entries) == 0
    assert sync.store_events(job.pk, list(reversed(entries))) == 0
    assert sorted(job.events.values_list("message", flat=True)) == [
        "",
        "3 files are too short",
        "background noise in 12 files",
    ]


def test_a_sync_stores_detail_entries_that_differ_only_in_their_message_once_each(huawei_account):
    p = StubProvider([make_record(VT, 1)], page_size=10)
    p.events["vo-00001"] = [
        EventRecord(occurred_at=T0, source="oplog", action="AUDIT_NOT_PASS", operator="ADMIN", message="noise"),
        EventRecord(occurred_at=T0, source="oplog", action="AUDIT_NOT_PASS", operator="ADMIN", message="too short"),
    ]

    run = sync.sync_account_kind(huawei_account, VT, provider=p)
    p.replace(VT, "vo-00001", state="AUDIT_FAILED")  # read the detail again
    again = sync.sync_account_kind(huawei_account, VT, provider=p)

    assert run.events_created == 2
    assert again.details_fetched == 1 and again.events_created == 1  # the observed state change only
    assert sorted(JobEvent.objects.filter(source="oplog").values_list("message", flat=True)) == ["noise", "too short"]


# --- over real HTTP ---------------------------------------------------------------------------


AT = "2026-01-05T08:30:00Z"
AT_EPOCH = int(datetime(2026, 1, 5, 8, 30, tzinfo=UTC).timestamp() * 1000)


class MetaStudio:
    """Answers the listing, the avatar detail and the voice op-log pages; ``state`` per job."""

    def __init__(self):
        self.state = {"a1": "AUTO_VERIFY_FAILED", "v1": "AUDIT_FAILED"}

    def __call__(self, request):
        path = request.path.split(f"/v1/{PROJECT}/", 1)[1]
        if path == "digital-human-training-manage/user/jobs":
            return self.json({"count": 1, "jobs": [self.avatar()]})
        if path == "digital-human-training-manage/user/jobs/a1":
            return self.json({**self.avatar(), "operation_logs": OPERATION_LOGS, "comment_logs": COMMENT_LOGS})
        if path == "voice-training-manage/user/jobs":
            return self.json({"count": 1, "jobs": [self.voice()]})
        if path == "voice-training-manage/user/jobs/v1/op-logs":
            offset = int(request.params.get("offset", 0))
            return self.json({"count": len(VOICE_OPERATIONS), "operations": VOICE_OPERATIONS[offset:]})
        if path == "voice-training-manage/user/jobs/v1/audit-result":
            return self.json({})
        return Reply(404, json.dumps({"error_code": "MSS.404", "error_msg": "no such path"}))

    @staticmethod
    def json(body):
        return Reply(200, json.dumps(body), {"Content-Type": "application/json", "X-Request-Id": "rq-1"})

    def avatar(self):
        return {
            "job_id": "a1",
            "name": "Avatar one",
            "state": self.state["a1"],
            "create_time": "2026-01-05T08:00:00Z",
            "last_update_time": "2026-01-05T09:00:00Z",
        }

    def voice(self):
        return {
            "job_id": "v1",
            "voice_name": "Voice one",
            "state": self.state["v1"],
            "create_time": AT_EPOCH - 1000,
            "lastupdate_time": AT_EPOCH,
        }


# The same second, log type and operator; only the description differs (review comments).
OPERATION_LOGS = [
    {
        "operate_time": AT,
        "log_type": "ADMIN_VERIFY_FAILED",
        "operate_user": "ADMIN",
        "log_description": "the face is cut off",
    },
    {
        "operate_time": AT,
        "log_type": "ADMIN_VERIFY_FAILED",
        "operate_user": "ADMIN",
        "log_description": "the voice is too quiet",
    },
]
# The same second and comment type; only the comment differs.
COMMENT_LOGS = [
    {"operate_time": AT, "comment_type": "ADMIN_COMMENT", "comment_message": "please record again"},
    {"operate_time": AT, "comment_type": "ADMIN_COMMENT", "comment_message": "in a quiet room"},
]
# The same second, action and operator; only the reviewer's reason differs.
VOICE_OPERATIONS = [
    {
        "time": AT_EPOCH,
        "action": "AUDIT_NOT_PASS",
        "operator": "ADMIN",
        "external_info": {"admin_audit_failure_reason": "noise"},
    },
    {
        "time": AT_EPOCH,
        "action": "AUDIT_NOT_PASS",
        "operator": "ADMIN",
        "external_info": {"admin_audit_failure_reason": "echo"},
    },
]


@pytest.fixture
def metastudio():
    app = MetaStudio()
    with StubServer(app) as server:
        app.provider = HuaweiProvider(
            region="cn-north-4",
            project_id=PROJECT,
            access_key_id="AK-TEST-0001",
            secret_key="SK-test-secret-0000000000000000",
            endpoint=server.url,
            http_options={"sleep": lambda s: None},
        )
        yield app


def _messages(kind, source):
    return sorted(JobEvent.objects.filter(job__kind=kind, source=source).values_list("message", flat=True))


def test_an_avatar_detail_with_entries_that_differ_only_in_their_text_gives_one_event_each(
    metastudio, huawei_account, viewer_client
):
    run = sync.sync_account_kind(huawei_account, AV, provider=metastudio.provider)

    assert run.outcome == "succeeded" and run.details_fetched == 1
    assert _messages(AV, "oplog") == ["the face is cut off", "the voice is too quiet"]
    assert _messages(AV, "comment") == ["in a quiet room", "please record again"]

    metastudio.state["a1"] = "WAIT_FILE_UPLOAD"  # changed: its detail is read again
    again = sync.sync_account_kind(huawei_account, AV, provider=metastudio.provider)

    assert again.details_fetched == 1 and again.events_created == 1  # the observed change only
    job = Job.objects.get(kind=AV)
    assert job.events.count() == 5

    timeline = viewer_client.get(f"/jobs/{job.pk}/").content.decode()
    steps = re.findall(r'<li class="step.*?</li>', timeline, re.S)
    assert len(steps) == 5
    for text in ("the face is cut off", "the voice is too quiet", "please record again", "in a quiet room"):
        assert sum(text in step for step in steps) == 1, text


def test_voice_op_log_entries_that_differ_only_in_their_reason_give_one_event_each(metastudio, huawei_account):
    run = sync.sync_account_kind(huawei_account, VT, provider=metastudio.provider)
    metastudio.state["v1"] = "WAITING"  # changed: its op-logs are read again
    again = sync.sync_account_kind(huawei_account, VT, provider=metastudio.provider)

    assert run.outcome == "succeeded" and run.events_created == 2
    assert again.details_fetched == 1 and again.events_created == 1  # the observed change only
    assert _messages(VT, "oplog") == ["echo", "noise"]
