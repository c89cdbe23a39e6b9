"""A model-based test of the refresh (GitHub issue #10): hypothesis drives fakecloud and the sync.

A RuleBasedStateMachine changes the remote side (adds batches of jobs in unsettled or settled
states, with or without a schedule of their own; moves jobs along their kind's vendor state
machine; moves a job waiting on a person to any state; removes jobs; advances the virtual clock) and refreshes the cache of the listable kinds
(avatar and voice training on the Huawei account, translation on the Tencent one),
incrementally (with or without the jobs waiting on a person) or fully. What the vendor says is
read from fakecloud itself.

After every refresh: each SyncRun succeeded in the mode asked for, and one "observed" JobEvent
was added per cached state change, never a duplicate. After an incremental refresh: every job in
a state the vendor moves by itself has its current state in the cache, and so has every job
cached in such a state before (it may have settled or started waiting on a person) and every
job new since; after a "waiting" one, the same for every unsettled state. After a full refresh
the cache equals the vendor (ids, states, gone flags), and a second full refresh changes nothing.

fakecloud runs in this process with speed 0 (only the rules move its clock), one server per
example; the cache is emptied at the start of each example.
"""

from collections import Counter

import pytest
from django.db.models import Count, Max
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, rule, run_state_machine_as_test

from fakecloud import data as fakecloud_data
from fakecloud.testing import FakeCloudServer
from jobs import sync
from jobs.models import CloudAccount, Job, JobEvent, SyncRun
from jobs.providers import get_provider
from jobs.status import moving_states, unsettled_states
from tests.fixtures_sync import make_fakecloud_accounts

pytestmark = [pytest.mark.django_db, pytest.mark.db_sensitive, pytest.mark.slow]

JOBS = 30  # per kind at the start
ARRIVALS = 10  # more per kind, created (and mostly settled) during the first 4 virtual hours
PAGE_SIZE = 5  # several pages per listing, so paging and the head's stop are exercised
FULL_SYNC_INTERVAL = 30 * 86400  # real seconds: a refresh not forced stays incremental
FC_KIND = {"avatar_training": "avatar", "voice_training": "voice", "translation": "translation"}
KINDS = tuple(FC_KIND)
ACCOUNT_KINDS = (("hw", ["avatar_training", "voice_training"]), ("ci", ["translation"]))
UNSETTLED = {kind: frozenset(unsettled_states(kind)) for kind in KINDS}
MOVING = {kind: frozenset(moving_states(kind)) for kind in KINDS}  # the vendor moves them by itself


def _vendor_paths(kind):
    paths = [path for _, path in fakecloud_data.PATHS[FC_KIND[kind]]]
    if kind == "translation":
        paths.append(fakecloud_data.TRANSLATION_SUBMITTED)  # a job submitted through the API
    return paths


PATHS = {kind: _vendor_paths(kind) for kind in KINDS}
# The vendor's state machine of each kind: the states a job in a state can go to next.
MOVES = {
    kind: {
        state: sorted({b for path in PATHS[kind] for a, b in zip(path.states, path.states[1:]) if a == state})
        for state in {a for path in PATHS[kind] for a in path.states[:-1]}
    }
    for kind in KINDS
}
STATES = {kind: sorted({s for path in PATHS[kind] for s in path.states}) for kind in KINDS}


def _walk(path, start, step):
    """A schedule for add_job: the rest of a vendor path from its state ``start``, one state every
    ``step`` virtual seconds."""
    return {"schedule": [[n * step, state] for n, state in enumerate(path.states[start % len(path.states) :])]}


def _spec(kind):
    """What add_job gets: a state to stay in, or a schedule walking the rest of a vendor path."""
    fixed = st.sampled_from(STATES[kind]).map(lambda state: {"state": state})
    moving = st.builds(
        _walk, st.sampled_from(PATHS[kind]), st.integers(0, 20), st.sampled_from([60, 900, 3600, 4 * 3600])
    )
    return st.one_of(fixed, moving)


