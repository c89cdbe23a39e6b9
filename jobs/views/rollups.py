"""Batch and tag roll-ups (jobs.batches): progress, stuck jobs, started, ETA per batch or tag,
as a page and as CSV, filtered by account, cloud, kind and name; each line opens its jobs in
the job list (which shows the same roll-up above them)."""

import csv
import io
from urllib.parse import urlencode

from django import forms
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET

from jobs import batches, selectors
from jobs.rollup_models import Rollup
from jobs.views.common import _bad_request
from jobs.views.export import csv_safe
from jobs.views.triage import TriageFilterForm

FILTERS = ("account", "cloud", "kind")


class RollupFilterForm(TriageFilterForm):
    """The triage filters, plus which roll-up (batches or tags), a name search and the page."""

    dimension = forms.ChoiceField(
        label=_("Group by"),
        required=False,
        choices=[(Rollup.Dimension.BATCH, _("Batches")), (Rollup.Dimension.TAG, _("Tags"))],
    )
    q = forms.CharField(label=_("Name contains"), required=False, max_length=255)
    page = forms.IntegerField(label=_("Page"), required=False, min_value=1, max_value=100_000)


def _params(request: HttpRequest, dimension: str) -> list[tuple[str, str]]:
    params = [(k, v) for k in FILTERS for v in request.GET.getlist(k) if v]
    return params


def list_url_for(line: batches.BatchLine, params: list[tuple[str, str]], base: str = "") -> str:
    """The job list filtered to exactly this batch's (tag's) jobs, with the same filters."""
    key = "batch" if line.dimension == Rollup.Dimension.BATCH else "tag"
    return (base or reverse("job_list")) + "?" + urlencode([(key, line.name), *params])


@require_GET
def rollups(request: HttpRequest, as_csv: bool = False) -> HttpResponse:
    form = RollupFilterForm(request.GET, accounts=selectors.accounts())
    if not form.is_valid():
        return _bad_request(request, form, reverse("rollups"))
    data = form.cleaned_data
    dimension = data.get("dimension") or Rollup.Dimension.BATCH
    page = data.get("page") or 1
    now = timezone.now()
    if as_csv:
        found, total = batches.lines(dimension, data, page=1, per_page=batches.CSV_LIMIT, now=now)
    else:
        found, total = batches.lines(dimension, data, page=page, now=now)
    params = _params(request, dimension)
    base = reverse("job_list")
    for b in found:
        b.list_url = list_url_for(b, params, base)
    if as_csv:
        return _csv(request, found, dimension)
    keep = [*params, *([("dimension", dimension)] if dimension != Rollup.Dimension.BATCH else [])]
    if data.get("q"):
        keep.append(("q", data["q"]))
    pages = max(1, -(-total // batches.PER_PAGE))

    def page_url(n):
        return "?" + urlencode([*keep, *([("page", n)] if n > 1 else [])])

    tabs = [
        (value, label, "?" + urlencode([*params, *([("dimension", value)] if value != "batch" else [])]))
        for value, label in form.fields["dimension"].choices
    ]
    context = {
        "form": form,
        "picked": form.picked(),
        "dimension": dimension,
        "tabs": tabs,
        "lines": found,
        "total": total,
        "page": page,
        "pages": pages,
        "prev_url": page_url(page - 1) if page > 1 else "",
        "next_url": page_url(page + 1) if page < pages else "",
        "now": now,
        "segments": [(key, label) for key, label, _s in batches.SEGMENTS],
        "csv_url": reverse("rollups_csv") + "?" + urlencode([*keep]),
    }
    return render(request, "jobs/rollups.html", context)


def _csv(request: HttpRequest, found, dimension: str) -> HttpResponse:
    tz = timezone.get_current_timezone()

    def when(value):
        return timezone.localtime(value, tz).isoformat() if value else ""

    out = io.StringIO()
    out.write("\ufeff")  # a BOM, so spreadsheet programs read the UTF-8 (Chinese names) right
    writer = csv.writer(out)
    keys = [key for key, _label, _s in batches.SEGMENTS]
    writer.writerow(
        [
            dimension,
            "jobs",
            *keys,
            "unfinished",
            "stuck",
            "first_created",
            "started",
            "last_activity",
            "finished",
            "eta_p25",
            "eta_p50",
            "eta_p75",
            "accounts",
            "kinds",
            "computed_at",
            "jobs_url",
        ]
    )
    for b in found:
        row = [
            b.name,
            b.total,
            *(b.counts.get(k, 0) for k in keys),
            b.unfinished,
            b.stuck,
            when(b.first_created),
            when(b.started),
            when(b.last_activity),
            when(b.finished),
            when(b.eta_p25),
            when(b.eta_p50),
            when(b.eta_p75),
            ", ".join(b.accounts),
            ", ".join(b.kinds),
            when(b.computed_at),
            request.build_absolute_uri(b.list_url),
        ]
        writer.writerow([csv_safe(v) for v in row])
    response = HttpResponse(out.getvalue(), content_type="text/csv; charset=utf-8")
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    name = "batches" if dimension == Rollup.Dimension.BATCH else "tags"
    response["Content-Disposition"] = f'attachment; filename="{name}-{stamp}.csv"'
    return response
