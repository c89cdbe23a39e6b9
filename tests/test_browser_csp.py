"""Issue #11, finding 5: the dashboard and the admin under the strict Content-Security-Policy,
in headless Chromium (the browser and the synced fakecloud cache of tests/test_browser.py).

Every page is walked with a listener for `securitypolicyviolation` events (installed before any
page script), CSP console reports and page errors; the htmx swaps (filters, counts, load more, the live
refresh, Sync now, Refresh this job) must still happen, and the charts keep their colours.
"""

import os
import re
from datetime import timedelta

import pytest

# Playwright's sync API runs an event loop in this thread (see tests/test_browser.py).
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

from django.contrib.auth.models import User  # noqa: E402
from django.utils import timezone  # noqa: E402

from jobs.models import Job  # noqa: E402
from tests import test_browser  # noqa: E402
from tests.test_browser import browser, synced  # noqa: E402,F401 - fixtures

pytestmark = list(test_browser.pytestmark)

PASSWORD = "pw-sue-Csp-42"
REPORT_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", (e) => {
  window.reportViolation([e.violatedDirective, e.blockedURI, e.sourceFile + ":" + e.lineNumber, e.sample].join(" | "));
});
"""


@pytest.fixture
def watched(browser, live_server, synced):  # noqa: F811
    """A fresh browser context that records CSP violations (events and console reports) and page errors."""
    User.objects.create_superuser("sue", password=PASSWORD)
    context = browser.new_context(viewport={"width": 1366, "height": 900})
    problems = []
    context.expose_function("reportViolation", lambda text: problems.append(f"violation: {text}"))
    context.add_init_script(REPORT_VIOLATIONS)
    pg = context.new_page()

    def on_console(message):
        # Chromium's report of a blocked resource, and htmx's when it may not evaluate code.
        if "Content Security Policy" in message.text or "htmx:eval" in message.text:
            problems.append(f"console {message.type}: {message.text}")

    pg.on("console", on_console)
    pg.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    pg.set_default_timeout(15_000)
    pg.base = live_server.url
    pg.problems = problems
    yield pg
    context.close()


def visit(pg, path):
    """Open a page and check it came with the policy."""
    response = pg.goto(pg.base + path)
    assert response.ok, (path, response.status)
    policy = response.headers.get("content-security-policy", "")
    assert "script-src 'self'" in policy and "unsafe" not in policy, (path, policy)
    return response


def log_in(pg, username="sue", password=PASSWORD):
    pg.fill("input[name=username]", username)
    pg.fill("input[name=password]", password)
    with pg.expect_navigation():
        pg.get_by_role("button", name="Log in").click()


def row_count(pg):
    return pg.locator("#job-rows tr[id^=job-]").count()


def test_the_dashboard_works_under_the_policy(watched):
    pg = watched
    visit(pg, "/accounts/login/")
    for _ in range(5):  # someone else's wrong passwords: the lockout page is the site's own
        log_in(pg, "mallory", "wrong")
    pg.get_by_role("heading", name="Too many failed sign-ins").wait_for()
    assert pg.get_by_text(re.compile(r"try again in \d+ minutes")).is_visible()

    visit(pg, "/accounts/login/")
    log_in(pg)
    pg.wait_for_url(re.compile(r"/$"))

    visit(pg, "/")
    pg.get_by_role("heading", name="Jobs by status").wait_for()
    assert pg.locator("svg.chart rect").count() > 0
    swatches = pg.locator(".legend .swatch").evaluate_all("els => els.map(e => getComputedStyle(e).backgroundColor)")
    assert swatches and "rgba(0, 0, 0, 0)" not in swatches, swatches  # coloured by the stylesheet

    visit(pg, "/jobs/")
    pg.locator("#counts .total").wait_for()  # hx-trigger="load"
    assert row_count(pg) == 50
    pg.locator("details[data-field=status] summary").click()
    pg.get_by_label("Failed", exact=True).check()  # hx-get on change, URL pushed
    pg.wait_for_url(re.compile(r"status=failed"))
    pg.wait_for_function(
        "() => { const rows = document.querySelectorAll('#job-rows tr[id^=job-]');"
        " return rows.length > 0 && [...rows].every(r => r.querySelector('.badge.st-failed')); }"
    )
    visit(pg, "/jobs/")
    pg.get_by_role("link", name="Load more").click()
    pg.wait_for_function("() => document.querySelectorAll('#job-rows tr[id^=job-]').length > 50")

    # The live refresh: a job the sync just touched appears at the top on the next poll.
    job = Job.objects.order_by("updated_at").first()
    Job.objects.filter(pk=job.pk).update(synced_at=timezone.now() + timedelta(seconds=1), name="Touched by a sync")
    pg.locator("#job-rows tr.fresh", has_text="Touched by a sync").wait_for(timeout=30_000)

    job = Job.objects.filter(assessment__isnull=False, events__isnull=False).distinct().first()
    visit(pg, f"/jobs/{job.pk}/")
    pg.get_by_role("heading", name="Timeline").wait_for()
    assert pg.locator("ol.timeline li.step").count() >= 1
    assert pg.locator("svg.chart circle.marker").count() >= 1
    pg.get_by_role("button", name="Refresh this job").click()  # hx-post with the CSRF header
    pg.locator("#refresh-progress .progress").wait_for()

    visit(pg, "/preferences/")
    pg.get_by_label("Time zone").select_option("Asia/Shanghai")
    pg.get_by_role("button", name="Save").click()
    pg.get_by_text("Preferences saved.").wait_for()
    pg.get_by_role("button", name="简体中文").click()
    pg.get_by_role("heading", name="偏好设置").wait_for()
    pg.get_by_role("button", name="English").click()
    pg.get_by_role("heading", name="Preferences").wait_for()

    assert pg.problems == [], "\n".join(pg.problems)


def test_sync_now_works_under_the_policy(watched):
    pg = watched
    visit(pg, "/accounts/login/")
    log_in(pg)
    pg.wait_for_url(re.compile(r"/$"))

    visit(pg, "/sync/")
    card = pg.locator("section.card", has=pg.get_by_role("heading", name=re.compile("fc-huawei")))
    card.get_by_role("button", name="Sync now").click()  # hx-post, then polls every second
    card.locator(".progress li").first.wait_for()
    pg.wait_for_timeout(1500)  # let a poll or two run under the policy

    assert pg.problems == [], "\n".join(pg.problems)


ADMIN_PAGES = [
    "/admin/",
    "/admin/jobs/cloudaccount/",
    "/admin/jobs/cloudaccount/add/",
    "/admin/jobs/job/?status__exact=failed",
    "/admin/jobs/syncrun/",
    "/admin/axes/accessattempt/",
    "/admin/auth/user/add/",
]


def test_the_admin_works_under_the_policy(watched):
    pg = watched
    visit(pg, "/admin/login/")
    log_in(pg)
    pg.wait_for_url(re.compile(r"/admin/$"))

    for path in ADMIN_PAGES:
        visit(pg, path)
    visit(pg, "/admin/jobs/cloudaccount/")
    pg.locator("#result_list tbody a").first.click()
    pg.get_by_role("button", name="Save and continue editing").wait_for()
    pg.locator("#toggle-nav-sidebar").click()  # the admin's own scripts run

    assert pg.problems == [], "\n".join(pg.problems)
