"""Fixtures (see tests/conftest.py): cloud accounts, an in-memory provider, accounts wired to fakecloud.

- ``StubProvider``: implements jobs.providers.base.Provider from plain lists, with page
  size, state filters, newest-first listings, reads by id, injected errors and call counts
  (``api_calls`` in all, ``calls`` per operation); for testing the sync service's own logic.
- ``huawei_account`` / ``tencent_account``: CloudAccount rows (no network).
- ``fc_huawei`` / ``fc_tencent``: accounts pointing at the session's fakecloud server
  (real HTTP, real signers), created with fakecloud's demo credentials.
"""

from __future__ import annotations

import dataclasses
import itertools
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from jobs.models import CloudAccount
from jobs.providers.base import (
    AssessmentRecord,
    Detail,
    JobRecord,
    MetricRecord,
    Page,
    Provider,
    TransportError,
)

T0 = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)


def make_record(kind="avatar_training", n=1, state="TRAINING", **kw) -> JobRecord:
    defaults = {
        "kind": kind,
        "remote_id": f"{kind[:2]}-{n:05d}",
        "name": f"job {n}",
        "state": state,
        "created_at": T0 + timedelta(minutes=n),
        "updated_at": T0 + timedelta(minutes=n, seconds=30),
        "batch": f"batch-{n % 3}",
        "tags": ("demo", f"t{n % 2}"),
        "edition": "V3.2",
        "payload": {"job_id": f"{kind[:2]}-{n:05d}", "state": state, "n": n},
    }
    defaults.update(kw)
    return JobRecord(**defaults)


def make_assessment(suggestion="ok") -> AssessmentRecord:
    metrics = tuple(
        MetricRecord(
            metric=m, expected="1-2", actual=str(i), status=i % 2, suggestion=f"建议{i}", suggestion_en=f"advice {i}"
        )
        for i, m in enumerate(("speed", "sound", "snr", "reverb", "dnsmos_ovrl", "dnsmos_bak"))
    )
    return AssessmentRecord(suggestion=suggestion, metrics=metrics)


_tenants = itertools.count(1)


class StubProvider(Provider):
    """Serves records from memory, page by page, counting calls like a real provider.

    ``calls`` counts vendor calls per operation: "list" (one per listing page), "get_job",
    "get_jobs" (one per request: ``get_batch`` ids each, or one id each when it is None, like
    MetaStudio), "detail" and "check"; ``api_calls`` is their sum. ``listings`` records the
    arguments of each ``iter_pages`` call and ``reads`` the ids of each ``get_jobs`` request."""

    def __init__(
        self,
        records=(),
        page_size=3,
        kinds=("avatar_training", "voice_training", "voice_assessment"),
        *,
        tenant=None,
        get_batch=None,
    ):
        super().__init__()
        self.tenant = tenant or str(next(_tenants))  # a budget of its own unless told to share
        self.get_batch = get_batch
        self.calls = Counter()
        self.listings = []  # (kind, sorted states or None, newest_first, fetch_ahead)
        self.reads = []  # the ids of each get_jobs request
        self.kinds = tuple(kinds)
        self.listable_kinds = tuple(k for k in kinds if k != "voice_assessment")
        self.records = {}  # kind -> list[JobRecord] (the vendor's list, in order)
        self.tracked = {}  # (kind, remote_id) -> JobRecord (get_job answers)
        self.events = {}  # remote_id -> list[EventRecord]
        self.detail_extra = {}  # remote_id -> dict of JobRecord field overrides
        self.page_size = page_size
        self.fail_on_page = None  # (kind, page index, exception)
        self.fail_detail = {}  # remote_id -> exception
        self.fail_get = None
        self.detail_calls = []
        self.hidden = 0  # jobs the vendor counts but its pages skip (a list that moved while paging)
        for rec in records:
            self.add(rec)

    def add(self, rec):
        self.records.setdefault(rec.kind, []).append(rec)
        self.tracked[(rec.kind, rec.remote_id)] = rec

    def replace(self, kind, remote_id, **changes):
        items = self.records.get(kind, [])
        for i, rec in enumerate(items):
            if rec.remote_id == remote_id:
                items[i] = dataclasses.replace(rec, **changes)
                self.tracked[(kind, remote_id)] = items[i]
                return items[i]
        rec = dataclasses.replace(self.tracked[(kind, remote_id)], **changes)
        self.tracked[(kind, remote_id)] = rec
        return rec

    def remove(self, kind, remote_id):
        self.records[kind] = [r for r in self.records.get(kind, []) if r.remote_id != remote_id]
        self.tracked.pop((kind, remote_id), None)

    @property
    def tenant_key(self):
        return f"stub:{self.tenant}"

    def _call(self, operation):
        self.calls[operation] += 1
        self.api_calls += 1

    def iter_pages(self, kind, *, states=None, newest_first=False, fetch_ahead=True):
        self.listings.append((kind, None if states is None else sorted(states), newest_first, fetch_ahead))
        return self._pages(kind, states, newest_first)

    def _pages(self, kind, states, newest_first):
        if states is not None and not states:
            yield Page([], total=0)  # an empty filter lists nothing, without a call (as the real ones)
            return
        # The vendor's list is oldest first; newest first is the same list reversed.
        items = list(self.records.get(kind, []))[:: -1 if newest_first else 1]
        if states is not None:
            items = [r for r in items if r.state in states]
        pages = [items[i : i + self.page_size] for i in range(0, len(items), self.page_size)] or [[]]
        total = len({r.remote_id for r in items}) + self.hidden
        for index, chunk in enumerate(pages):
            self._call("list")
            if self.fail_on_page and self.fail_on_page[0] == kind and self.fail_on_page[1] == index:
                raise self.fail_on_page[2]
            nxt = index + 1 if index + 1 < len(pages) else None
            yield Page(records=list(chunk), total=total, next_cursor=nxt, request_id=f"req-{index}")

    def get_job(self, kind, remote_id):
        self._call("get_job")
        if self.fail_get:
            raise self.fail_get
        return self.tracked.get((kind, remote_id))

    def get_jobs(self, kind, remote_ids):
        ids = list(dict.fromkeys(remote_ids))
        size = self.get_batch or 1
        found = {}
        for start in range(0, len(ids), size):
            batch = ids[start : start + size]
            self._call("get_jobs")
            self.reads.append(batch)
            if self.fail_get:
                raise self.fail_get
            found.update({remote_id: self.tracked.get((kind, remote_id)) for remote_id in batch})
        return found

    def ids_per_read(self, kind):
        return self.get_batch or 1

    def fetch_detail(self, record):
        self._call("detail")
        self.detail_calls.append(record.remote_id)
        if record.remote_id in self.fail_detail:
            raise self.fail_detail[record.remote_id]
        extra = self.detail_extra.get(record.remote_id, {})
        return Detail(record=dataclasses.replace(record, **extra), events=list(self.events.get(record.remote_id, [])))

    def check_connection(self):
        self._call("check")
        return "ok: 3 jobs"


