"""The sync service over real HTTP: real providers (signers, parsers) against fakecloud."""

import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from jobs import sync
from jobs.models import Assessment, CloudAccount, Job, JobEvent, SyncRun
from jobs.providers import get_provider
from jobs.status import moving_states
from jobs.sync.rows import record_from_job

pytestmark = [pytest.mark.django_db, pytest.mark.db_sensitive]

FC_KINDS = {
    "avatar_training": "avatar",
    "voice_training": "voice",
    "voice_assessment": "short",
    "translation": "translation",
}


def provider(account, page_size=None, **http):
    """The real provider, without real sleeps between retries; small pages to get several."""
    p = get_provider(account, sleep=lambda seconds: None, **http)
    if page_size:
        p.page_size = page_size
    return p


def sync_kind(account, kind, page_size=10, **http):
    return sync.sync_account_kind(account, kind, provider=provider(account, page_size, **http))


def sync_everything(fakecloud, hw, ci, page_size=10):
    sync.track_jobs(hw, "voice_assessment", fakecloud.short_job_ids())
    runs = sync.sync_account(hw, provider=provider(hw, page_size))
    runs += sync.sync_account(ci, provider=provider(ci, page_size))
    return {run.kind: run for run in runs}


def remote(fakecloud, kind):
    return {j["job_id"]: j for j in fakecloud.jobs(FC_KINDS[kind])}


def cached(kind):
    return {j.remote_id: j for j in Job.objects.filter(kind=kind)}


def snapshot():
    return {row["id"]: row for row in Job.objects.order_by("id").values()}


def test_it_caches_every_job_of_every_kind_once(fakecloud, fc_accounts):
    runs = sync_everything(fakecloud, *fc_accounts)

    for kind in FC_KINDS:
        assert runs[kind].outcome == SyncRun.Outcome.SUCCEEDED, sync.run_reason(runs[kind])
        want, got = remote(fakecloud, kind), cached(kind)
        assert set(got) == set(want), kind
        for remote_id, job in got.items():
            assert (job.name, job.state) == (want[remote_id]["name"] or "", want[remote_id]["state"]), remote_id
            assert job.created_at is not None and not job.gone
        assert runs[kind].seen == len(want)
    assert runs["avatar_training"].pages == 3  # 30 jobs, 10 a page


def test_it_writes_no_job_rows_when_nothing_changed(fakecloud, fc_accounts):
    sync_everything(fakecloud, *fc_accounts)
    before = snapshot()

    with CaptureQueriesContext(connection) as ctx:
        runs = sync_everything(fakecloud, *fc_accounts)

    writes = [
        q["sql"]
        for q in ctx.captured_queries
        if q["sql"].startswith(("INSERT", "UPDATE", "DELETE")) and '"jobs_job"' in q["sql"][:60]
    ]
    assert writes == []
    assert all(run.created == run.updated == 0 for run in runs.values())
    assert snapshot() == before


def test_it_records_each_transition_once_after_time_passes(fakecloud, fc_accounts):
    sync_everything(fakecloud, *fc_accounts)
    before = {kind: {i: j["state"] for i, j in remote(fakecloud, kind).items()} for kind in FC_KINDS}

    fakecloud.advance(6 * 3600)
    runs = sync_everything(fakecloud, *fc_accounts)
    again = sync_everything(fakecloud, *fc_accounts)

    moved = 0
    for kind in FC_KINDS:
        after = {i: j["state"] for i, j in remote(fakecloud, kind).items()}
        changed = {i: (before[kind][i], s) for i, s in after.items() if i in before[kind] and before[kind][i] != s}
        observed = {
            e.job.remote_id: (e.from_state, e.to_state)
            for e in JobEvent.objects.filter(source="observed", job__kind=kind).select_related("job")
        }
        assert observed == changed, kind
        assert JobEvent.objects.filter(source="observed", job__kind=kind).count() == len(changed)
        assert cached(kind).keys() >= after.keys()
        moved += len(changed)
    assert moved > 0
    assert all(run.events_created == 0 or run.kind != "translation" for run in again.values())
    assert sum(run.updated for run in again.values()) == 0
    assert sum(run.updated for run in runs.values()) >= moved


def test_it_stores_op_logs_and_operation_logs_as_events(fakecloud, fc_accounts):
    hw, _ = fc_accounts
    sync_kind(hw, "avatar_training")
    sync_kind(hw, "voice_training")

    p = provider(hw)
    for kind in ("avatar_training", "voice_training"):
        jobs = list(Job.objects.filter(kind=kind))
        assert jobs and not any(j.needs_detail for j in jobs)
        for job in jobs[:5]:
            detail = p.fetch_detail(record_from_job(job))
            stored = job.events.exclude(source="observed")
            # One event per distinct entry, by every field (not by the sync's own key function).
            entries = {
                (e.source, e.occurred_at, e.action, e.operator, e.message, json.dumps(e.details, sort_keys=True))
                for e in detail.events
            }
            assert stored.count() == len(entries)
            assert sorted(stored.values_list("message", flat=True)) == sorted(m for _, _, _, _, m, _ in entries)
        assert JobEvent.objects.filter(job__kind=kind, source="oplog").exists()
    assert JobEvent.objects.filter(job__kind="avatar_training", action="USER_CREATE_JOD").exists()


