"""The sync page (start a sync, watch its progress) and tracking short jobs."""

import hashlib
from urllib.parse import urlencode

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from jobs import selectors, sync, tasks
from jobs.forms import ProgressForm, TrackJobsForm, parse_id
from jobs.models import CloudAccount, Kind, SyncRun
from jobs.views.common import SYNC_PERMISSION, _bad_request, _fragment, _require_operator


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
