"""Alerts end to end (issue #14): fakecloud jobs change, the sync runs over real HTTP, the rules
open and resolve alerts, and jobs.alert_delivery sends them through apprise to a real webhook
receiver and a real SMTP server on loopback."""

from __future__ import annotations

import email
import email.policy
import html
import io
import json
import socket
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from aiosmtpd.controller import Controller
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import timezone

from fakecloud.testing import FakeCloudServer
from jobs import alert_delivery, alerts, sync
from jobs.alert_models import Alert, AlertChannel, AlertDelivery, AlertRule
from jobs.models import ACTIVE_STATUSES, CloudAccount, Job, SyncRun
from jobs.providers import get_provider
from jobs.status import unified_status
from tests.fixtures_sync import make_fakecloud_accounts

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.db_sensitive]

AV = "avatar_training"


class Hook:
    """A webhook receiver on loopback: keeps each JSON body; answers 503 while ``down``."""

    def __init__(self):
        self.messages: list[dict] = []
        self.down = False
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if hook.down:
                    self.send_response(503)
                    self.end_headers()
                    return
                hook.messages.append(json.loads(body))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self):
        return f"json://127.0.0.1:{self.server.server_address[1]}/hook"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hook():
    h = Hook()
    yield h
    h.close()


class Mailbox:
    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        body = msg.get_body(preferencelist=("plain", "html"))
        # apprise sends HTML mail: a name with markup in it arrives escaped.
        self.messages.append(f"{msg['Subject']}\n{html.unescape(body.get_content())}")
        return "250 OK"


@pytest.fixture
def smtp():
    box = Mailbox()
    with socket.socket() as probe:  # a free port (the controller's own check cannot use port 0)
        probe.bind(("127.0.0.1", 0))
        box.port = probe.getsockname()[1]
    controller = Controller(box, hostname="127.0.0.1", port=box.port)
    controller.start()
    yield box
    controller.stop()


def channel(name, url):
    c = AlertChannel(name=name)
    c.set_url(url)
    c.save()
    return c


def rule(name, when, *channels, **fields):
    r = AlertRule.objects.create(name=name, when=when, **fields)
    r.channels.set(channels)
    return r


def sync_avatars(account):
    p = get_provider(account, sleep=lambda seconds: None)
    return sync.sync_account_kind(account, AV, provider=p)


def moving_avatars(fakecloud):
    return [j for j in fakecloud.jobs("avatar") if unified_status(AV, j["state"]) in ACTIVE_STATUSES]


def running_avatar(fakecloud):
    return moving_avatars(fakecloud)[0]


def fail_one_at_the_vendor(fakecloud):
    """A moving avatar job fails at the vendor, a minute on (after any rule just made)."""
    job = running_avatar(fakecloud)
    fakecloud.advance(60)
    fakecloud.set_state("avatar", job["job_id"], "TRAIN_FAILED")
    return job


def test_a_failure_reaches_the_webhook_once_and_its_resolution_once(fakecloud, fc_accounts, hook, settings):
    settings.ALERT_SITE_URL = "https://ops.example.com"
    hw, _ci = fc_accounts
    rule("failures", AlertRule.When.FAILED, channel("ops-hook", hook.url))
    run = sync_avatars(hw)
    assert run.outcome == SyncRun.Outcome.SUCCEEDED
    # The history's failures are older than the rule: nobody is told about them.
    assert Job.objects.filter(kind=AV, status="failed").exists()
    assert alert_delivery.send_due() == (0, 0) and hook.messages == []

    job = fail_one_at_the_vendor(fakecloud)
    sync_avatars(hw)
    assert alert_delivery.send_due() == (1, 0)
    assert len(hook.messages) == 1
    cached = Job.objects.get(remote_id=job["job_id"])
    text = hook.messages[0]["title"] + "\n" + hook.messages[0]["message"]
    assert cached.name in text and f"https://ops.example.com/jobs/{cached.pk}/" in text
    assert (cached.error_message or cached.state) in text

    # Nothing new: no second message (one alert per job and condition until it resolves).
    sync_avatars(hw)
    assert alert_delivery.send_due() == (0, 0) and len(hook.messages) == 1

    fakecloud.advance(60)
    fakecloud.set_state("avatar", job["job_id"], "JOB_SUCCESS")
    sync_avatars(hw)
    assert alert_delivery.send_due() == (1, 0)
    assert len(hook.messages) == 2 and hook.messages[1]["title"].startswith("Resolved: ")
    alert = Alert.objects.get()
    assert alert.resolved_at is not None and alert.job_id == cached.pk