def test_it_stores_assessments_with_all_six_metrics(fakecloud, fc_accounts):
    sync_everything(fakecloud, *fc_accounts)

    assessments = Assessment.objects.filter(job__kind__in=["voice_assessment", "voice_training"])
    assert assessments.filter(job__kind="voice_assessment").exists()
    assert assessments.filter(job__kind="voice_training").exists()
    for a in assessments:
        metrics = {m.metric: m for m in a.metrics.all()}
        assert set(metrics) == {"speed", "sound", "snr", "reverb", "dnsmos_ovrl", "dnsmos_bak"}
        assert all(m.expected and m.actual and m.suggestion and m.suggestion_en for m in metrics.values())
        assert a.suggestion


def find_keys(data, bad):
    if isinstance(data, dict):
        return [k for k in data if bad(k)] + [x for v in data.values() for x in find_keys(v, bad)]
    if isinstance(data, list):
        return [x for v in data for x in find_keys(v, bad)]
    return []


def test_it_stores_no_pii_or_expiring_links(fakecloud, fc_accounts):
    sync_everything(fakecloud, *fc_accounts)

    def bad(key):
        return key in ("contact", "phone") or key.endswith("_download_url")

    for job in Job.objects.all():
        assert find_keys(job.payload, bad) == [], job.remote_id
    for event in JobEvent.objects.all():
        assert find_keys(event.details, bad) == []


def test_it_marks_a_removed_job_gone_and_keeps_it(fakecloud, fc_accounts):
    hw, _ = fc_accounts
    sync_kind(hw, "avatar_training")
    victim = next(iter(remote(fakecloud, "avatar_training")))
    fakecloud.remove_job("avatar", victim)

    run = sync_kind(hw, "avatar_training")

    assert run.marked_gone == 1
    assert Job.objects.get(remote_id=victim).gone


FAULTS = [
    pytest.param({"kind": "error", "status": 503}, id="5xx"),
    pytest.param({"kind": "throttle", "retry_after": 1}, id="429"),
    pytest.param({"kind": "hang", "seconds": 3}, id="hang"),
    pytest.param({"kind": "truncate", "mode": "length"}, id="truncate-length"),
    pytest.param({"kind": "truncate", "mode": "cut"}, id="truncate-cut"),
    pytest.param({"kind": "malformed"}, id="malformed"),
    pytest.param({"kind": "oversize", "bytes": 300_000}, id="oversize"),
    pytest.param({"kind": "duplicate", "k": 2, "mode": "shift"}, id="duplicate-shift"),
    pytest.param({"kind": "skew", "seconds": 20000}, id="skew"),
]
OPS = {"avatar_training": "avatar.list", "voice_training": "voice.list", "translation": "ci.list"}


def fault_settings(settings):
    settings.SYNC_DETAIL_BUDGET = 0  # the listing is under test
    settings.HTTP_READ_TIMEOUT = 1
    settings.HTTP_MAX_BODY_BYTES = 200_000
    settings.HTTP_MAX_RETRIES = 2


@pytest.mark.parametrize("kind", ["avatar_training", "translation"])
@pytest.mark.parametrize("fault", FAULTS)
def test_it_survives_each_fault_without_damaging_the_cache(fakecloud, fc_accounts, settings, fault, kind):
    fault_settings(settings)
    hw, ci = fc_accounts
    account = hw if kind != "translation" else ci
    assert sync_kind(account, kind).outcome == SyncRun.Outcome.SUCCEEDED
    before = snapshot()
    fakecloud.set_fault({**fault, "op": OPS[kind], "after": 1})

    run = sync_kind(account, kind)

    if fault["kind"] == "duplicate" and kind == "translation":
        # A NextToken pointing back repeats jobs but skips none: a complete listing.
        assert run.outcome == SyncRun.Outcome.SUCCEEDED and run.seen == len(remote(fakecloud, kind))
    else:
        assert run.outcome in (SyncRun.Outcome.FAILED, SyncRun.Outcome.PARTIAL), run.outcome
        assert run.error_message and run.error_code
    assert run.marked_gone == 0
    assert snapshot() == before  # nothing lost, nothing altered (no remote change happened)
    account.refresh_from_db()
    assert run.error_code in account.last_error

    fakecloud.clear_faults()
    clean = sync_kind(account, kind)
    assert clean.outcome == SyncRun.Outcome.SUCCEEDED, sync.run_reason(clean)
    assert clean.seen == len(remote(fakecloud, kind))


@pytest.mark.parametrize("kind", ["avatar_training", "translation"])
def test_it_stores_each_job_once_when_pages_carry_extra_items(fakecloud, fc_accounts, settings, kind):
    fault_settings(settings)
    account = fc_accounts[kind == "translation"]
    fakecloud.set_fault({"kind": "duplicate", "k": 3, "mode": "extra", "op": OPS[kind]})

    run = sync_kind(account, kind)

    assert run.outcome == SyncRun.Outcome.SUCCEEDED
    assert run.seen == run.created == len(remote(fakecloud, kind)) == Job.objects.filter(kind=kind).count()


