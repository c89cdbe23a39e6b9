"""Issue #12, findings 9 and 17: every main page fits a 390 px phone (no sideways scrolling of
the page; wide tables scroll inside their own box) and has no serious or critical axe-core
violation, at desktop and phone sizes, in English and Chinese.

axe-core comes from the installed axe-playwright-python package (its axe.min.js), injected into
the page as a script: nothing is fetched from a CDN. One test per size walks every page in both
languages over one synced cache, collects every problem and asserts at the end.
"""

import os
from pathlib import Path

import pytest

# Playwright's sync API runs an event loop in this thread (see tests/test_browser.py).
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

import axe_playwright_python  # noqa: E402

from jobs.models import AssessmentMetric  # noqa: E402
from tests import test_browser  # noqa: E402
from tests.fixtures_browser import PHONE, SIZES, open_page, page_width, shot_as  # noqa: E402
from tests.test_browser import browser, synced  # noqa: E402,F401 - fixtures

pytestmark = list(test_browser.pytestmark)

AXE_SOURCE = (Path(axe_playwright_python.__file__).parent / "axe.min.js").read_text(encoding="utf-8")
# Rule tags of WCAG 2.1 A and AA plus axe's best practices; only serious and critical fail.
RUN_AXE = """async () => {
  const result = await axe.run(document, {resultTypes: ["violations"]});
  return result.violations
    .filter((v) => v.impact === "serious" || v.impact === "critical")
    .map((v) => `${v.id} (${v.impact}): ${v.nodes.slice(0, 3).map((n) => n.target.join(" ")).join(" | ")}`);
}"""


def main_pages():
    """Path and short name of each main page; the job page is one with an assessment chart."""
    job = AssessmentMetric.objects.select_related("assessment").first().assessment.job_id
    return [
        ("/", "overview"),
        ("/jobs/", "list"),
        (f"/jobs/{job}/", "job"),
        ("/triage/", "triage"),
        ("/stages/", "stages"),
        ("/sync/", "sync"),
        ("/track/", "track"),
        ("/preferences/", "preferences"),
    ]


def logged_in(browser, live_server, size, lang):  # noqa: F811 - the fixture, passed on
    """open_page, with the language also picked in the header's switch, as a user would."""
    pg = open_page(browser, live_server, size=size, lang=lang)
    code = "zh-hans" if lang == "zh" else "en"
    with pg.expect_navigation():
        pg.locator(f"form.lang button[value={code}]").click()
    assert pg.get_attribute("html", "lang") == code, (lang, pg.get_attribute("html", "lang"))
    return pg


def axe_violations(pg) -> list[str]:
    # Through the DevTools protocol, which the page's Content-Security-Policy does not govern
    # (a <script> tag from add_script_tag would be refused as inline script).
    pg.evaluate(AXE_SOURCE + "\n;undefined")
    return pg.evaluate(RUN_AXE)


def check_page(pg, name, size, problems):
    if size == "phone":
        width = page_width(pg)
        if width > PHONE["width"]:
            problems.append(f"{name}: page is {width} px wide")
    problems.extend(f"{name}: {v}" for v in axe_violations(pg))
    shot_as(pg, name)


@pytest.mark.parametrize("size", SIZES)
def test_main_pages_fit_the_screen_and_pass_axe(browser, live_server, synced, size):  # noqa: F811
    problems = []
    pages = main_pages()
    for lang in ("en", "zh"):
        pg = logged_in(browser, live_server, size, lang)
        for path, short in pages:
            response = pg.goto(pg.base + path)
            assert response.ok, (path, response.status)
            check_page(pg, f"{short}-{size}-{lang}", size, problems)
            if short == "list":
                # A job's name keeps a readable width (in Chinese it once stacked a character a line).
                narrowest = pg.evaluate(
                    "Math.min(...[...document.querySelectorAll('#job-rows td.name')].map(td => td.clientWidth))"
                )
                if narrowest < 140:
                    problems.append(f"list-{size}-{lang}: a job name column only {narrowest} px wide")
        # The skip link is the first thing Tab reaches, and it leads to the content.
        pg.goto(pg.base + "/jobs/")
        pg.keyboard.press("Tab")
        focused = pg.evaluate("[document.activeElement.getAttribute('href'), document.activeElement.textContent]")
        if focused[0] != "#content":
            problems.append(f"skip link-{lang}: first Tab reaches {focused}")
        # The login page, logged out.
        pg.context.clear_cookies(name="sessionid")
        pg.goto(pg.base + "/accounts/login/")
        check_page(pg, f"login-{size}-{lang}", size, problems)
        pg.context.close()
    assert not problems, "\n".join(problems)
