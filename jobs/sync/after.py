"""What follows every sync run: its alerts (jobs.alerts, from what the run wrote), and, when it
changed the cache, the summaries computed from its account's and kind's jobs (jobs.rollups,
jobs.stages). Runs after the run's writes committed and its SyncRun row is saved, so a slow
summary never holds the sync's locks nor delays its outcome; a step that fails is logged and
left for the next run (the jobs themselves are safe)."""

from __future__ import annotations

import logging

from jobs import alerts, rollups, stages
from jobs.models import SyncRun

log = logging.getLogger(__name__)


def changed(run: SyncRun) -> bool:
    """Whether the run wrote jobs or events (the only writes a summary depends on)."""
    return bool(run.created or run.updated or run.marked_gone or run.events_created or run.details_fetched)


def after_run(run: SyncRun) -> None:
    alert_run(run)
    if not changed(run):
        return
    try:
        rollups.refresh_partition(run.account_id, run.kind)
    except Exception:
        log.exception("roll-up refresh of %s/%s failed; the next sync run retries it", run.account_id, run.kind)
    try:
        stages.after_run(run)  # open stretches of jobs it marked gone end (jobs.stages)
    except Exception:
        log.exception("stage upkeep of %s/%s failed; the next full listing retries it", run.account_id, run.kind)


def alert_run(run: SyncRun) -> None:
    """Open and resolve the alerts the run calls for (every run: a failed one may open a
    "stale" alert); the sync task then asks a worker to send them (jobs.tasks)."""
    try:
        alerts.evaluate_run(run)
    except Exception:
        log.exception("alert evaluation of %s/%s failed", run.account_id, run.kind)
