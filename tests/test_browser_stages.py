"""Issue #13, item 3 in Chromium over a fakecloud cache the real sync kept while jobs moved: the
Stages page lists exactly the states jobs were seen staying in, its window tabs and CSV work, it
fits a 390 px phone; a job page draws its stages as a strip. Screenshots: stages-<size>-<lang>
and gantt-<size>-<lang> in test-artifacts/."""

import csv
import io
import os
from datetime import timedelta

import pytest
import time_machine

# Playwright's sync API runs an event loop in this thread (see tests/test_browser.py).
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

from django.db.models import Count, Q  # noqa: E402
from django.utils import timezone  # noqa: E402

from fakecloud.testing import FakeCloudServer  # noqa: E402
from jobs import sync  # noqa: E402
from jobs.stage_models import JobStage  # noqa: E402
from tests import test_browser  # noqa: E402
from tests.fixtures_browser import PHONE, SIZES, open_page, page_width  # noqa: E402
from tests.fixtures_sync import make_fakecloud_accounts  # noqa: E402
from tests.test_browser import ARTIFACTS, browser  # noqa: E402,F401 - fixtures

pytestmark = list(test_browser.pytestmark)

ROUNDS, STEP = 6, 1200  # syncs 20 minutes apart, as the scheduler might run them


@pytest.fixture
def moving(db):
    """Both clouds synced, then synced again as fakecloud's jobs move on: the dashboard's and
    fakecloud's clocks start together and go forward together, ending an hour ago, so states are
    seen changing and stretches have real durations."""
    start = timezone.now() - timedelta(seconds=ROUNDS * STEP + 3600)
    with FakeCloudServer(jobs=30, seed=1, speed=0, start_ms=int(start.timestamp() * 1000)) as fc:
        hw, ci = make_fakecloud_accounts(fc.url)
        with time_machine.travel(start, tick=True) as clock:
            sync.track_jobs(hw, "voice_assessment", fc.short_job_ids())
            for n in range(ROUNDS + 1):
                if n:
                    fc.advance(STEP)
                    clock.shift(STEP)
                for account in (hw, ci):
                    runs = sync.sync_account(account, trigger="command")
                    assert all(r.outcome == "succeeded" for r in runs), [(r.kind, r.error_message) for r in runs]
    assert JobStage.objects.filter(end="left").exists()
    return hw, ci


def expected_states():
    """(kind, state) of every stay that ended in the last 30 days or goes on now."""
    since = timezone.now() - timedelta(days=30)
    ended = JobStage.objects.filter(end="left", left_at__gte=since)
    return set(ended.values_list("kind", "state")) | set(
        JobStage.objects.filter(end="open").values_list("kind", "state")
    )


def shown_states(pg):
    rows = pg.locator("tr.stage-row").evaluate_all("rs => rs.map(r => [r.dataset.kind, r.dataset.state])")
    return {tuple(r) for r in rows}


@pytest.mark.parametrize("size", SIZES)
def test_the_stages_page_shows_the_states_jobs_stayed_in(browser, live_server, moving, size):  # noqa: F811
    pg = open_page(browser, live_server, size=size)
    pg.goto(pg.base + "/stages/")

    assert shown_states(pg) == expected_states()
    assert pg.locator("svg.stage-chart").count() == 1
    assert pg.locator("tr.level-row").count() >= 1
    if size == "phone":
        assert page_width(pg) <= PHONE["width"]
    shot(pg, f"stages-{size}-en")

    # A window tab keeps the filters and marks itself current.
    pg.goto(pg.base + "/stages/?kind=avatar_training")
    with pg.expect_navigation():
        pg.locator("nav.windows a", has_text="24").click()
    assert "window=24h" in pg.url and "kind=avatar_training" in pg.url
    assert pg.locator("nav.windows a[aria-current=page]").inner_text().find("24") >= 0
    assert {kind for kind, _ in shown_states(pg)} <= {"avatar_training"}

    # The table's CSV holds the rows the page shows.
    with pg.expect_download() as download:
        pg.locator("#stage-times a[download]").click()
    rows = list(csv.DictReader(io.StringIO(open(download.value.path(), encoding="utf-8-sig").read())))
    assert {(r["kind"], r["state"]) for r in rows} == shown_states(pg)
    assert pg.errors == []

    zh = open_page(browser, live_server, size=size, lang="zh")
    zh.goto(zh.base + "/stages/")
    zh.get_by_role("button", name="应用").wait_for()  # "Apply": the page is in Chinese
    assert shown_states(zh) == expected_states()
    if size == "phone":
        assert page_width(zh) <= PHONE["width"]
    shot(zh, f"stages-{size}-zh")


@pytest.mark.parametrize("size", SIZES)
def test_a_job_page_draws_its_stages_as_a_strip(browser, live_server, moving, size):  # noqa: F811
    # A job still moving if there is one (its strip ends "so far"), with the most stages.
    stretches = JobStage.objects.values("job_id").annotate(n=Count("id"), moving=Count("id", filter=Q(end="open")))
    busiest = stretches.filter(n__gte=2).order_by("-moving", "-n", "job_id").first()
    job_id, n = busiest["job_id"], busiest["n"]
    states = list(JobStage.objects.filter(job_id=job_id).order_by("entered_at").values_list("state", flat=True))

    for lang in ("en", "zh"):
        pg = open_page(browser, live_server, size=size, lang=lang)
        pg.goto(f"{pg.base}/jobs/{job_id}/")
        strip = pg.locator("#job-gantt")
        assert strip.locator("svg.gantt rect").count() == n
        assert strip.locator("ol.gantt-list li .mono").all_inner_texts() == states
        if size == "phone":
            assert page_width(pg) <= PHONE["width"]
        ARTIFACTS.mkdir(exist_ok=True)
        pg.locator("section[aria-labelledby=h-timeline]").screenshot(path=str(ARTIFACTS / f"gantt-{size}-{lang}.png"))
        assert pg.errors == []


def shot(pg, name):
    ARTIFACTS.mkdir(exist_ok=True)
    pg.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
