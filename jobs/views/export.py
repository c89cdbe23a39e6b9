"""The job list as CSV (streamed, formula-safe)."""

import csv

from django.db.models import F
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.utils import timezone
from django.views.decorators.http import require_GET

from jobs import selectors
from jobs.views.common import _bad_filters, _filter_form


class _Echo:
    def write(self, value):
        return value


FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def csv_safe(value: object) -> str:
    """Spreadsheets run a cell that starts with = + - @ tab or CR as a formula; a leading
    quote makes it text."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_PREFIXES) else text


def _duration(job) -> str:
    """Whole seconds from start to finish, when both are known."""
    if job.started_at and job.finished_at:
        return str(int((job.finished_at - job.started_at).total_seconds()))
    return ""


def _csv_rows(qs):
    tz = timezone.get_current_timezone()

    def when(value):
        return timezone.localtime(value, tz).isoformat() if value else ""

    yield "\ufeff"  # a BOM, so spreadsheet programs read the UTF-8 (Chinese names) right
    writer = csv.writer(_Echo())
    yield writer.writerow(
        [
            "id",
            "account",
            "cloud",
            "kind",
            "remote_id",
            "name",
            "status",
            "state",
            "created_at",
            "updated_at",
            "started_at",
            "finished_at",
            "duration_seconds",
            "batch",
            "tags",
            "error_code",
            "error_message",
            "gone",
        ]
    )
    rows = qs.select_related("account").order_by(F("updated_at").desc(), F("id").desc())
    for job in rows.iterator(chunk_size=2000):
        yield writer.writerow(
            [
                csv_safe(v)
                for v in (
                    job.pk,
                    job.account.name,
                    job.account.provider,
                    job.kind,
                    job.remote_id,
                    job.name,
                    job.status,
                    job.state,
                    when(job.created_at),
                    when(job.updated_at),
                    when(job.started_at),
                    when(job.finished_at),
                    _duration(job),
                    job.batch,
                    ",".join(job.tags or []),
                    job.error_code,
                    job.error_message,
                    "1" if job.gone else "0",
                )
            ]
        )


@require_GET
def job_export(request: HttpRequest) -> HttpResponse:
    form = _filter_form(request)
    if not form.is_valid():
        return _bad_filters(request, form)
    qs = selectors.filter_jobs(form.cleaned_data)
    response = StreamingHttpResponse(_csv_rows(qs), content_type="text/csv; charset=utf-8")
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    response["Content-Disposition"] = f'attachment; filename="jobs-{stamp}.csv"'
    return response
