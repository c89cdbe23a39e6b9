"""Batch and tag roll-ups (jobs.rollups, jobs.batches, /batches/): counts against a hand-counted
cache, the summary following the jobs through syncs, the page, its CSV, the job list's header for
one batch, and the failure totals the triage page reads from the same refresh."""

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse

from jobs import batches, rollups, sync, triage
from jobs.models import Job
from jobs.rollup_models import FailureRollup, Rollup
from tests.fixtures_sync import StubProvider, make_record
from tests.fixtures_ui import make_account, make_job

AV, VT = "avatar_training", "voice_training"
NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


def at(hours_ago):
    return NOW - timedelta(hours=hours_ago)


@pytest.fixture
def cache(db):
    """Hand-counted. Batch "b1": account A avatar 2 succeeded, 1 failed, 1 TRAINING for 100 h
    (stuck: the limit is 72 h), 1 JOB_PENDING (paused: needs action) for 1 h; account B voice
    1 succeeded, 1 WAITING (queued) for 500 h (stuck: the limit is 48 h). Batch "b2": A avatar 1 succeeded. Tag "vip" on the two b1 avatar
    successes and the b2 one; tag "cn" on B's waiting job. A gone b1 job and a job with neither
    batch nor tag count nowhere."""
    a, b = make_account("acc-a"), make_account("acc-b")
    common = {"created_at": at(200), "updated_at": at(5)}
    jobs = {
        "a_ok1": make_job(a, AV, "JOB_SUCCESS", batch="b1", tags=["vip"], **{**common, "updated_at": at(2)}),
        "a_ok2": make_job(a, AV, "JOB_SUCCESS", batch="b1", tags=["vip"], finished_at=at(3), **common),
        "a_fail": make_job(a, AV, "TRAIN_FAILED", batch="b1", error_message="exited with code 137 on node-2", **common),
        "a_stuck": make_job(a, AV, "TRAINING", batch="b1", state_changed_at=at(100), started_at=at(150), **common),
        "a_queued": make_job(a, AV, "JOB_PENDING", batch="b1", state_changed_at=at(1), **common),
        "b_ok": make_job(b, VT, "SUCCEED", batch="b1", **{**common, "created_at": at(300)}),
        "b_wait": make_job(b, VT, "WAITING", batch="b1", tags=["cn"], state_changed_at=at(500), **common),
        "b2_ok": make_job(a, AV, "JOB_SUCCESS", batch="b2", tags=["vip"], finished_at=at(1), **common),
        "gone": make_job(a, AV, "TRAINING", batch="b1", tags=["vip"], gone=True, **common),
        "loose": make_job(a, AV, "TRAINING", **common),
    }
    Job.objects.filter(pk=jobs["a_fail"].pk).update(
        failure_group=triage.signature(AV, "", "exited with code 137 on node-2"), state_changed_at=at(4)
    )
    rollups.refresh_all(now=NOW)
    return a, b, jobs


def by_name(found):
    return {line.name: line for line in found}


@pytest.mark.db_sensitive
def test_batches_are_counted_against_the_hand_counted_cache(cache):
    found, total = batches.lines("batch", {}, now=NOW)

    assert total == 2 and [line.name for line in found] == ["b1", "b2"]  # latest activity first
    b1 = by_name(found)["b1"]
    assert b1.counts == {"succeeded": 3, "failed": 1, "running": 1, "queued": 1, "needs_action": 1}
    assert (b1.total, b1.unfinished, b1.settled, b1.stuck) == (7, 3, 4, 2)
    assert b1.accounts == ["acc-a", "acc-b"] and sorted(b1.kinds) == [AV, VT]
    assert b1.first_created == at(300) and b1.started == at(150) and b1.last_activity == at(2)
    assert b1.finished is None  # three jobs are not done
    b2 = by_name(found)["b2"]
    assert (b2.total, b2.unfinished, b2.finished) == (1, 0, at(1))
    # The bar: settled first, widths are shares of the batch.
    assert [(s.key, s.jobs) for s in b1.segments] == [
        ("succeeded", 3),
        ("failed", 1),
        ("needs_action", 1),
        ("running", 1),
        ("queued", 1),
    ]
    assert sum(s.width for s in b1.segments) == pytest.approx(100, abs=0.01)


@pytest.mark.db_sensitive
def test_filters_narrow_the_rollup_to_accounts_clouds_kinds_and_names(cache):
    a, b, _ = cache
    only_b = by_name(batches.lines("batch", {"account": [b.pk]}, now=NOW)[0])
    assert list(only_b) == ["b1"] and (only_b["b1"].total, only_b["b1"].unfinished, only_b["b1"].stuck) == (2, 1, 1)
    assert by_name(batches.lines("batch", {"kind": [AV]}, now=NOW)[0])["b1"].total == 5
    assert batches.lines("batch", {"cloud": ["tencent"]}, now=NOW) == ([], 0)
    assert [line.name for line in batches.lines("batch", {"q": "2"}, now=NOW)[0]] == ["b2"]


@pytest.mark.db_sensitive
def test_tags_are_counted_per_tag(cache):
    found = by_name(batches.lines("tag", {}, now=NOW)[0])

    assert set(found) == {"vip", "cn"}
    assert (found["vip"].total, found["vip"].counts) == (3, {"succeeded": 3})
    assert (found["cn"].total, found["cn"].unfinished) == (1, 1)


def test_pages_of_names(cache):
    first, total = batches.lines("batch", {}, page=1, per_page=1, now=NOW)
    second, _ = batches.lines("batch", {}, page=2, per_page=1, now=NOW)
    assert total == 2 and [first[0].name, second[0].name] == ["b1", "b2"]


