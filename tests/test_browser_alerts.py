"""Issue #14 in Chromium: a fakecloud job fails, the sync opens an alert that reaches a real
webhook receiver, and the alerts page shows it as sent; an operator acknowledges it and mutes
the rule. Screenshots at both sizes in both languages."""

import os

import pytest

# Playwright's sync API runs an event loop in this thread (see tests/test_browser.py).
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

from jobs import alert_delivery, sync  # noqa: E402
from jobs.alert_models import Alert, AlertRule  # noqa: E402
from jobs.models import Job  # noqa: E402
from tests import test_browser  # noqa: E402
from tests.fixtures_browser import SIZES, open_page, page_width, shot_as  # noqa: E402
from tests.test_alerts import channel, hook, moving_avatars, rule  # noqa: E402,F401 - fixtures
from tests.test_browser import browser, synced  # noqa: E402,F401 - fixtures

pytestmark = list(test_browser.pytestmark)


@pytest.mark.parametrize("size", SIZES)
def test_an_alert_is_logged_delivered_acknowledged_and_its_rule_muted(
    browser,  # noqa: F811
    live_server,
    fakecloud,
    synced,  # noqa: F811
    hook,  # noqa: F811
    size,
):
    hw, _ci = synced
    r = rule("avatar failures", AlertRule.When.FAILED, channel("ops-hook", hook.url), kinds=["avatar_training"])
    job = moving_avatars(fakecloud)[0]
    fakecloud.advance(60)
    fakecloud.set_state("avatar", job["job_id"], "TRAIN_FAILED")
    sync.sync_account_kind(hw, "avatar_training")
    assert alert_delivery.send_due() == (1, 0) and len(hook.messages) == 1
    name = Job.objects.get(remote_id=job["job_id"]).name

    pg = open_page(browser, live_server, size=size)
    pg.goto(pg.base + "/alerts/")
    row = pg.locator("tr.alert").filter(has_text=name)
    assert row.count() == 1
    assert "Sent" in row.inner_text() and "ops-hook" in row.inner_text()
    if size == "phone":
        assert page_width(pg) <= 390
    shot_as(pg, f"alerts-{size}-en")
    with pg.expect_navigation():
        row.get_by_role("button", name="Acknowledge").click()
    assert Alert.objects.get().acknowledged_at is not None
    with pg.expect_navigation():
        pg.locator("tr.alert-rule").get_by_role("button", name="1 day").click()
    r.refresh_from_db()
    assert r.muted_until is not None and "muted until" in pg.locator("tr.alert-rule").inner_text()

    # An operator adds a rule on the page.
    pg.locator("details.add-rule summary").click()
    form = pg.locator("form.rule-form")
    form.get_by_label("Name").fill("sync health")
    form.get_by_label("When").select_option("stale")
    form.get_by_label("ops-hook").check()
    shot_as(pg, f"alerts-add-rule-{size}-en")
    with pg.expect_navigation():
        form.get_by_role("button", name="Add rule").click()
    assert AlertRule.objects.filter(name="sync health", when="stale").exists()
    assert pg.locator("tr.alert-rule").count() == 2
    assert pg.errors == []

    zh = open_page(browser, live_server, size=size, lang="zh")
    zh.goto(zh.base + "/alerts/")
    zh.get_by_role("heading", name="告警", exact=True).wait_for()
    if size == "phone":
        assert page_width(zh) <= 390
    shot_as(zh, f"alerts-{size}-zh")
