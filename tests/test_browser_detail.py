"""Issue #12 on the job page in Chromium at desktop and phone sizes: "Refresh this job" shows its
own progress and swaps the refreshed fields in place (7); a voice assessment shows its chart with
one-sided limits marked (13) and says when the overall advice exists only in Chinese (10).
Screenshots of an avatar job and a voice assessment in both languages go to test-artifacts/.
"""

import os

import pytest

# Playwright's sync API runs an event loop in this thread (see tests/test_browser.py).
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

from jobs import tasks  # noqa: E402
from jobs.models import Assessment, Job, SyncRun  # noqa: E402
from tests import test_browser  # noqa: E402
from tests.fixtures_browser import SIZES, open_page, shot_as  # noqa: E402
from tests.test_browser import browser, synced  # noqa: E402,F401 - fixtures

pytestmark = list(test_browser.pytestmark)
PASSWORD = "pw-detail-Walk-12"


def logged_in(browser, live_server, **kwargs):  # noqa: F811
    """open_page, logged in again by this module: open_page's submit locator also matches the
    language switcher's buttons (the first form on the login page), so its click may switch the
    language instead of logging in, and its wait for a URL ending in "/" matches the login page."""
    pg = open_page(browser, live_server, **kwargs)
    pg.context.clear_cookies()
    pg.route("**/favicon.ico", lambda route: route.fulfill(status=204))  # no icon: its 404 is no error here
    pg.user.set_password(PASSWORD)
    pg.user.save()
    pg.goto(pg.base + "/accounts/login/")
    pg.fill("input[name=username]", pg.user.username)
    pg.fill("input[name=password]", PASSWORD)
    pg.locator("form[action='/accounts/login/'] button[type=submit]").click()
    pg.wait_for_url(lambda url: "/accounts/login/" not in url)
    pg.errors.clear()  # open_page's own page loads asked for the icon before the route above
    return pg


@pytest.mark.parametrize("size", SIZES)
def test_an_operator_refreshes_a_job_and_its_fields_change_in_place(browser, live_server, synced, fakecloud, size):  # noqa: F811
    job = Job.objects.filter(kind="avatar_training", state="TRAINING").order_by("pk").first()
    pg = logged_in(browser, live_server, size=size)
    pg.goto(f"{pg.base}/jobs/{job.pk}/")
    shot_as(pg, f"job-avatar-{size}-en")
    assert pg.locator(".head-badges .raw-state").inner_text() == "TRAINING"

    fakecloud.set_state("avatar_training", job.remote_id, "TRAIN_FAILED")  # what the refresh will find
    pg.get_by_role("button", name="Refresh this job").click()
    progress = pg.locator("#refresh-progress .progress")
    progress.get_by_text("Refreshing this job…").wait_for()
    run = SyncRun.objects.get(trigger="refresh")
    tasks.refresh_job(job.pk, run_id=run.pk)  # what the worker would do

    progress.get_by_text("Refreshed at").wait_for()
    # The job's own line, no sync page wording, and the page changed without a reload.
    assert progress.locator("a").count() == 0 and "pages" not in progress.inner_text()
    pg.locator(".head-badges .raw-state", has_text="TRAIN_FAILED").wait_for()
    assert pg.locator(".head-badges .badge.st-failed").is_visible()
    assert "TRAIN_FAILED" in pg.locator("section[aria-labelledby=h-fields]").inner_text()
    assert pg.locator("ol.timeline li.step", has_text="TRAINING → TRAIN_FAILED").count() == 1
    assert pg.evaluate("performance.getEntriesByType('navigation').length") == 1  # no reload
    shot_as(pg, f"job-avatar-refreshed-{size}-en")
    assert pg.errors == []

    zh = logged_in(browser, live_server, size=size, lang="zh")
    zh.goto(f"{zh.base}/jobs/{job.pk}/")
    zh.get_by_role("button", name="刷新此任务").wait_for()
    shot_as(zh, f"job-avatar-{size}-zh")


@pytest.mark.parametrize("size", SIZES)
def test_a_voice_assessment_shows_its_chart_with_the_limits_marked(browser, live_server, synced, size):  # noqa: F811
    assessment = Assessment.objects.filter(job__kind="voice_assessment").order_by("pk").first()
    for lang in ("en", "zh"):
        pg = logged_in(browser, live_server, size=size, lang=lang, role="viewer")
        pg.goto(f"{pg.base}/jobs/{assessment.job_id}/")
        chart = pg.locator("section[aria-labelledby=h-assessment] svg.chart")
        chart.wait_for()
        metrics = assessment.metrics.count()
        assert chart.locator("circle.marker").count() == metrics
        one_sided = assessment.metrics.exclude(expected__regex=r"\d\s*-").count()  # ">=35.0", "<=0.40"
        assert one_sided and chart.locator("line.limit").count() == one_sided
        # The chart fits the screen and its text stays readable (at least 9 px on a phone).
        box = chart.bounding_box()
        assert box["width"] <= pg.viewport_size["width"]
        smallest = pg.evaluate(
            "() => Math.min(...[...document.querySelectorAll('section[aria-labelledby=h-assessment] svg.chart text')]"
            ".map(t => t.getBoundingClientRect().height))"
        )
        assert smallest >= 9
        overall = pg.locator("p.overall")
        if lang == "en":
            assert overall.locator('span[lang="zh"]').count() == 1 and "(Chinese only)" in overall.inner_text()
        else:
            assert overall.locator("[lang]").count() == 0
        shot_as(pg, f"job-assessment-{size}-{lang}")
        assert pg.errors == []