@pytest.mark.db_sensitive
def test_the_failure_totals_come_from_the_same_refresh(cache):
    a, _, jobs = cache
    (row,) = FailureRollup.objects.all()
    assert (row.account_id, row.kind, row.jobs, row.batches, row.batch_count) == (a.pk, AV, 1, ["b1"], 1)
    assert row.first_at == row.last_at == at(4)


@pytest.mark.db_sensitive
def test_a_sync_refreshes_its_partition_and_only_its_own(db, huawei_account):
    other = make_account("untouched")
    make_job(other, AV, "TRAINING", batch="elsewhere")
    rollups.refresh_partition(other.pk, AV)
    p = StubProvider([make_record(n=i, state="TRAINING", batch="wave-1", tags=("vip",)) for i in range(4)])

    sync.sync_account_kind(huawei_account, AV, provider=p)

    wave = batches.line("batch", "wave-1", {})
    assert (wave.total, wave.unfinished, wave.counts) == (4, 4, {"running": 4})
    # Two jobs finish, one fails, one leaves the batch: the next sync recounts the partition.
    p.records[AV] = [
        make_record(n=0, state="JOB_SUCCESS", batch="wave-1", tags=("vip",)),
        make_record(n=1, state="JOB_SUCCESS", batch="wave-1", tags=("vip",)),
        make_record(n=2, state="TRAIN_FAILED", batch="wave-1", error_message="exited with code 1 on node-4"),
        make_record(n=3, state="TRAINING", batch="wave-2", tags=("vip",)),
    ]
    sync.sync_account_kind(huawei_account, AV, provider=p, full=True)

    wave = batches.line("batch", "wave-1", {})
    assert (wave.total, wave.unfinished, wave.counts) == (3, 0, {"succeeded": 2, "failed": 1})
    assert batches.line("batch", "wave-2", {}).total == 1
    assert batches.line("tag", "vip", {}).total == 3
    assert FailureRollup.objects.get(account=huawei_account).jobs == 1
    assert batches.line("batch", "elsewhere", {}).total == 1  # another partition: left as it was
    # A run that changed nothing does not rewrite the summary.
    stamp = set(Rollup.objects.values_list("computed_at", flat=True))
    sync.sync_account_kind(huawei_account, AV, provider=p, full=True)
    assert set(Rollup.objects.values_list("computed_at", flat=True)) == stamp


def test_deleting_an_account_deletes_its_rollups(cache):
    a, b, _ = cache
    a.delete()
    assert set(Rollup.objects.values_list("account_id", flat=True)) == {b.pk}
    assert not FailureRollup.objects.exists()


# --- the pages -------------------------------------------------------------------------------


@pytest.mark.db_sensitive
def test_the_page_lists_batches_and_links_to_exactly_their_jobs(viewer_client, cache):
    a, b, jobs = cache
    page = viewer_client.get(reverse("rollups"), {"account": [b.pk]})
    html = page.content.decode()

    assert page.status_code == 200
    assert "b1" in html and "b2" not in html
    assert "1 of 2 settled" in html
    link = f"/jobs/?batch=b1&amp;account={b.pk}"
    assert link in html
    listed = viewer_client.get(link.replace("&amp;", "&"))
    assert listed.status_code == 200
    shown = {j.pk for j in listed.context["page"].rows}
    assert shown == {jobs["b_ok"].pk, jobs["b_wait"].pk}
    # The list of one batch is its page: the roll-up on top, for the same filters.
    assert listed.context["rollup"].total == 2
    assert "1 of 2 settled" in listed.content.decode()


def test_the_tag_tab_and_bad_input(viewer_client, cache):
    page = viewer_client.get(reverse("rollups"), {"dimension": "tag"})
    assert page.status_code == 200 and "vip" in page.content.decode()
    assert viewer_client.get(reverse("rollups"), {"dimension": "nope"}).status_code == 400
    assert viewer_client.get(reverse("rollups"), {"page": "0"}).status_code == 400
    assert viewer_client.get(reverse("rollups"), {"kind": "bogus"}).status_code == 400


@pytest.mark.db_sensitive
def test_the_csv_has_a_line_per_batch(viewer_client, cache):
    response = viewer_client.get(reverse("rollups_csv"))
    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))

    assert response["Content-Disposition"].startswith('attachment; filename="batches-')
    b1 = next(r for r in rows if r["batch"] == "b1")
    assert (b1["jobs"], b1["succeeded"], b1["failed"], b1["unfinished"], b1["stuck"]) == ("7", "3", "1", "3", "2")
    assert b1["jobs_url"].endswith("/jobs/?batch=b1")


def test_every_page_needs_a_login(client, cache):
    for url in (reverse("rollups"), reverse("rollups_csv")):
        response = client.get(url)
        assert response.status_code == 302 and "/login" in response["Location"]


def test_rebuildrollups_recomputes_every_partition(cache):
    from django.core.management import call_command

    a, b, jobs = cache
    # A hand edit the summary cannot know about: the next rebuild counts it.
    Job.objects.filter(pk=jobs["b_wait"].pk).update(state="SUCCEED", status="succeeded")
    assert batches.line("batch", "b1", {"account": [b.pk]}).unfinished == 1
    out = io.StringIO()

    call_command("rebuildrollups", stdout=out)

    assert "refreshed 2 account/kind partition(s)" in out.getvalue()
    assert batches.line("batch", "b1", {"account": [b.pk]}).unfinished == 0
