"""Stage analytics: per kind and vendor state the p50/p95 time in state over a window and the
jobs in it now, jobs finished per day, jobs in each state per day (jobs.stage_reads), as a page
and as CSV (one table per ?table=), filtered by account, cloud and kind like the job list."""

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

from jobs import selectors, stage_charts, stage_reads
from jobs.views.common import _bad_request
from jobs.views.export import csv_safe
from jobs.views.triage import TriageFilterForm

TABLES = [("times", _("Time in state")), ("finished", _("Finished per day")), ("levels", _("Jobs in each state"))]


class StagesFilterForm(TriageFilterForm):
    """The job list's account, cloud and kind filters, the window, and which table a CSV holds."""

    window = forms.ChoiceField(label=_("Window"), required=False, choices=stage_reads.WINDOW_CHOICES)
    table = forms.ChoiceField(label=_("Table"), required=False, choices=TABLES)

    def clean_window(self):
        return self.cleaned_data["window"] or stage_reads.DEFAULT_WINDOW

    def clean_table(self):
        return self.cleaned_data["table"] or "times"


def _query(request: HttpRequest, **extra) -> str:
    keep = ("account", "cloud", "kind", "window")
    params = [(k, v) for k in keep for v in request.GET.getlist(k) if v and k not in extra]
    params += [(k, v) for k, v in extra.items() if v]
    return urlencode(params)


@require_GET
def stages(request: HttpRequest, as_csv: bool = False) -> HttpResponse:
    form = StagesFilterForm(request.GET, accounts=selectors.accounts())
    if not form.is_valid():
        return _bad_request(request, form, reverse("stages"))
    data = form.cleaned_data
    window = data["window"]
    rep = stage_reads.report(
        stage_reads.account_ids(data), data["kind"], stage_reads.WINDOWS[window], now=timezone.now()
    )
    if as_csv:
        return _csv(rep, data["table"], window)
    scale = stage_charts.dwell_scale(rep.stats)
    for s in rep.stats:
        s.bar = stage_charts.dwell_bar(s, scale)
        s.list_url = (
            reverse("job_list") + "?" + _query(request, state=s.state, kind=s.kind, sort="state_age", window="")
        )
    for row in rep.levels:
        row.spark = stage_charts.level_spark(row)
        row.now = row.values[-1]
    csv_base = reverse("stages_csv")
    context = {
        "form": form,
        "picked": form.picked(),
        "rep": rep,
        "window": window,
        "windows": [(value, label, "?" + _query(request, window=value)) for value, label in stage_reads.WINDOW_CHOICES],
        "finished_chart": stage_charts.finished_chart(rep),
        "finished_rows": stage_charts.finished_rows(rep),
        "outcomes": stage_reads.OUTCOMES,
        "csv": {name: f"{csv_base}?{_query(request, table=name)}" for name, _label in TABLES},
    }
    return render(request, "jobs/stages.html", context)


def _seconds(value):
    return "" if value is None else int(value.total_seconds())


def _csv(rep: stage_reads.Report, table: str, window: str) -> HttpResponse:
    out = io.StringIO()
    out.write("\ufeff")  # a BOM, so spreadsheet programs read UTF-8 right
    writer = csv.writer(out)
    if table == "times":
        writer.writerow(
            ["kind", "state", "status", "window", "left_in_window", "p50_seconds", "p95_seconds", "in_it_now",
             "longest_so_far_seconds"]
        )  # fmt: skip
        for s in rep.stats:
            row = [s.kind, s.state, s.status, window, s.left, _seconds(s.p50), _seconds(s.p95), s.now]
            writer.writerow([csv_safe(v) for v in (*row, _seconds(s.longest))])
    elif table == "finished":
        writer.writerow(["day", "kind", "status", "jobs"])
        for day in rep.days:
            for (kind, status), n in sorted(rep.finished.get(day, {}).items()):
                writer.writerow([day.isoformat(), csv_safe(kind), csv_safe(status), n])
    else:
        writer.writerow(["day", "kind", "state", "status", "jobs_at_end_of_day"])
        for row in rep.levels:
            for day, n in zip(rep.days, row.values):
                writer.writerow([day.isoformat(), csv_safe(row.kind), csv_safe(row.state), csv_safe(row.status), n])
    response = HttpResponse(out.getvalue(), content_type="text/csv; charset=utf-8")
    stamp = rep.now.strftime("%Y%m%d-%H%M%S")
    response["Content-Disposition"] = f'attachment; filename="stages-{table}-{window}-{stamp}.csv"'
    return response