class SlowStub(StubProvider):
    """A StubProvider whose reads by id and detail reads each take ``delay`` seconds, and which
    records the most reads in flight at once (``most_in_flight``)."""

    def __init__(self, *args, delay=0.05, **kwargs):
        super().__init__(*args, **kwargs)
        self.delay = delay
        self.lock = threading.Lock()
        self.in_flight = self.most_in_flight = 0

    def _slowly(self, read, *args):
        with self.lock:
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            time.sleep(self.delay)
            return read(*args)
        finally:
            with self.lock:
                self.in_flight -= 1

    def get_jobs(self, kind, remote_ids):
        return self._slowly(super().get_jobs, kind, remote_ids)

    def fetch_detail(self, record):
        return self._slowly(super().fetch_detail, record)


def transport_error():
    return TransportError("service unavailable", code="APIGW.0308", request_id="rid-503", status=503)


@pytest.fixture
def huawei_account(db):
    account = CloudAccount(
        name="hw-main",
        provider="huawei",
        region="cn-north-4",
        project_id="0123456789abcdef0123456789abcdef",
        access_key_id="AKEXAMPLE0000000",
        kinds=["avatar_training", "voice_training", "voice_assessment"],
        full_sync_interval=0,  # every sync a full listing; tests of the incremental refresh set it
    )
    account.set_secret_key("sk-super-secret-value")
    account.save()
    return account


@pytest.fixture
def tencent_account(db):
    account = CloudAccount(
        name="ci-main",
        provider="tencent",
        region="ap-guangzhou",
        bucket="media-1250000000",
        queue_id="p893bcda225bf4945a378da6662e81a89",
        access_key_id="AKIDEXAMPLE",
        kinds=["translation"],
        full_sync_interval=0,
    )
    account.set_secret_key("tencent-secret-value")
    account.save()
    return account


@pytest.fixture
def stub():
    return StubProvider()


def _demo_credentials():
    from fakecloud import defaults

    return defaults


def make_fakecloud_accounts(base_url, prefix="fc", full_sync_interval=0):
    """CloudAccounts for both clouds pointing at a fakecloud at `base_url` (demo credentials)."""
    d = _demo_credentials()
    hw = CloudAccount(
        name=f"{prefix}-huawei",
        provider="huawei",
        region="cn-north-4",
        endpoint=base_url,
        project_id=d.HUAWEI_PROJECT_ID,
        access_key_id=d.HUAWEI_AK,
        full_sync_interval=full_sync_interval,  # 0: every sync a full listing
    )
    hw.set_secret_key(d.HUAWEI_SK)
    hw.save()
    ci = CloudAccount(
        name=f"{prefix}-tencent",
        provider="tencent",
        region="ap-guangzhou",
        endpoint=base_url,
        bucket=d.TENCENT_BUCKET,
        queue_id=d.TENCENT_QUEUE_ID,
        access_key_id=d.TENCENT_SECRET_ID,
        full_sync_interval=full_sync_interval,
    )
    ci.set_secret_key(d.TENCENT_SECRET_KEY)
    ci.save()
    return hw, ci


@pytest.fixture
def fc_accounts(db, fakecloud):
    return make_fakecloud_accounts(fakecloud.url)


def avatar_item(n, **extra):
    """A List2dModelTrainingJob item as the vendor sends it (with a phone number to strip)."""
    return {
        "job_id": f"a{n}",
        "name": f"Avatar {n}",
        "state": "TRAINING",
        "contact": "13800000000",
        "create_time": "2026-01-05T08:00:00Z",
        "last_update_time": "2026-01-05T09:00:00Z",
        **extra,
    }
