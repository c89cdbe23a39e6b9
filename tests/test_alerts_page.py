"""The alerts page (/alerts/): rules and the alert log with delivery status; operators
acknowledge alerts and mute rules, viewers only read."""

from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from jobs.alert_models import Alert, AlertChannel, AlertDelivery, AlertRule
from tests.fixtures_ui import make_account

pytestmark = pytest.mark.django_db


@pytest.fixture
def logged():
    c = AlertChannel(name="ops-hook")
    c.set_url("json://hooks.example.com/T0KEN-SECRET-123")
    c.save()
    rule = AlertRule.objects.create(name="failures", when=AlertRule.When.FAILED)
    rule.channels.set([c])
    account = make_account()
    now = timezone.now()
    alerts = []
    for i in range(55):
        a = Alert.objects.create(
            rule=rule,
            key=f"job:{i}",
            account=account,
            title=f"Failed: job {i} <script>x</script>",
            detail="MSS.0001 too short",
            link=f"/jobs/{i}/",
            opened_at=now - timedelta(minutes=i // 2),  # pairs share a time: the keyset's tie
        )
        AlertDelivery.objects.create(
            alert=a,
            channel=c,
            event="fired",
            status="failed" if i == 0 else "sent",
            attempts=12 if i == 0 else 1,
            last_error="HTTP 503" if i == 0 else "",
        )
        alerts.append(a)
    return rule, alerts


def test_the_page_needs_a_login(client, db):
    assert client.get(reverse("alerts")).status_code == 302


def test_the_log_pages_newest_first_without_gaps_or_repeats(viewer_client, logged):
    rule, alerts = logged
    seen, url = [], reverse("alerts")
    while url:
        page = viewer_client.get(url)
        assert page.status_code == 200
        seen += [a.pk for a in page.context["alerts"]]
        url = reverse("alerts") + page.context["older_url"] if page.context["older_url"] else ""
    expected = [a.pk for a in sorted(alerts, key=lambda a: (a.opened_at, a.pk), reverse=True)]
    assert seen == expected


def test_it_shows_delivery_status_escaped_and_no_secret(viewer_client, logged):
    text = viewer_client.get(reverse("alerts")).content.decode()
    assert "&lt;script&gt;x&lt;/script&gt;" in text and "<script>x</script>" not in text
    assert "HTTP 503" in text and "12 attempts" in text
    assert "T0KEN-SECRET-123" not in text and "json://hooks.example.com" in text
    # A viewer reads: no acknowledge or mute buttons, and posting them is refused.
    assert "alert_ack" not in text and "/ack/" not in text and 'name="hours"' not in text


def test_a_viewer_cannot_acknowledge_or_mute(viewer_client, logged):
    rule, alerts = logged
    assert viewer_client.post(reverse("alert_ack", args=[alerts[0].pk])).status_code == 403
    assert viewer_client.post(reverse("alert_rule_mute", args=[rule.pk]), {"hours": "24"}).status_code == 403


def test_an_operator_acknowledges_an_alert_and_mutes_a_rule(operator_client, operator, logged):
    rule, alerts = logged
    response = operator_client.post(reverse("alert_ack", args=[alerts[3].pk]), {"back": "/alerts/?state=open"})
    assert response.status_code == 302 and response["Location"] == "/alerts/?state=open"
    alerts[3].refresh_from_db()
    assert alerts[3].acknowledged_by == operator and alerts[3].acknowledged_at is not None
    # A foreign "back" is not followed.
    response = operator_client.post(reverse("alert_ack", args=[alerts[4].pk]), {"back": "https://evil.example/"})
    assert response["Location"] == reverse("alerts")

    operator_client.post(reverse("alert_rule_mute", args=[rule.pk]), {"hours": "24"})
    rule.refresh_from_db()
    assert timedelta(hours=23) < rule.muted_until - timezone.now() <= timedelta(hours=24)
    assert "muted until" in operator_client.get(reverse("alerts")).content.decode()
    operator_client.post(reverse("alert_rule_mute", args=[rule.pk]), {"hours": "0"})
    rule.refresh_from_db()
    assert rule.muted_until is None
    assert operator_client.post(reverse("alert_rule_mute", args=[rule.pk]), {"hours": "5"}).status_code == 400


@pytest.mark.parametrize("query", [{"before": "yesterday"}, {"rule": "abc"}, {"state": "sideways"}])
def test_nonsense_in_the_url_is_a_400(viewer_client, logged, query):
    assert viewer_client.get(reverse("alerts"), query).status_code == 400


def test_filters_narrow_the_log(viewer_client, logged):
    rule, alerts = logged
    Alert.objects.filter(pk=alerts[1].pk).update(resolved_at=timezone.now())
    page = viewer_client.get(reverse("alerts"), {"state": "resolved"})
    assert [a.pk for a in page.context["alerts"]] == [alerts[1].pk]
    other = AlertRule.objects.create(name="other", when=AlertRule.When.STALE)
    assert list(viewer_client.get(reverse("alerts"), {"rule": other.pk}).context["alerts"]) == []


def test_an_operator_adds_a_rule_on_the_page_and_turns_it_off(operator_client, viewer, logged):
    rule, _alerts = logged
    viewer_client = Client()
    viewer_client.force_login(viewer)
    channel = rule.channels.get()
    data = {"name": "voice spikes", "when": "spike", "channels": [channel.pk], "kinds": ["voice_training"]}
    data.update(threshold="5", window_minutes="15", batch="", tag="")
    assert viewer_client.post(reverse("alert_rule_add"), data).status_code == 403
    response = operator_client.post(reverse("alert_rule_add"), data)
    assert response.status_code == 302
    added = AlertRule.objects.get(name="voice spikes")
    assert (added.when, added.kinds, added.limit, added.minutes) == ("spike", ["voice_training"], 5, 15)
    assert [c.pk for c in added.channels.all()] == [channel.pk] and added.enabled

    # A bad form comes back with its errors, nothing saved.
    bad = operator_client.post(reverse("alert_rule_add"), {**data, "name": "", "when": "sometimes"})
    assert bad.status_code == 400 and AlertRule.objects.count() == 2
    assert "This field is required" in bad.content.decode()

    operator_client.post(reverse("alert_rule_toggle", args=[added.pk]))
    added.refresh_from_db()
    assert not added.enabled
    assert viewer_client.post(reverse("alert_rule_toggle", args=[added.pk])).status_code == 403
