"""Issue #12, items 2, 3, 10a, 11, 14 and 15: the overview's stuck card, live refresh and chart
links; tracking short jobs by id; the sync page's triggers, its Sync now guard and self-refreshing
history; the 403 page a viewer gets."""

import re
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.utils import timezone

from jobs import sync
from jobs.models import Job, SyncRun
from tests.fixtures_sync import make_fakecloud_accounts
from tests.fixtures_ui import make_account, make_job, make_run

pytestmark = pytest.mark.django_db
UUID = "26f06524-4f75-4b3a-a853-b649a21aaf66"


def _html(response):
    return response.content.decode()


# --- item 2: the stuck card -----------------------------------------------------------------


def test_it_ranks_stuck_jobs_by_how_far_past_their_limit_and_running_first(viewer_client, account):
    now = timezone.now()
    for n in range(12):  # voice drafts waiting for their recordings: 5x their 48 h limit
        make_job(
            account,
            kind="voice_training",
            state="CREATING",
            name=f"draft {n}",
            state_changed_at=now - timedelta(days=10),
        )
    make_job(account, state="TRAINING", name="hung trainer", state_changed_at=now - timedelta(days=4))  # 1.3x of 72 h
    make_job(
        account, kind="translation", state="Submitted", name="translation", state_changed_at=now - timedelta(hours=8)
    )
    html = _html(viewer_client.get("/"))
    card = html[html.index('id="h-stuck"') : html.index('id="h-failures"')]
    names = re.findall(r'<a href="/jobs/\d+/">([^<]+)</a>', card)
    assert names[0] == "hung trainer"  # running: weighed above the waiting drafts
    assert len(names) == 10 and "translation" not in names  # 1.3x of 6 h, waiting: least overdue
    assert '<span class="count">14</span>' in card  # the total stuck, not the 10 shown
    assert 'href="/jobs/?stuck=1">all 14</a>' in card


# --- item 14: the overview refreshes itself; chart segments link to the list -------------------


def test_the_overview_polls_itself_and_answers_htmx_with_its_partial(viewer_client, account):
    make_job(account, state="TRAINING", name="moving")
    html = _html(viewer_client.get("/"))
    assert re.search(r'<div id="overview" hx-get="/" hx-trigger="every (\d+)s"', html)
    assert 30 <= int(re.search(r'id="overview" hx-get="/" hx-trigger="every (\d+)s"', html).group(1)) <= 60
    partial = _html(viewer_client.get("/", headers={"HX-Request": "true"}))
    assert partial.startswith('<div id="overview"') and "<html" not in partial


def test_chart_segments_open_the_list_filtered_by_account_kind_and_status(viewer_client, account):
    make_job(account, state="TRAINING")
    cache.clear()  # the counts are kept for a minute
    html = _html(viewer_client.get("/"))
    svg = html[html.index("<svg") : html.index("</svg>")]
    assert f'<a href="/jobs/?account={account.pk}&amp;kind=avatar_training&amp;status=running"' in svg


# --- item 3: tracking short jobs --------------------------------------------------------------


def test_it_refuses_ids_that_cannot_exist_one_message_per_id(operator_client, account):
    response = operator_client.post("/track/", {"account": account.pk, "ids": f"not-an-id {UUID}, 12345"})
    html = _html(response)
    assert response.status_code == 200
    assert "“not-an-id” cannot be a short-job id" in html and "“12345” cannot be a short-job id" in html
    assert not Job.objects.exists()


def test_the_account_menu_preselects_the_only_huawei_account(operator_client, account):
    make_account("tencent-one", provider="tencent")
    html = _html(operator_client.get("/track/"))
    assert re.search(rf'<option value="{account.pk}" selected>', html)
    make_account("huawei-two")
    html = _html(operator_client.get("/track/"))
    assert not re.search(r'<option value="\d+" selected', html)


