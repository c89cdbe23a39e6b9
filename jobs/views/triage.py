"""Failure triage: failed jobs grouped by kind and vendor code or normalised reason (jobs.triage),
as a page and as CSV, filtered by account, cloud and kind; each group links to its jobs."""

import csv
import io
from urllib.parse import urlencode

from django import forms
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET

from jobs import selectors
from jobs import triage as triage_groups
from jobs.forms import MULTI, JobFilterForm
from jobs.views.common import _bad_request
from jobs.views.export import csv_safe

FILTERS = ("account", "cloud", "kind")


class TriageFilterForm(forms.Form):
    """The job list's account, cloud and kind filters (the same fields, so the same URLs)."""

    filters = FILTERS  # the multiple-choice filters clean() de-duplicates and picked() names
    account = JobFilterForm.base_fields["account"]
    cloud = JobFilterForm.base_fields["cloud"]
    kind = JobFilterForm.base_fields["kind"]

    def __init__(self, data=None, accounts=(), **kwargs):
        super().__init__(data, **kwargs)
        self.fields["account"].choices = [(a.pk, a.name) for a in accounts]

    def clean(self):
        data = super().clean()
        for name in self.filters:
            if name in MULTI and name in data:  # ?kind=a&kind=a filters once
                data[name] = list(dict.fromkeys(data[name]))
        return data

    def picked(self):
        picked = {}
        for name in self.filters:
            chosen = {str(v) for v in self[name].value() or ()}
            picked[name] = [str(label) for value, label in self.fields[name].choices if str(value) in chosen]
        return picked


def _params(request: HttpRequest) -> list[tuple[str, str]]:
    return [(k, v) for k in FILTERS for v in request.GET.getlist(k) if v]


@require_GET
def triage(request: HttpRequest, as_csv: bool = False) -> HttpResponse:
    form = TriageFilterForm(request.GET, accounts=selectors.accounts())
    if not form.is_valid():
        return _bad_request(request, form, reverse("triage"))
    now = timezone.now()
    groups = triage_groups.failure_groups(form.cleaned_data, now=now)
    params = _params(request)
    list_url = reverse("job_list")
    for g in groups:
        g.list_url = list_url + "?" + urlencode([("failure", g.signature), *params])
    if as_csv:
        return _csv(request, groups)
    query = urlencode(params)
    context = {
        "form": form,
        "picked": form.picked(),
        "groups": groups,
        "now": now,
        "csv_url": reverse("triage_csv") + ("?" + query if query else ""),
        "trend_days": triage_groups.TREND_DAYS,
        "trend_width": triage_groups.TREND_DAYS * 6,
    }
    return render(request, "jobs/triage.html", context)


def _csv(request: HttpRequest, groups) -> HttpResponse:
    tz = timezone.get_current_timezone()

    def when(value):
        return timezone.localtime(value, tz).isoformat() if value else ""

    out = io.StringIO()
    out.write("\ufeff")  # a BOM, so spreadsheet programs read the UTF-8 (Chinese reasons) right
    writer = csv.writer(out)
    writer.writerow(
        [
            "group",
            "kind",
            "error_code",
            "reason",
            "sample_message",
            "last_hour",
            "last_day",
            "last_week",
            "total",
            "first_seen",
            "last_seen",
            "accounts",
            "batches",
            "jobs_url",
        ]
    )
    for g in groups:
        writer.writerow(
            [
                csv_safe(v)
                for v in (
                    g.signature,
                    g.kind,
                    g.code,
                    g.reason,
                    g.sample,
                    g.hour,
                    g.day,
                    g.week,
                    g.total,
                    when(g.first_seen),
                    when(g.last_seen),
                    ", ".join(g.accounts),
                    ", ".join(g.batches),
                    request.build_absolute_uri(g.list_url),
                )
            ]
        )
    response = HttpResponse(out.getvalue(), content_type="text/csv; charset=utf-8")
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    response["Content-Disposition"] = f'attachment; filename="failure-triage-{stamp}.csv"'
    return response
