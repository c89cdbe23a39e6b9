"""The job page's reads: the job with its linked job, its events (cached while they do not
change) and the timeline built from them (steps, time per state, stuck marks).

Views call these and render; nothing here writes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import NamedTuple

from django.core.cache import cache
from django.db.models import Count, Max
from django.utils import timezone

from jobs.models import ACTIVE_STATUSES, Assessment, Job, JobEvent, Kind, Status
from jobs.selectors import stuck_limit
from jobs.status import unified_status

EVENTS_CACHE_SECONDS = 600


class EventRow(NamedTuple):
    pk: int
    occurred_at: datetime
    source: str
    action: str
    operator: str
    from_state: str
    to_state: str
    message: str


@dataclass
class Step:
    event: EventRow
    label: str
    since_previous: timedelta | None = None
    duration: timedelta | None = None  # time spent in this step until the next (or now)
    stuck: bool = False
    limit: timedelta | None = None
    current: bool = False


@dataclass
class Timeline:
    steps: list = field(default_factory=list)
    totals: list = field(default_factory=list)  # [(label, timedelta, stuck)]
    total: timedelta | None = None


def job_detail(pk: int) -> tuple[Job, Job | None, list[EventRow], Assessment | None]:
    """The job with its account, linked job, events (time order) and assessment + metrics."""
    job = Job.objects.select_related("account").get(pk=pk)
    # One indexed column per lookup (job_remote_id, the partial job_linked) and the account
    # checked here: with the account in SQL too, a planner without statistics may pick the
    # account index and scan half the table.
    fields = ("id", "account_id", "name", "kind", "remote_id", "status")
    if job.linked_job_id:
        candidates = Job.objects.filter(remote_id=job.linked_job_id).only(*fields)[:10]
    else:
        candidates = (
            Job.objects.filter(linked_job_id=job.remote_id)
            .exclude(linked_job_id="")
            .exclude(pk=job.pk)
            .only(*fields)[:10]
        )
    linked = next((c for c in candidates if c.account_id == job.account_id), None)
    events = job_events(job)
    assessment = Assessment.objects.filter(job=job).prefetch_related("metrics").first()
    return job, linked, events, assessment


def job_events(job: Job) -> list[EventRow]:
    """The job's events in time order, as plain tuples (a busy job has thousands).

    Events are append-only, so (count, max id) identifies the set: that one aggregate on the
    timeline index decides whether the cached tuples are still right (first_seen_at guards
    against a reused job id)."""
    mark = JobEvent.objects.filter(job=job).aggregate(n=Count("id"), last=Max("id"))
    key = f"jobs:events:{job.pk}:{job.first_seen_at.timestamp()}:{mark['n']}:{mark['last']}"
    events = cache.get(key)
    if events is None:
        events = [
            EventRow(*row)
            for row in JobEvent.objects.filter(job=job)
            .order_by("occurred_at", "id")
            .values_list("id", "occurred_at", "source", "action", "operator", "from_state", "to_state", "message")
        ]
        cache.set(key, events, EVENTS_CACHE_SECONDS)
    return events


# Kinds without a vendor log (translation): the states a job passed through before it ended,
# entered at the vendor's created and started times; it ends in its own state at finished_at.
KNOWN_TIMES_STATES = {Kind.TRANSLATION: ("Submitted", "Running")}


def known_times(job: Job) -> list[EventRow]:
    """Steps from the vendor's created/started/finished times, for kinds with no op-log.

    Their ids are negative (-3, -2, -1: created, started, finished) so they sort before a
    real event at the same instant and never collide with one."""
    states = KNOWN_TIMES_STATES.get(job.kind)
    if not states:
        return []
    rows = [EventRow(-3, job.created_at, "created", "", "", "", states[0], "")]
    if job.started_at:
        rows.append(EventRow(-2, job.started_at, "started", "", "", "", states[1], ""))
    if job.finished_at:
        rows.append(EventRow(-1, job.finished_at, "finished", "", "", "", job.state, ""))
    return [r for r in rows if r.occurred_at]


def timeline(job: Job, events: list[EventRow], now: datetime | None = None) -> Timeline:
    """Steps in time order with the time between them, time spent per state and stuck marks.

    A step is a state change (to_state) or, for op-log entries without one, the action. Time
    in each state counts observed states only (to_state), from the step that entered a state
    to the next step entering another one: op-log actions in between name no state, and a
    state seen again without a change in between continues its stretch. The last state of a
    job still in progress lasts until now; a settled job's last state has no end. Kinds with
    no op-log get steps from the vendor's created/started/finished times as well.
    """
    now = now or timezone.now()
    tl = Timeline()
    settled = job.status not in ACTIVE_STATUSES and job.status not in (Status.NEEDS_ACTION, Status.PAUSED)
    known = known_times(job)
    if known:
        events = sorted([*events, *known], key=lambda ev: (ev.occurred_at, ev.pk))
    prev = None
    for ev in events:
        step = Step(event=ev, label=ev.to_state or ev.action or ev.source)
        if prev is not None:
            step.since_previous = ev.occurred_at - prev.event.occurred_at
            prev.duration = step.since_previous
        tl.steps.append(step)
        prev = step
    if prev is not None and not settled:
        prev.duration = max(now - prev.event.occurred_at, timedelta(0))
        prev.current = True
    # Stretches of one observed state: [state, first step, start].
    stretches = []
    for step in tl.steps:
        state = step.event.to_state
        if state and (not stretches or stretches[-1][0] != state):
            stretches.append([state, step, step.event.occurred_at])
    totals, judged = {}, {}  # judged: state -> (limit, moving); a few states repeat many times
    for i, (state, first, start) in enumerate(stretches):
        if i + 1 < len(stretches):
            end = stretches[i + 1][2]
        elif not settled:
            end = max(now, start)
        else:
            continue  # a settled job's final state has no end
        spent = end - start
        if state not in judged:
            judged[state] = (stuck_limit(job.kind, state), unified_status(job.kind, state) in ACTIVE_STATUSES)
        limit, moving = judged[state]
        first.limit = limit
        first.stuck = bool(limit) and moving and spent > limit
        total = totals.setdefault(state, [timedelta(0), False])
        total[0] += spent
        total[1] |= first.stuck
    # A state passed through in no time (two changes seen at one instant) is no row of its own.
    tl.totals = [(state, spent, stuck) for state, (spent, stuck) in totals.items() if spent > timedelta(0)]
    if tl.steps:
        end = tl.steps[-1].event.occurred_at if settled else now
        tl.total = end - tl.steps[0].event.occurred_at
    return tl