def test_fifty_failures_in_one_sync_make_one_digest_per_channel(db, hook, smtp):
    with FakeCloudServer(jobs=120, seed=3, speed=0) as fc:
        hw, _ci = make_fakecloud_accounts(fc.url)
        mail = channel("ops-mail", f"mailto://127.0.0.1:{smtp.port}?from=dash@example.com&to=ops@example.com")
        rule("failures", AlertRule.When.FAILED, channel("ops-hook", hook.url), mail)
        sync_avatars(hw)
        healthy = [j for j in fc.jobs("avatar") if unified_status(AV, j["state"]) != "failed"][:50]
        assert len(healthy) == 50
        fc.advance(60)
        for j in healthy:
            fc.set_state("avatar", j["job_id"], "TRAIN_FAILED")
        p = get_provider(hw, sleep=lambda seconds: None)
        assert sync.sync_account_kind(hw, AV, provider=p, full=True).outcome == SyncRun.Outcome.SUCCEEDED

    assert Alert.objects.count() == 50 and AlertDelivery.objects.count() == 100
    assert alert_delivery.send_due() == (2, 0)  # one message per channel
    assert len(hook.messages) == 1 and len(smtp.messages) == 1
    assert "50 alert(s) firing" in hook.messages[0]["title"]
    names = set(Job.objects.filter(remote_id__in=[j["job_id"] for j in healthy]).values_list("name", flat=True))
    digest = hook.messages[0]["message"]
    assert all(name in digest for name in names)  # all 50 listed (a digest lists up to 50)
    assert [n for n in names if n not in smtp.messages[0]] == []
    assert alert_delivery.send_due() == (0, 0)  # and nothing twice


def test_an_account_whose_sync_went_stale_alerts_and_resolves_when_it_syncs_again(fc_accounts, hook):
    hw, _ci = fc_accounts
    rule("sync stale", AlertRule.When.STALE, channel("ops-hook", hook.url), window_minutes=60)
    now = timezone.now()
    CloudAccount.objects.filter(pk=hw.pk).update(last_success_at=now - timedelta(minutes=30))
    assert alerts.evaluate_stale(now) == (0, 0)
    CloudAccount.objects.filter(pk=hw.pk).update(last_success_at=now - timedelta(hours=3))
    assert alerts.evaluate_stale(now) == (1, 0)
    assert alerts.evaluate_stale(now) == (0, 0)  # once until it resolves
    assert alert_delivery.send_due() == (1, 0) and hook.messages[0]["title"] == f"Sync stale: {hw.name}"
    CloudAccount.objects.filter(pk=hw.pk).update(last_success_at=now)
    assert alerts.evaluate_stale(now) == (0, 1)
    assert alert_delivery.send_due() == (1, 0) and hook.messages[1]["title"].startswith("Resolved: ")


def test_a_channel_down_for_a_while_gets_every_message_once_after_it_recovers(fakecloud, fc_accounts, hook):
    hw, _ci = fc_accounts
    rule("failures", AlertRule.When.FAILED, channel("ops-hook", hook.url))
    sync_avatars(hw)
    fail_one_at_the_vendor(fakecloud)
    hook.down = True
    sync_avatars(hw)

    assert alert_delivery.send_due() == (0, 1)
    d = AlertDelivery.objects.get()
    assert d.status == AlertDelivery.Status.PENDING and d.attempts == 1 and d.last_error
    assert hook.url.split("://")[1] not in d.last_error  # no channel URL in the reason
    # Not due again until the backoff has passed.
    assert alert_delivery.send_due() == (0, 0)
    later = timezone.now() + timedelta(seconds=alert_delivery.BACKOFF[0] + 1)
    assert alert_delivery.send_due(now=later) == (0, 1)  # still down

    hook.down = False
    much_later = later + timedelta(seconds=alert_delivery.BACKOFF[1] + 1)
    assert alert_delivery.send_due(now=much_later) == (1, 0)
    assert alert_delivery.send_due(now=much_later + timedelta(hours=1)) == (0, 0)
    assert len(hook.messages) == 1
    d.refresh_from_db()
    assert d.status == AlertDelivery.Status.SENT and d.attempts == 3


def test_a_muted_rule_sends_nothing_but_keeps_the_log(fakecloud, fc_accounts, hook):
    hw, _ci = fc_accounts
    rule(
        "failures",
        AlertRule.When.FAILED,
        channel("ops-hook", hook.url),
        muted_until=timezone.now() + timedelta(hours=1),
    )
    sync_avatars(hw)
    fail_one_at_the_vendor(fakecloud)
    sync_avatars(hw)
    assert Alert.objects.count() == 1
    assert list(AlertDelivery.objects.values_list("status", flat=True)) == [AlertDelivery.Status.SKIPPED]
    assert alert_delivery.send_due() == (0, 0) and hook.messages == []


def test_a_failing_sync_opens_a_stale_alert_and_a_good_one_resolves_it(fakecloud, fc_accounts, hook):
    hw, _ci = fc_accounts
    r = rule("sync health", AlertRule.When.STALE, channel("ops-hook", hook.url))
    fakecloud.set_fault("error", op="avatar.list", count=100, status=503)
    run = sync_avatars(hw)
    assert run.outcome == SyncRun.Outcome.FAILED
    alert = Alert.objects.get(rule=r)
    assert alert.key == f"account:{hw.pk}" and alert.resolved_at is None
    fakecloud.clear_faults()
    assert sync_avatars(hw).outcome == SyncRun.Outcome.SUCCEEDED
    alert.refresh_from_db()
    assert alert.resolved_at is not None
    assert alert_delivery.send_due() == (1, 0)  # both events in one message to the channel
    assert "1 alert(s) firing, 1 resolved" in hook.messages[0]["title"]
    assert hw.get_secret_key() not in json.dumps(hook.messages)


