"""Issue #12 in Chromium, items 2, 3, 11, 14 and 15 at desktop and phone sizes: the stuck card's
order and total, tracking an id that cannot exist, the 403 page a viewer gets, the overview
refreshing itself and its chart links, and Sync now waiting for the sync it started.
Screenshots of the overview, sync and track pages in both languages."""

import os
import re
from datetime import timedelta

import pytest

# Playwright's sync API runs an event loop in this thread (see tests/test_browser.py).
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

from django.utils import timezone  # noqa: E402

from jobs.models import Job, Status, SyncRun  # noqa: E402
from tests import test_browser  # noqa: E402
from tests.fixtures_browser import SIZES, shot_as  # noqa: E402
from tests.fixtures_browser import open_page as _open_page  # noqa: E402
from tests.test_browser import browser, synced  # noqa: E402,F401 - fixtures

pytestmark = list(test_browser.pytestmark)


def open_page(browser_, live_server, size="desktop", lang="en", role="operator"):
    """fixtures_browser.open_page, logging in through the login form itself: that helper clicks
    the first submit button on the page, which is now the language switch in the top bar, and
    its wait for a URL ending in "/" is already met on /accounts/login/."""
    pg = _open_page(browser_, live_server, size=size, lang=lang, role=role)
    if not pg.locator("nav.mainnav").count():
        pg.goto(live_server.url + "/accounts/login/")
        pg.fill("input[name=username]", pg.user.get_username())
        pg.user.set_password("pw-h3-overview-1")
        pg.user.save()
        pg.fill("input[name=password]", "pw-h3-overview-1")
        pg.locator("main form button[type=submit]").click()
    pg.locator("nav.mainnav").wait_for()
    if lang == "zh" and pg.locator("html").get_attribute("lang") != "zh-hans":
        pg.locator("form.lang button[value=zh-hans]").click()
        pg.locator("html[lang=zh-hans]").wait_for(state="attached")
    return pg


@pytest.mark.parametrize("size", SIZES)
def test_overview_stuck_refresh_chart(browser, live_server, synced, settings, size):  # noqa: F811
    settings.OVERVIEW_REFRESH_SECONDS = 2
    hw, _ci = synced
    now = timezone.now()
    drafts = Job.objects.filter(account=hw, kind="voice_training").order_by("pk")[:12]
    Job.objects.filter(pk__in=[j.pk for j in drafts]).update(
        state="CREATING", status=Status.QUEUED, gone=False, state_changed_at=now - timedelta(days=10)
    )
    hung = Job.objects.filter(account=hw, kind="avatar_training").order_by("pk").first()
    Job.objects.filter(pk=hung.pk).update(
        state="TRAINING",
        status=Status.RUNNING,
        gone=False,
        state_changed_at=now - timedelta(days=4),
        name="Hung trainer",
    )
    pg = open_page(browser, live_server, size=size)
    card = pg.locator("section", has=pg.locator("#h-stuck"))
    assert card.locator("tbody tr").first.locator("a").first.inner_text() == "Hung trainer"
    total = card.locator(".count").inner_text()
    assert int(total.rstrip("+").replace(",", "")) >= 13 and card.locator("tbody tr").count() == 10
    shot_as(pg, f"overview-{size}-en")
    # The overview refreshes itself: a job that became stuck appears without a reload.
    pg.evaluate("window.notReloaded = true")
    other = Job.objects.filter(account=hw, kind="avatar_training").exclude(pk=hung.pk).order_by("pk").first()
    Job.objects.filter(pk=other.pk).update(
        state="TRAINING",
        status=Status.RUNNING,
        gone=False,
        state_changed_at=now - timedelta(days=30),
        name="Newly stuck",
    )
    card.locator("tbody tr").first.get_by_text("Newly stuck").wait_for(timeout=10_000)
    assert pg.evaluate("window.notReloaded") is True
    # A chart segment opens the job list filtered by its account, kind and status.
    pg.locator("svg.chart a[href*='status=running']").first.click()
    pg.wait_for_url(re.compile(r"/jobs/\?account=\d+&kind=\w+&status=running"))
    assert [e for e in pg.errors if "status of 404" not in e] == []  # /favicon.ico