@pytest.mark.parametrize("fault", FAULTS[:3] + FAULTS[5:6])
def test_it_keeps_stored_pages_when_a_later_page_fails(fakecloud, fc_accounts, settings, fault):
    fault_settings(settings)
    hw, _ = fc_accounts
    fakecloud.set_fault({**fault, "op": "avatar.list", "after": 1})

    run = sync_kind(hw, "avatar_training")

    assert run.outcome == SyncRun.Outcome.PARTIAL and run.created == 10
    fakecloud.clear_faults()
    assert sync_kind(hw, "avatar_training").created == 20


def test_it_ends_partial_when_a_detail_fetch_fails(fakecloud, fc_accounts, settings):
    fault_settings(settings)
    settings.SYNC_DETAIL_BUDGET = 500
    hw, _ = fc_accounts
    fakecloud.set_fault({"kind": "error", "status": 500, "op": "voice.oplogs", "after": 3})

    run = sync_kind(hw, "voice_training")

    assert run.outcome == SyncRun.Outcome.PARTIAL and run.created == 30
    assert Job.objects.filter(kind="voice_training", needs_detail=True).exists()
    fakecloud.clear_faults()
    assert sync_kind(hw, "voice_training").outcome == SyncRun.Outcome.SUCCEEDED
    assert not Job.objects.filter(kind="voice_training", needs_detail=True).exists()


def test_it_fails_clearly_on_wrong_credentials_without_a_retry_storm(fakecloud, fc_accounts):
    hw, _ = fc_accounts
    hw.set_secret_key("WRONG" + fakecloud.huawei["sk"][5:])
    hw.save()
    fakecloud.reset_counters()

    runs = sync.sync_account(hw, provider=provider(hw))

    assert [run.outcome for run in runs] == ["failed"] * 3
    for run in runs:  # the first kind's refusal, and the same reason for the kinds not tried
        assert run.error_code == "APIGW.0301" and ("HTTP 401" in run.error_message or "HTTP 403" in run.error_message)
    counters = fakecloud.counters()
    assert counters["avatar.list"] == 1
    assert counters["voice.list"] == counters["short.show"] == 0
    assert fakecloud.huawei["sk"][5:] not in runs[0].error_message
    hw.refresh_from_db()
    assert hw.last_error and hw.last_success_at is None


def test_it_answers_a_connection_test(fakecloud, fc_accounts):
    hw, ci = fc_accounts

    assert provider(hw).check_connection()
    assert provider(ci).check_connection()


def test_it_refreshes_one_job_over_http(fakecloud, fc_accounts):
    hw, _ = fc_accounts
    sync_kind(hw, "voice_training")
    job = Job.objects.filter(kind="voice_training").first()
    fakecloud.set_state("voice", job.remote_id, "FAILED")

    run = sync.refresh_job(job, provider=provider(hw))

    assert run.outcome == SyncRun.Outcome.SUCCEEDED
    job.refresh_from_db()
    assert job.state == "FAILED"
    assert job.events.filter(source="observed", to_state="FAILED").count() == 1


def test_it_syncs_through_the_default_provider(fakecloud, fc_accounts):
    _, ci = fc_accounts

    (run,) = sync.sync_account(CloudAccount.objects.get(pk=ci.pk))

    assert run.outcome == SyncRun.Outcome.SUCCEEDED and run.created == 30


SETTLED_STATE = {"avatar_training": "JOB_SUCCESS", "voice_training": "SUCCEED", "translation": "Success"}


@pytest.mark.parametrize("kind", sorted(SETTLED_STATE))
def test_a_job_read_by_id_is_stored_as_its_next_listing_will_show_it(fakecloud, fc_accounts, kind):
    """A job that left the moving states is read by id (a Show body on MetaStudio, a
    DescribeMediaJob answer on CI); the next full listing, with nothing changed, finds it
    unchanged: no rewrite, no second detail read."""
    hw, ci = fc_accounts
    account = ci if kind == "translation" else hw
    assert sync_kind(account, kind).mode == "full"
    newest = [j.remote_id for j in Job.objects.filter(kind=kind).order_by("-created_at")[:3]]  # the head page
    moving = set(moving_states(kind))
    job_id = next(
        j["job_id"] for j in fakecloud.jobs(FC_KINDS[kind]) if j["state"] in moving and j["job_id"] not in newest
    )
    fakecloud.set_state(FC_KINDS[kind], job_id, SETTLED_STATE[kind])

    run = sync.sync_account_kind(account, kind, provider=provider(account, 3), mode="incremental")

    assert run.outcome == SyncRun.Outcome.SUCCEEDED, sync.run_reason(run)
    assert Job.objects.get(kind=kind, remote_id=job_id).state == SETTLED_STATE[kind]
    assert not Job.objects.filter(kind=kind, needs_detail=True).exists()
    rows = snapshot()

    again = sync_kind(account, kind)

    assert (again.mode, again.updated, again.details_fetched) == ("full", 0, 0)
    assert snapshot() == rows
