"""The overview: sync health, jobs by status, stuck jobs and recent failures."""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from jobs import selectors
from jobs.models import Kind, Status


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
                }
            )
    health = [(a, selectors.freshness(a, now)) for a in accounts]
    context = {
        "chart_rows": rows,
        "statuses": Status.choices,
        "stuck_jobs": selectors.stuck_jobs(now=now),
        "failures": selectors.recent_failures(),
        "health": health,
        "now": now,
    }
    return render(request, "jobs/home.html", context)
