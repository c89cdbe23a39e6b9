"""Issue #12 on the job list, in Chromium at desktop and phone sizes over the synced fakecloud
cache: a row that arrives by live refresh ends "No jobs match these filters.", a filter menu's
button names what is ticked at once, "Load more" twice then a job then Back gives the same rows
at the same scroll position, and a column header sorts the list."""

import os
import re
from datetime import timedelta

import pytest

# Playwright's sync API runs an event loop in this thread (see tests/test_browser.py).
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

from django.utils import timezone  # noqa: E402

from jobs import selectors  # noqa: E402
from jobs.models import Job  # noqa: E402
from tests import test_browser  # noqa: E402
from tests.fixtures_browser import SIZES, open_page, shot_as  # noqa: E402
from tests.fixtures_ui import make_job  # noqa: E402
from tests.test_browser import browser, row_ids, synced  # noqa: E402,F401 - fixtures

pytestmark = list(test_browser.pytestmark)

ROWS = "#job-rows tr[id^=job-]"
# What the 10 s poller would do, now: the same request, target and swap (htmx.ajax).
POLL_NOW = """() => { const p = document.getElementById('poller');
  return htmx.ajax('GET', p.getAttribute('hx-get'), {source: p, target: '#job-rows', swap: 'afterbegin'}); }"""


def _summary(pg, field):
    return pg.locator(f"details.dropdown[data-field={field}] > summary")


def _open(chromium, live_server, **kwargs):
    """open_page, made sure of: its submit locator can pick the header's language button, and
    its wait_for_url(r"/$") also matches /accounts/login/, so log in again when it did not land."""
    pg = open_page(chromium, live_server, **kwargs)
    if "/accounts/login/" in pg.url:
        pg.user.set_password("pw-h4-List-12")
        pg.user.save()
        pg.fill("input[name=username]", pg.user.username)
        pg.fill("input[name=password]", "pw-h4-List-12")
        pg.locator("main form button[type=submit]").click()
    pg.wait_for_url(re.compile(r"^https?://[^/]+/$"))
    # That language button also left its cookie: ask for the page's language again.
    language = "zh-hans" if kwargs.get("lang") == "zh" else "en"
    pg.context.add_cookies([{"name": "django_language", "value": language, "url": pg.base}])
    pg.errors.clear()  # the login page's favicon 404
    return pg


def _idle(pg):
    """No htmx request in flight (twice, 300 ms apart: a swap's `load` triggers start the next).
    The live server's in-memory SQLite refuses the test's writes while it reads ("table is
    locked"), so the test writes only when the page is quiet."""
    for _ in range(2):
        pg.wait_for_function("() => !document.querySelector('.htmx-request')")
        pg.wait_for_timeout(300)


def _wait_count(pg, n):
    pg.wait_for_function(f"() => document.querySelectorAll('{ROWS}').length === {n}")


@pytest.mark.parametrize("size", SIZES)
def test_the_job_list_walk(browser, live_server, synced, size):  # noqa: F811
    account = synced[0]
    pg = _open(browser, live_server, size=size)

    # 4. A search with no result; a matching job arrives by the live refresh.
    pg.goto(pg.base + "/jobs/?q=zz-late-arrival")
    pg.get_by_text("No jobs match these filters.").wait_for()
    pg.locator("#counts .total").wait_for()
    _idle(pg)
    late = make_job(account, name="zz-late-arrival", synced_at=timezone.now() + timedelta(seconds=1))
    pg.evaluate(POLL_NOW)
    pg.locator(f"#job-{late.pk}").wait_for()
    pg.get_by_text("No jobs match these filters.").wait_for(state="detached")
    pg.wait_for_function("() => document.querySelector('#counts .total')?.textContent.trim() === '1 job'")
    # It changes again: the next refresh replaces its row (the answer's X-Removed-Rows), no copy.
    _idle(pg)
    Job.objects.filter(pk=late.pk).update(
        name="zz-late-arrival renamed", synced_at=timezone.now() + timedelta(seconds=2)
    )
    # The answer also reloads the counts: let that finish before the next write (the live
    # server's in-memory SQLite refuses a read while the test writes: "table is locked").
    with pg.expect_response(lambda r: "/jobs/counts/" in r.url):
        pg.evaluate(POLL_NOW)
    pg.locator(f"#job-{late.pk}", has_text="renamed").wait_for()
    assert pg.locator(f"#job-rows tr[id=job-{late.pk}]").count() == 1
    _idle(pg)
    late.delete()

    # 5. Ticking kinds names them on the button at once (the filter request swaps #results only).
    pg.goto(pg.base + "/jobs/")
    kind = _summary(pg, "kind")
    assert kind.inner_text().strip() == "Kind"
    kind.click()
    pg.get_by_role("checkbox", name="Translation").check()
    assert re.sub(r"\s+", " ", kind.inner_text()).strip() == "Kind: Translation"
    pg.get_by_role("checkbox", name="Voice training").check()
    assert kind.locator(".count").inner_text() == "2"
    assert ":" not in kind.inner_text()

    # 6. Load more twice, open a job, Back: the same rows at the same scroll position.
    _idle(pg)
    while Job.objects.filter(gone=False).count() < 160:
        make_job(account, name=f"filler {Job.objects.count()}", updated_at=timezone.now() - timedelta(days=400))
    pg.goto(pg.base + "/jobs/")
    for shown in (100, 150):
        pg.locator("#load-more a").click()
        _wait_count(pg, shown)
        pg.wait_for_url(re.compile(rf"[?&]n={shown}\b"))
    before = row_ids(pg)
    target = pg.locator(ROWS).nth(120)
    target.scroll_into_view_if_needed()
    pg.mouse.wheel(0, 200)
    pg.wait_for_timeout(200)
    scroll = pg.evaluate("() => window.scrollY")
    assert scroll > 1000
    target.locator("td.name a").click()
    pg.wait_for_url(re.compile(r"/jobs/\d+/$"))
    pg.go_back()
    pg.wait_for_url(re.compile(r"[?&]n=150\b"))
    _wait_count(pg, 150)
    assert row_ids(pg) == before
    pg.wait_for_function(f"() => Math.abs(window.scrollY - {scroll}) <= 2")

    # 18. The "Job" column header sorts by name, and says so.
    pg.goto(pg.base + "/jobs/")
    header = pg.locator("th", has=pg.get_by_role("link", name="Job", exact=True))
    assert header.get_attribute("aria-sort") is None
    header.get_by_role("link").click()
    pg.wait_for_url(re.compile(r"sort=name"))
    pg.wait_for_function("() => document.querySelector('th[aria-sort=ascending]') !== null")
    assert header.get_attribute("aria-sort") == "ascending"
    assert pg.locator("select[name=sort]").input_value() == "name"
    by_name = selectors.job_page(selectors.filter_jobs({}), "name", None, 50).rows
    assert row_ids(pg) == [j.pk for j in by_name]
    assert not pg.errors, pg.errors

    for lang in ("en", "zh"):
        shown = _open(browser, live_server, size=size, lang=lang)
        shown.goto(shown.base + "/jobs/?kind=voice_training&kind=translation&sort=state_age")
        shown.locator("#counts .total").wait_for()
        shot_as(shown, f"joblist-{size}-{lang}")
        shown.context.close()
    pg.context.close()