@pytest.mark.parametrize("size", SIZES)
def test_tracking_refuses_ids_that_cannot_exist_and_viewers_get_a_403_page(browser, live_server, synced, size):  # noqa: F811
    hw, _ci = synced
    before = Job.objects.count()
    pg = open_page(browser, live_server, size=size)
    pg.goto(pg.base + "/track/")
    assert pg.locator("select[name=account]").input_value() == str(hw.pk)  # the only Huawei account
    pg.fill("textarea[name=ids]", "not-an-id\n26f06524-4f75-4b3a-a853-b649a21aaf66")
    pg.get_by_role("button", name="Track these jobs").click()
    pg.get_by_text("“not-an-id” cannot be a short-job id").wait_for()
    assert Job.objects.count() == before
    shot_as(pg, f"track-{size}-en")
    for lang, nav in (("en", "Overview"), ("zh", "概览")):
        viewer = open_page(browser, live_server, size=size, lang=lang, role="viewer")
        response = viewer.goto(viewer.base + "/track/")
        assert response.status == 403
        assert viewer.locator("nav.mainnav").get_by_role("link", name=nav).is_visible() or size == "phone"
        assert viewer.locator("nav.mainnav a").count() >= 3 and viewer.locator(".forbidden").is_visible()
        shot_as(viewer, f"forbidden-{size}-{lang}")
        viewer.goto(viewer.base + "/sync/")
        assert viewer.locator(".viewer-note").is_visible() and viewer.locator("button.sync-now").count() == 0
        viewer.context.close()


@pytest.mark.parametrize("size", SIZES)
def test_sync_now_waits_for_its_sync_and_the_history_refreshes_itself(browser, live_server, synced, size):  # noqa: F811
    hw, _ci = synced
    runs_before = SyncRun.objects.filter(account=hw).count()
    pg = open_page(browser, live_server, size=size)
    pg.goto(pg.base + "/sync/")
    card = pg.locator(f"#sync-card-{hw.pk}")
    button = card.locator("button.sync-now")
    # A double click: htmx posts, and the second press lands while (or after) the first is under way.
    pg.evaluate(
        f"() => {{ const f = document.querySelector('#sync-card-{hw.pk} form'); f.requestSubmit(); f.requestSubmit(); }}"
    )
    card.get_by_role("button", name="Sync running").wait_for()
    assert button.is_disabled()
    button.click(force=True)  # disabled: nothing is sent
    pg.wait_for_timeout(500)
    assert SyncRun.objects.filter(account=hw).count() == runs_before + len(hw.sync_kinds())
    shot_as(pg, f"sync-running-{size}-en")
    # No worker here: finish the runs as one would; the card notices by itself.
    SyncRun.objects.filter(account=hw, outcome="queued").update(
        outcome="succeeded", finished_at=timezone.now(), pages=2
    )
    card.locator(".progress.done").wait_for(timeout=10_000)
    assert card.get_by_role("button", name="Sync now").is_enabled()
    assert card.locator("table.runs .oc-queued").count() == 0
    assert [e for e in pg.errors if "status of 404" not in e] == []  # /favicon.ico


@pytest.mark.parametrize("size", SIZES)
def test_screenshots_in_chinese(browser, live_server, synced, size):  # noqa: F811
    pg = open_page(browser, live_server, size=size, lang="zh")
    shot_as(pg, f"overview-{size}-zh")
    assert pg.locator("html").get_attribute("lang") == "zh-hans"
    for path, name in (("/sync/", "sync"), ("/track/", "track")):
        pg.goto(pg.base + path)
        shot_as(pg, f"{name}-{size}-zh")
    pg.goto(pg.base + "/sync/")
    assert "schedule<" not in pg.content() and "manual<" not in pg.content()