def test_it_reports_each_id_found_or_not_and_keeps_only_those_found(operator_client, fakecloud):
    hw, _ci = make_fakecloud_accounts(fakecloud.url)
    real = fakecloud.short_job_ids()[0]
    response = operator_client.post("/track/", {"account": hw.pk, "ids": f"{real}\n{UUID}"})
    assert response.status_code == 302
    runs = list(SyncRun.objects.filter(account=hw, outcome=SyncRun.Outcome.QUEUED))
    assert [r.kind for r in runs] == ["voice_assessment"]
    assert "Checking…" in _html(operator_client.get("/track/"))
    sync.sync_account(hw, kinds=["voice_assessment"], trigger="manual", runs=runs)  # what the worker does
    html = _html(operator_client.get("/track/"))
    assert "1 found, 1 not found at the vendor, 0 not read yet." in html
    assert re.search(rf'<tr class="track-found">\s*<td class="mono">{real}</td>', html)
    assert re.search(rf'<tr class="track-missing">\s*<td class="mono">{UUID}</td>', html)
    assert list(Job.objects.filter(account=hw).values_list("remote_id", flat=True)) == [real]


# --- item 10a: the trigger column -------------------------------------------------------------


def test_the_trigger_column_shows_labels(viewer_client, account):
    make_run(account, trigger="schedule", outcome="succeeded")
    make_run(account, trigger="manual", outcome="succeeded")
    html = _html(viewer_client.get("/sync/"))
    assert re.findall(r'<td class="trigger">([^<]*)</td>', html) == ["manual", "scheduled"]
    html = _html(viewer_client.get("/sync/", headers={"Accept-Language": "zh-hans"}))
    assert "schedule<" not in html


# --- item 11: viewers ---------------------------------------------------------------------------


@pytest.mark.parametrize("lang, nav", [("en", ">Overview</a>"), ("zh-hans", ">概览</a>")])
def test_a_viewer_gets_a_403_page_with_navigation_in_their_language(viewer_client, account, lang, nav):
    response = viewer_client.get("/track/", headers={"Accept-Language": lang})
    html = _html(response)
    assert response.status_code == 403
    assert f'<html lang="{lang}">' in html and 'class="mainnav"' in html and nav in html
    assert "operator" in html.lower() or "操作员" in html


def test_the_sync_page_tells_viewers_who_may_sync(viewer_client, account):
    assert "Starting a sync is for operators" in _html(viewer_client.get("/sync/"))


# --- item 15: Sync now waits for the running sync ----------------------------------------------


def test_sync_now_queues_one_sync_and_renders_disabled_while_it_runs(operator_client, account):
    first = operator_client.post("/sync/now/", {"account": account.pk}, headers={"HX-Request": "true"})
    kinds = len(account.sync_kinds())
    assert SyncRun.objects.count() == kinds
    assert re.search(r'<button type="submit" class="sync-now" disabled[^>]*>.*Sync running', _html(first), re.S)
    operator_client.post("/sync/now/", {"account": account.pk})  # the double click
    operator_client.post("/sync/now/", {"account": account.pk}, headers={"HX-Request": "true"})
    assert SyncRun.objects.count() == kinds
    html = _html(operator_client.get("/sync/"))
    assert "Sync running" in html and f'id="sync-card-{account.pk}"' in html
    poll = re.search(r'id="sync-card-\d+"[^>]*hx-get="([^"]+)" hx-trigger="every 1s"', html)
    assert poll, "the card polls while its sync runs"
    url = poll.group(1).replace("&amp;", "&")
    assert operator_client.get(url, headers={"HX-Request": "true"}).status_code == 204  # nothing changed
    SyncRun.objects.update(outcome="succeeded", finished_at=timezone.now(), pages=3)
    card = _html(operator_client.get(url, headers={"HX-Request": "true"}))
    assert card.startswith(f'<section class="card" id="sync-card-{account.pk}"') and "hx-trigger" not in card
    assert '<button type="submit" class="sync-now">Sync now</button>' in card and "Sync finished." in card
    assert card.count("oc-succeeded") >= 2 * kinds  # the progress and the run history, refreshed
    operator_client.post("/sync/now/", {"account": account.pk})
    assert SyncRun.objects.count() == 2 * kinds