def test_a_rule_scoped_to_another_account_or_kind_stays_quiet(fakecloud, fc_accounts, hook):
    hw, ci = fc_accounts
    rule("translations only", AlertRule.When.FAILED, channel("ops-hook", hook.url), kinds=["translation"])
    other = rule("ci only", AlertRule.When.FAILED, channel("ops-hook-2", hook.url))
    other.accounts.set([ci])
    sync_avatars(hw)
    fail_one_at_the_vendor(fakecloud)
    sync_avatars(hw)
    assert Alert.objects.count() == 0


def test_the_channel_url_is_stored_encrypted_and_shown_only_as_its_service(db):
    c = channel("ops", "json://user:s3cretpass@hooks.example.com/T0123/abcdefSECRET")
    raw = AlertChannel.objects.values_list("url_encrypted", flat=True).get()
    assert "s3cretpass" not in raw and "abcdefSECRET" not in raw
    assert c.where == "json://hooks.example.com"
    assert AlertChannel.objects.get().get_url().endswith("/abcdefSECRET")


def test_addchannel_reads_the_url_from_stdin_and_addalert_wires_a_rule(fc_accounts, hook, capsys):
    hw, _ci = fc_accounts
    secret_url = hook.url + "?token=SECRET123456"
    call_command("addchannel", "ops", stdin=io.StringIO(secret_url + "\n"))
    out = capsys.readouterr().out
    assert "SECRET123456" not in out and "json://127.0.0.1" in out
    assert AlertChannel.objects.get(name="ops").get_url() == secret_url
    with pytest.raises(CommandError, match="no apprise URL"):
        call_command("addchannel", "empty", stdin=io.StringIO("\n"))
    with pytest.raises(CommandError, match="does not understand"):
        call_command("addchannel", "bogus", stdin=io.StringIO("nosuchservice://x\n"))

    call_command("addalert", "hw failures", "--when", "failed", "--channel", "ops", "--account", hw.name, "--kind", AV)
    r = AlertRule.objects.get(name="hw failures")
    assert (r.when, r.kinds, [a.name for a in r.accounts.all()], [c.name for c in r.channels.all()]) == (
        "failed",
        [AV],
        [hw.name],
        ["ops"],
    )
    with pytest.raises(CommandError, match="no channel named nope"):
        call_command("addalert", "x", "--when", "stale", "--channel", "nope")


def test_the_admin_never_shows_the_url_again_and_sends_a_test(admin_client, hook):
    response = admin_client.post(
        reverse("admin:jobs_alertchannel_add"),
        {"name": "ops", "url": hook.url + "/TOKEN987654", "enabled": "on"},
    )
    assert response.status_code == 302, response.content[:2000]
    c = AlertChannel.objects.get()
    page = admin_client.get(reverse("admin:jobs_alertchannel_change", args=[c.pk])).content.decode()
    assert "TOKEN987654" not in page and c.where in page
    # Saved without a URL: the stored one stays.
    admin_client.post(
        reverse("admin:jobs_alertchannel_change", args=[c.pk]), {"name": "ops2", "url": "", "enabled": "on"}
    )
    c.refresh_from_db()
    assert c.name == "ops2" and c.get_url().endswith("/TOKEN987654")

    admin_client.post(
        reverse("admin:jobs_alertchannel_changelist"), {"action": "send_test", "_selected_action": [c.pk]}
    )
    assert len(hook.messages) == 1 and "test" in hook.messages[0]["title"].lower()
    hook.down = True
    response = admin_client.post(
        reverse("admin:jobs_alertchannel_changelist"), {"action": "send_test", "_selected_action": [c.pk]}, follow=True
    )
    text = response.content.decode()
    assert "not delivered" in text and "TOKEN987654" not in text


def test_an_evaluation_cut_short_is_made_up_by_the_next_run_and_nothing_is_sent_twice(
    fakecloud, fc_accounts, hook, monkeypatch
):
    hw, _ci = fc_accounts
    rule("failures", AlertRule.When.FAILED, channel("ops-hook", hook.url))
    sync_avatars(hw)
    job = fail_one_at_the_vendor(fakecloud)
    evaluate = alerts.evaluate_run

    def crash(run, now=None):
        raise RuntimeError("the worker died after the sync committed")

    monkeypatch.setattr(alerts, "evaluate_run", crash)
    sync_avatars(hw)  # the failure is cached; its alert is not
    assert Job.objects.get(remote_id=job["job_id"]).status == "failed" and not Alert.objects.exists()

    monkeypatch.setattr(alerts, "evaluate_run", evaluate)
    sync_avatars(hw)  # writes nothing new, but looks again at what the run before wrote
    sync_avatars(hw)
    assert alert_delivery.send_due() == (1, 0)
    assert len(hook.messages) == 1 and Alert.objects.count() == 1
