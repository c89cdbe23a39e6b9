"""The job list: filters, keyset pages, the poll and the per-status counts."""

from urllib.parse import urlencode

from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET
from django.views.decorators.vary import vary_on_headers

from jobs import batches, changes, forms, selectors
from jobs.lastseen_models import LastSeen
from jobs.models import AssessmentMetric, Job, Kind
from jobs.rollup_models import Rollup
from jobs.views.common import EPOCH, PAGE_SIZE, _bad_filters, _filter_form, _fragment

# The column headers that sort the list (sort name per column; the rest sort from the menu).
HEADER_SORTS = {"job": "name", "created": "created", "updated": "updated"}


def _mark_stuck(rows):
    now = timezone.now()
    for job in rows:
        job.is_stuck = selectors.is_stuck(job, now)
    _mark_out_of_range(rows)


def _mark_out_of_range(rows):
    """{"out": metrics out of range, "n": metrics} on each voice assessment row whose assessment
    has any out of range, for a badge beside its status: one query a page."""
    ids = [job.pk for job in rows if job.kind == Kind.VOICE_ASSESSMENT]
    if not ids:
        return
    out = ~Q(status=0) & Q(status__isnull=False)  # the vendor's status: non-zero = out of range
    counts = (
        AssessmentMetric.objects.filter(assessment__job_id__in=ids)
        .values("assessment__job_id")
        .annotate(n=Count("id"), out=Count("id", filter=out))
        .order_by()
    )
    flags = {c["assessment__job_id"]: {"out": c["out"], "n": c["n"]} for c in counts if c["out"]}
    for job in rows:
        job.out_of_range = flags.get(job.pk)


def _list_url(params, **extra):
    query = list(params) + [(k, v) for k, v in extra.items() if v not in (None, "")]
    return reverse("job_list") + ("?" + urlencode(query) if query else "")


@require_GET
@vary_on_headers("HX-Request", "HX-History-Restore-Request")
def job_list(request: HttpRequest) -> HttpResponse:
    form = _filter_form(request)
    if not form.is_valid():
        return _bad_filters(request, form)
    filters = form.cleaned_data
    qs = selectors.filter_jobs(filters)
    params = form.filter_params()
    mark = LastSeen.visit(request.user)  # rows changed since the user's mark are highlighted

    if filters["since"]:
        return _poll(request, form, qs, params, filters["since"], mark)

    cursor = selectors.change_cursor()
    later = bool(filters.get("cursor"))
    # ?n=150 (what "Load more" leaves in the address bar) shows the first 150 rows again.
    size = PAGE_SIZE if later else max(filters["n"] or PAGE_SIZE, PAGE_SIZE)
    page = selectors.job_page(qs, filters["sort"], filters.get("cursor"), size)
    _mark_stuck(page.rows)
    # How many rows the page shows with this one loaded (a "Load more" names it in its URL).
    shown = (filters["n"] or PAGE_SIZE) - PAGE_SIZE + len(page.rows) if later else len(page.rows)
    context = {
        "form": form,
        "page": page,
        "params": params,
        "query": urlencode(params),
        "more_url": _list_url(params, after=page.next_cursor, n=shown + PAGE_SIZE) if page.next_cursor else None,
        "sort_headers": _sort_headers(params, filters["sort"]),
        # An empty cache polls from the epoch, so the first sync's rows appear on their own.
        "poll_url": _list_url(params, since=(cursor or EPOCH).isoformat()),
        "counts_url": reverse("job_counts") + ("?" + urlencode(params) if params else ""),
        "export_url": reverse("job_export") + ("?" + urlencode(params) if params else ""),
        "first_url": _list_url(params),
        "failure": filters.get("failure"),  # a failure group from the triage page, shown and removable
        "without_failure_url": _list_url([(k, v) for k, v in params if k != "failure"]),
        "is_later_page": bool(filters.get("cursor")),
        "accounts": form.fields["account"].choices,
        "form_key": form.markup_key(),
        "rollup": None if later else _rollup(filters),
        "now": timezone.now(),
        "seen_at": mark,
        "since": changes.Since(mark),  # "N changes since your last visit" (counted if shown)
    }
    if _fragment(request):
        if later:
            response = render(request, "jobs/list.html#more", context)
            if filters["n"]:  # the address bar records how far the list goes, for Back
                response["HX-Replace-Url"] = _list_url(params, n=min(shown, forms.MAX_ROWS))
            return response
        if request.htmx.target == "listing":
            name = "listing"
        else:
            name = "results"
        return render(request, f"jobs/list.html#{name}", context)
    return render(request, "jobs/list.html", context)


def _rollup(filters) -> batches.BatchLine | None:
    """A list of exactly one batch (or tag) is that batch's page: its progress and ETA on top,
    summed over the same account, cloud and kind filters."""
    if filters.get("batch"):
        return batches.line(Rollup.Dimension.BATCH, filters["batch"], filters)
    if filters.get("tag"):
        return batches.line(Rollup.Dimension.TAG, filters["tag"], filters)
    return None


def _sort_headers(params, sort):
    """{column: (url, aria-sort or "")} for the sortable column headers."""
    rest = [(k, v) for k, v in params if k != "sort"]
    headers = {}
    for column, name in HEADER_SORTS.items():
        direction = ("descending" if selectors.SORTS[name][1] else "ascending") if name == sort else ""
        headers[column] = (_list_url(rest, sort=name), direction)
    return headers


REMOVED_ROWS_HEADER = "X-Removed-Rows"


def _poll(request, form, qs, params, since, mark):
    """Rows changed since the cursor, or 204 when nothing changed."""
    changed_ids = list(Job.objects.filter(synced_at__gt=since).order_by().values_list("id", flat=True)[:500])
    if not changed_ids:
        return HttpResponse(status=204)
    rows = selectors.changed_since(qs, since, PAGE_SIZE)
    _mark_stuck(rows)
    cursor = selectors.change_cursor()
    context = {
        "form": form,
        "rows": rows,
        "seen_at": mark,
        "poll_url": _list_url(params, since=cursor.isoformat()),
        "counts_url": reverse("job_counts") + ("?" + urlencode(params) if params else ""),
    }
    response = render(request, "jobs/list.html#poll", context)
    # Old copies of changed rows go (the re-inserted ones included, whatever the cap): app.js
    # removes the ones on the page before the swap. Out-of-band deletes would log an htmx
    # error for each changed row the page does not show.
    removed = sorted(set(changed_ids) | {job.pk for job in rows})
    response[REMOVED_ROWS_HEADER] = " ".join(map(str, removed))
    return response


@require_GET
def job_counts(request: HttpRequest) -> HttpResponse:
    """Bounded total and per-status chips for the current filters (loaded after the rows)."""
    form = _filter_form(request)
    if not form.is_valid():
        return _bad_filters(request, form)
    filters = form.cleaned_data
    chips = selectors.status_chips(selectors.filter_jobs(dict(filters, status=[])))
    total = selectors.total_of(chips, filters["status"])
    params = [(k, v) for k, v in form.filter_params() if k != "status"]
    selected = set(filters["status"])
    chip_links = []
    for value, label, count in chips:
        toggled = sorted(selected ^ {value})
        chip_links.append(
            {
                "value": value,
                "label": label,
                "count": count,
                "active": value in selected,
                "url": _list_url(params + [("status", s) for s in toggled]),
            }
        )
    context = {"total": total, "chips": chip_links, "form": form}
    return render(request, "jobs/list.html#counts", context)
