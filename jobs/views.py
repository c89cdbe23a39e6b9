"""Thin function views over jobs.selectors. An htmx request gets a named partial of the same
template as the full page; a history-restore request gets the full page."""

import csv
import hashlib
from datetime import UTC, datetime
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db.models import F
from django.forms import Form
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers

from jobs import selectors, sync, tasks, timelines
from jobs.forms import JobFilterForm, PreferencesForm, ProgressForm, StepsForm, TrackJobsForm, parse_id
from jobs.middleware import SESSION_KEY as TZ_SESSION_KEY
from jobs.models import CloudAccount, Job, Kind, Status, SyncRun, UserPreference

PAGE_SIZE = 50
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
STEPS_PAGE = 50
SYNC_PERMISSION = "jobs.trigger_sync"


def _fragment(request: HttpRequest) -> bool:
    """True for an htmx request that wants a partial (not a history restore)."""
    return bool(request.htmx) and not request.htmx.history_restore_request


def _require_operator(request: HttpRequest) -> None:
    if not request.user.has_perm(SYNC_PERMISSION):
        raise PermissionDenied


def _bad_request(request, form: Form, back: str, target: str | None = None, swap="innerHTML", keep=True):
    """400 naming each parameter the form refused, with a link to `back` (keeping the good ones
    if `keep`); an htmx request gets that alone, swapped into `target` (default: the asker)."""
    kept = [(k, v) for k, values in request.GET.lists() if keep and k not in form.errors for v in values]
    context = {
        "form": form,
        "problems": [(form[n], form.data.getlist(n)) for n in form.errors if n in form.fields],
        "back_url": back + ("?" + urlencode(kept) if kept else ""),
        "restart_url": reverse("job_list") if isinstance(form, JobFilterForm) else None,
    }
    if not _fragment(request):
        return render(request, "jobs/bad_request.html", context, status=400)
    response = render(request, "jobs/bad_request.html#problem", context, status=400)
    response["HX-Reswap"] = swap
    if target:
        response["HX-Retarget"] = target
    return response


def _bad_filters(request: HttpRequest, form: JobFilterForm) -> HttpResponse:
    """The job list, counts and export: back to the list; a bad poll changes no rows."""
    if "since" in request.GET:
        return _bad_request(request, form, reverse("job_list"), swap="none")
    return _bad_request(request, form, reverse("job_list"), target="#results")


# --- overview -----------------------------------------------------------------------------


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


# --- job list -----------------------------------------------------------------------------


def _filter_form(request: HttpRequest) -> JobFilterForm:
    return JobFilterForm(request.GET, accounts=selectors.accounts())


def _mark_stuck(rows):
    now = timezone.now()
    for job in rows:
        job.is_stuck = selectors.is_stuck(job, now)


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

    if filters["since"]:
        return _poll(request, form, qs, params, filters["since"])

    cursor = selectors.change_cursor()
    page = selectors.job_page(qs, filters["sort"], filters.get("cursor"), PAGE_SIZE)
    _mark_stuck(page.rows)
    context = {
        "form": form,
        "page": page,
        "params": params,
        "query": urlencode(params),
        "more_url": _list_url(params, after=page.next_cursor) if page.next_cursor else None,
        # An empty cache polls from the epoch, so the first sync's rows appear on their own.
        "poll_url": _list_url(params, since=(cursor or EPOCH).isoformat()),
        "counts_url": reverse("job_counts") + ("?" + urlencode(params) if params else ""),
        "export_url": reverse("job_export") + ("?" + urlencode(params) if params else ""),
        "first_url": _list_url(params),
        "is_later_page": bool(filters.get("cursor")),
        "accounts": form.fields["account"].choices,
        "form_key": form.markup_key(),
    }
    if _fragment(request):
        if filters.get("cursor"):
            name = "more"
        elif request.htmx.target == "listing":
            name = "listing"
        else:
            name = "results"
        return render(request, f"jobs/list.html#{name}", context)
    return render(request, "jobs/list.html", context)


def _poll(request, form, qs, params, since):
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
        # Old copies of changed rows go (the re-inserted ones included, whatever the cap).
        "removed": sorted(set(changed_ids) | {job.pk for job in rows}),
        "poll_url": _list_url(params, since=cursor.isoformat()),
        "counts_url": reverse("job_counts") + ("?" + urlencode(params) if params else ""),
    }
    return render(request, "jobs/list.html#poll", context)


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


class _Echo:
    def write(self, value):
        return value


FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def csv_safe(value: object) -> str:
    """Spreadsheets run a cell that starts with = + - @ tab or CR as a formula; a leading
    quote makes it text."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_PREFIXES) else text


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


# --- job detail ---------------------------------------------------------------------------


@require_GET
def job_detail(request: HttpRequest, pk: int) -> HttpResponse:
    try:
        job, linked, events, assessment = timelines.job_detail(pk)
    except Job.DoesNotExist:
        raise Http404 from None
    now = timezone.now()
    metrics = list(assessment.metrics.all()) if assessment else []
    zh = (translation.get_language() or "").startswith("zh")
    for m in metrics:
        m.advice = (m.suggestion or m.suggestion_en) if zh else (m.suggestion_en or m.suggestion)
    timeline = timelines.timeline(job, events, now)
    # The steps come in pages (keyset on the event id); totals always cover every step.
    form = StepsForm(request.GET)
    if not form.is_valid():
        return _bad_request(request, form, reverse("job_detail", args=[job.pk]), target="#more-steps")
    after = form.cleaned_data["after_event"]
    start = 0
    if after:
        start = next((i + 1 for i, s in enumerate(timeline.steps) if s.event.pk == after), len(timeline.steps))
    steps = timeline.steps[start : start + STEPS_PAGE]
    left = len(timeline.steps) - start - len(steps)
    more_steps_url = None
    if left > 0:
        more_steps_url = reverse("job_detail", args=[job.pk]) + "?" + urlencode({"after_event": steps[-1].event.pk})
    steps_context = {"steps": steps, "steps_left": left, "more_steps_url": more_steps_url}
    if _fragment(request) and after:
        return render(request, "jobs/detail.html#steps", steps_context)
    context = {
        **steps_context,
        "job": job,
        "linked": linked,
        "timeline": timeline,
        "assessment": assessment,
        "metrics": metrics,
        "stuck": selectors.is_stuck(job, now),
        "stuck_limit": selectors.stuck_limit(job.kind, job.state),
        "can_operate": request.user.has_perm(SYNC_PERMISSION),
    }
    return render(request, "jobs/detail.html", context)


@require_POST
def job_refresh(request: HttpRequest, pk: int) -> HttpResponse:
    _require_operator(request)
    job = get_object_or_404(Job.objects.select_related("account"), pk=pk)
    runs = [tasks.start_job_refresh(job)]
    if _fragment(request):
        return render(request, "jobs/sync.html#progress", _progress_context(runs))
    messages.success(request, _("Refresh queued: the job's details will be fetched again shortly."))
    return redirect("job_detail", pk=job.pk)


# --- sync ---------------------------------------------------------------------------------


@require_GET
def sync_page(request: HttpRequest) -> HttpResponse:
    accounts = selectors.accounts()
    grouped = selectors.recent_sync_runs()
    now = timezone.now()
    cards = []
    for account in accounts:
        kinds = [(kind, Kind(kind).label, grouped.get((account.pk, kind), [])) for kind in account.sync_kinds()]
        cards.append({"account": account, "kinds": kinds, "freshness": selectors.freshness(account, now)})
    context = {"cards": cards, "can_operate": request.user.has_perm(SYNC_PERMISSION)}
    return render(request, "jobs/sync.html", context)


def _progress_version(runs):
    text = "|".join(
        f"{r.pk}:{r.outcome}:{r.pages}:{r.seen}:{r.created}:{r.updated}:{r.api_calls}:{r.finished_at}"
        for r in sorted(runs, key=lambda r: r.pk)
    )
    return hashlib.sha1(text.encode()).hexdigest()[:12]


def _progress_context(runs):
    waiting = (SyncRun.Outcome.QUEUED, SyncRun.Outcome.RUNNING)
    done = all(r.outcome not in waiting for r in runs)
    version = _progress_version(runs)
    query = urlencode([("run", r.pk) for r in runs] + [("v", version)])
    return {"runs": runs, "done": done, "progress_url": reverse("sync_progress") + "?" + query}


@require_POST
def sync_now(request: HttpRequest) -> HttpResponse:
    _require_operator(request)
    account = get_object_or_404(CloudAccount, pk=parse_id(request.POST.get("account")) or 0)
    kinds = account.sync_kinds(request.POST.getlist("kind")) or None
    runs = tasks.start_manual_sync(account, kinds=kinds)
    context = dict(_progress_context(runs), account=account)
    if _fragment(request):
        return render(request, "jobs/sync.html#progress", context)
    return redirect(reverse("sync") + "?" + urlencode([("run", r.pk) for r in runs]))


@require_GET
def sync_progress(request: HttpRequest) -> HttpResponse:
    form = ProgressForm(request.GET)
    if not form.is_valid():  # the poll stops: the answer replaces the element that polls
        return _bad_request(request, form, reverse("sync"), swap="outerHTML", keep=False)
    runs = selectors.sync_runs(form.cleaned_data["run"])
    if not runs:
        raise Http404
    context = _progress_context(runs)
    if form.cleaned_data["v"] == _progress_version(runs):
        return HttpResponse(status=204)
    return render(request, "jobs/sync.html#progress", context)


# --- track short jobs ---------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
def track_jobs(request: HttpRequest) -> HttpResponse:
    _require_operator(request)
    if request.method == "POST":
        form = TrackJobsForm(request.POST)
        if form.is_valid():
            account, ids = form.cleaned_data["account"], form.cleaned_data["ids"]
            sync.track_jobs(account, Kind.VOICE_ASSESSMENT.value, ids)
            messages.success(
                request,
                _("Tracking %(n)d assessment job(s) for %(account)s; they appear after the next sync.")
                % {"n": len(ids), "account": account.name},
            )
            return redirect(
                reverse("job_list") + "?" + urlencode([("account", account.pk), ("kind", Kind.VOICE_ASSESSMENT.value)])
            )
    else:
        form = TrackJobsForm()
    return render(request, "jobs/track.html", {"form": form})


# --- preferences --------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
def preferences(request: HttpRequest) -> HttpResponse:
    pref = UserPreference.objects.filter(user=request.user).first()
    current = {
        "time_zone": (pref.time_zone if pref else None) or timezone.get_current_timezone_name(),
        "language": (pref.language if pref else None) or translation.get_language(),
    }
    if request.method == "POST":
        form = PreferencesForm(request.POST)
        if form.is_valid():
            tz, lang = form.cleaned_data["time_zone"], form.cleaned_data["language"]
            UserPreference.objects.update_or_create(user=request.user, defaults={"time_zone": tz, "language": lang})
            request.session[TZ_SESSION_KEY] = tz
            translation.activate(lang)
            messages.success(request, _("Preferences saved."))
            response = redirect("preferences")
            response.set_cookie(settings.LANGUAGE_COOKIE_NAME, lang, samesite="Lax", max_age=365 * 24 * 3600)
            return response
    else:
        form = PreferencesForm(initial=current)
    return render(request, "jobs/preferences.html", {"form": form})
