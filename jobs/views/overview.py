"""The overview: sync health, jobs by status, stuck jobs and recent failures.

The page polls itself (the #overview partial) every OVERVIEW_REFRESH_SECONDS while its tab is
visible (static/js/app.js skips polls of a hidden tab), so "n minutes ago" never goes stale."""

from urllib.parse import urlencode

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET

from jobs import changes, selectors, stuck, triage
from jobs.lastseen_models import LastSeen
from jobs.models import Kind, Status
from jobs.views.common import _fragment


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    accounts = selectors.accounts()
    counts = selectors.status_counts()
    now = timezone.now()
    rows = []
    for account in accounts:
        for kind in account.sync_kinds():
            by_status = counts.get((account.pk, kind), {})
            rows.append(
                {
                    "account": account,
                    "kind": kind,
                    "kind_label": Kind(kind).label,
                    "counts": [(value, label, by_status.get(value, 0)) for value, label in Status.choices],
                    "total": sum(by_status.values()),
                    # The chart's segments link here, plus &status=<the segment's status>.
                    "list_url": reverse("job_list") + "?" + urlencode([("account", account.pk), ("kind", kind)]),
                }
            )
    health = [(a, selectors.freshness(a, now)) for a in accounts]
    mark = LastSeen.visit(request.user, now)  # jobs changed since the user's mark are highlighted
    context = {
        "chart_rows": rows,
        "statuses": Status.choices,
        "stuck": stuck.stuck_jobs(now=now),
        "failures": selectors.recent_failures(),
        "triage": _with_links(triage.top_failure_groups(now=now)),
        "health": health,
        "now": now,
        "refresh_seconds": settings.OVERVIEW_REFRESH_SECONDS,
        "seen_at": mark,
        "since": changes.Since(mark),
    }
    if _fragment(request):
        return render(request, "jobs/home.html#overview", context)
    return render(request, "jobs/home.html", context)


def _with_links(groups):
    """Each failure group links to the job list showing exactly its jobs."""
    for group in groups:
        group.list_url = reverse("job_list") + "?" + urlencode([("failure", group.signature)])
    return groups