# A batch of new jobs of one kind (more than a page now and then, so the head reads several).
NEW_JOBS = st.sampled_from(KINDS).flatmap(
    lambda kind: st.tuples(st.just(kind), st.lists(_spec(kind), min_size=1, max_size=2 * PAGE_SIZE))
)


def _provider(account):
    """The real provider (real HTTP, real signers), small pages, no real sleeps between retries."""
    provider = get_provider(account, sleep=lambda seconds: None)
    provider.page_size = PAGE_SIZE
    return provider


class RefreshModel(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        CloudAccount.objects.all().delete()  # jobs, events and runs go with it: a fresh cache
        self.fc = FakeCloudServer(jobs=JOBS, arrivals=ARRIVALS, seed=3, speed=0).start()
        hw, ci = make_fakecloud_accounts(self.fc.url, prefix="model", full_sync_interval=FULL_SYNC_INTERVAL)
        self.accounts = {"hw": hw, "ci": ci}
        self.refreshed_at = None  # the virtual time (epoch ms) of the previous refresh

    def teardown(self):
        self.fc.stop()

    # -- the vendor side -----------------------------------------------------------------------

    def vendor(self, kind):
        return {job["job_id"]: job["state"] for job in self.fc.jobs(FC_KIND[kind])}

    @rule(new=NEW_JOBS)
    def add_jobs(self, new):
        kind, specs = new
        if self.fc.now_ms() == self.refreshed_at:
            # Time moves on between a refresh and the next job created, as it does at a real
            # vendor. With the clock frozen the new job would share its creation time with jobs
            # the refresh saw; newest-first order among equal times is the vendor's choice, and
            # a whole page of known jobs sorted ahead of it ends the incremental head before it.
            self.fc.advance(1)
        for spec in specs:
            self.fc.add_job(FC_KIND[kind], **spec)

    @rule(kind=st.sampled_from(KINDS), pick=st.integers(0, 10**6), choice=st.integers(0, 10))
    def move_a_job(self, kind, pick, choice):
        movable = [job for job in self.fc.jobs(FC_KIND[kind]) if job["state"] in MOVES[kind]]
        if movable:
            job = movable[pick % len(movable)]
            targets = MOVES[kind][job["state"]]
            self.fc.set_state(FC_KIND[kind], job["job_id"], targets[choice % len(targets)])

    @rule(kind=st.sampled_from(KINDS), pick=st.integers(0, 10**6), choice=st.integers(0, 10**6))
    def a_person_acts_on_a_waiting_job(self, kind, pick, choice):
        """Uploads, confirms, rejects, resumes, cancels: from a state waiting on a person to any
        state (a settled one included, which no moving state comes before)."""
        waiting = [job for job in self.fc.jobs(FC_KIND[kind]) if job["state"] in UNSETTLED[kind] - MOVING[kind]]
        if waiting:
            job = waiting[pick % len(waiting)]
            self.fc.set_state(FC_KIND[kind], job["job_id"], STATES[kind][choice % len(STATES[kind])])

    @rule(kind=st.sampled_from(KINDS), pick=st.integers(0, 10**6))
    def remove_a_job(self, kind, pick):
        listed = self.fc.jobs(FC_KIND[kind])
        if listed:
            assert self.fc.remove_job(FC_KIND[kind], listed[pick % len(listed)]["job_id"])

    @rule(seconds=st.sampled_from([30, 600, 3600, 6 * 3600, 2 * 86400]))
    def advance_the_clock(self, seconds):
        self.fc.advance(seconds)

    # -- refreshes ----------------------------------------------------------------------------
    # Hypothesis draws most often the rule it sorts first (fewest arguments, then by name): the
    # incremental refresh, the one under test, is named to come before the full one.

    @initialize()
    def first_full_refresh(self):
        self.refresh_with_a_full_listing()

    @rule()
    def refresh_with_a_full_listing(self):
        vendor = self.refresh(mode="full")
        for kind in KINDS:
            cached = {job.remote_id: job for job in Job.objects.filter(kind=kind)}
            live = {remote_id: job.state for remote_id, job in cached.items() if not job.gone}
            assert live == vendor[kind], kind
            for remote_id, job in cached.items():
                if remote_id not in vendor[kind]:
                    assert job.gone and self.fc.job(FC_KIND[kind], remote_id)["removed"], (kind, remote_id)

        # Nothing changed at the vendor: a second full listing writes no row and adds no event.
        jobs = list(Job.objects.order_by("pk").values())
        events = JobEvent.objects.count()
        again = self.refresh(mode="full")
        assert again == vendor
        assert list(Job.objects.order_by("pk").values()) == jobs
        assert JobEvent.objects.count() == events

    @rule(waiting=st.booleans())
    def refresh_incrementally(self, waiting):
        before = {(kind, remote_id): state for (kind, remote_id), (_, state) in self.cached_states().items()}
        vendor = self.refresh(mode="waiting" if waiting else "incremental")
        # Must be current: every job in a state the vendor moves, every job cached in such a
        # state before (it may have settled), every job new since; on a "waiting" refresh every
        # unsettled job and every job cached unsettled.
        listed = UNSETTLED if waiting else MOVING
        missed = []
        for kind in KINDS:
            cached = {
                remote_id: (state, gone)
                for remote_id, state, gone in Job.objects.filter(kind=kind).values_list("remote_id", "state", "gone")
            }
            for remote_id, state in vendor[kind].items():
                was = before.get((kind, remote_id))  # None: not cached before this refresh
                if (state in listed[kind] or was is None or was in listed[kind]) and cached.get(remote_id) != (
                    state,
                    False,
                ):
                    missed.append((kind, remote_id, f"cached {was}, vendor {state}", f"now {cached.get(remote_id)}"))
        assert not missed, missed

    def refresh(self, mode):
        """Both accounts, every listable kind; checks the runs and the observed events; returns
        the vendor's states of each kind (nothing moves at the vendor while a refresh runs)."""
        before = self.cached_states()
        last_event = JobEvent.objects.aggregate(last=Max("pk"))["last"] or 0
        runs = []
        for name, kinds in ACCOUNT_KINDS:
            account = self.accounts[name]
            runs += sync.sync_account(account, kinds, trigger="manual", provider=_provider(account), mode=mode)
        assert sorted(run.kind for run in runs) == sorted(KINDS)
        for run in runs:
            assert run.outcome == SyncRun.Outcome.SUCCEEDED, (run.kind, sync.run_reason(run))
            assert run.mode == mode, run.kind

        # One observed event per state change of a cached job, from the state cached before.
        after = self.cached_states()
        expected = Counter(
            (pk, before[key][1], state)
            for key, (pk, state) in after.items()
            if key in before and before[key][1] and before[key][1] != state
        )
        added = Counter(
            JobEvent.objects.filter(source=JobEvent.Source.OBSERVED, pk__gt=last_event).values_list(
                "job_id", "from_state", "to_state"
            )
        )
        assert added == expected
        duplicates = (
            JobEvent.objects.filter(source=JobEvent.Source.OBSERVED)
            .values("job_id", "occurred_at", "from_state", "to_state")
            .annotate(n=Count("pk"))
            .filter(n__gt=1)
        )
        assert not duplicates.exists(), list(duplicates)

        vendor = {kind: self.vendor(kind) for kind in KINDS}
        self.refreshed_at = self.fc.now_ms()
        return vendor

    @staticmethod
    def cached_states():
        return {
            (kind, remote_id): (pk, state)
            for pk, kind, remote_id, state in Job.objects.values_list("pk", "kind", "remote_id", "state")
        }


def test_the_cache_follows_the_vendor_through_incremental_and_full_refreshes():
    run_state_machine_as_test(
        RefreshModel,
        settings=settings(
            max_examples=20,
            stateful_step_count=30,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
