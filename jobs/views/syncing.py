"""The sync page (start a sync, watch its progress) and tracking short jobs."""

import hashlib
from urllib.parse import urlencode

from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from jobs import selectors, sync, tasks
from jobs.forms import ProgressForm, TrackJobsForm, parse_id
from jobs.models import CloudAccount, Kind, SyncRun
from jobs.views.common import SYNC_PERMISSION, _bad_request, _fragment, _require_operator

# SyncRun.trigger, as the run history shows it.
TRIGGERS = {
    "schedule": gettext_lazy("scheduled"),
    "manual": gettext_lazy("manual"),
    "command": gettext_lazy("command line"),
    "refresh": gettext_lazy("job refresh"),
}
WAITING = (SyncRun.Outcome.QUEUED, SyncRun.Outcome.RUNNING)


def _shown_runs(request: HttpRequest) -> list[SyncRun]:
    """The runs named by ?run= (after a Sync now without htmx, or by a card's poll)."""
    if "run" not in request.GET:
        return []
    form = ProgressForm(request.GET)
    return selectors.sync_runs(form.cleaned_data["run"]) if form.is_valid() else []


def _card(account, grouped, active, shown, now) -> dict:
    """One account's card: its run history per kind and, while a sync of it is queued or running
    (or after one this page started), that sync's progress; the card polls itself meanwhile."""
    for runs in grouped.values():
        for run in runs:
            run.trigger_label = TRIGGERS.get(run.trigger, run.trigger)
    kinds = [(kind, Kind(kind).label, grouped.get((account.pk, kind), [])) for kind in account.sync_kinds()]
    running = active.get(account.pk, [])
    progress = {r.pk: r for r in shown if r.account_id == account.pk} | {r.pk: r for r in running}
    runs = sorted(progress.values(), key=lambda r: (r.kind, r.pk))
    card = {"account": account, "kinds": kinds, "freshness": selectors.freshness(account, now), "running": running}
    if runs:
        card.update(_progress_context(runs))
        query = [("account", account.pk)] + [("run", r.pk) for r in runs] + [("v", _progress_version(runs))]
        card["poll_url"] = reverse("sync") + "?" + urlencode(query)
    return card


@require_GET
def sync_page(request: HttpRequest) -> HttpResponse:
    now = timezone.now()
    grouped = selectors.recent_sync_runs()
    shown = _shown_runs(request)
    can_operate = request.user.has_perm(SYNC_PERMISSION)
    if "account" in request.GET and "v" in request.GET:  # one card's poll (it sends its version)
        account = get_object_or_404(CloudAccount, pk=parse_id(request.GET.get("account")) or 0)
        card = _card(account, grouped, selectors.active_sync_runs(account.pk, now), shown, now)
        if card.get("runs") and request.GET.get("v") == _progress_version(card["runs"]):
            return HttpResponse(status=204)
        return render(request, "jobs/sync.html#card", {"card": card, "can_operate": can_operate})
    active = selectors.active_sync_runs(now=now)
    cards = [_card(account, grouped, active, shown, now) for account in selectors.accounts()]
    return render(request, "jobs/sync.html", {"cards": cards, "can_operate": can_operate})


def _progress_version(runs):
    text = "|".join(
        f"{r.pk}:{r.outcome}:{r.pages}:{r.seen}:{r.created}:{r.updated}:{r.api_calls}:{r.finished_at}"
        for r in sorted(runs, key=lambda r: r.pk)
    )
    return hashlib.sha1(text.encode()).hexdigest()[:12]


def _progress_context(runs):
    done = all(r.outcome not in WAITING for r in runs)
    version = _progress_version(runs)
    query = urlencode([("run", r.pk) for r in runs] + [("v", version)])
    return {"runs": runs, "done": done, "progress_url": reverse("sync_progress") + "?" + query}


def _start_sync(account_pk: int, kinds: list[str]) -> tuple[CloudAccount, list[SyncRun]]:
    with transaction.atomic():
        account = get_object_or_404(CloudAccount.objects.select_for_update(), pk=account_pk)
        runs = selectors.active_sync_runs(account.pk).get(account.pk)
        return account, runs or tasks.start_manual_sync(account, kinds=account.sync_kinds(kinds) or None)


@require_POST
def sync_now(request: HttpRequest) -> HttpResponse:
    """Queue a sync of the account, unless one is queued or running already (a double click, a
    second operator): then that one is shown. The account row's lock makes two requests take
    turns (SQLite's IMMEDIATE transactions take turns anyway)."""
    _require_operator(request)
    account, runs = _start_sync(parse_id(request.POST.get("account")) or 0, request.POST.getlist("kind"))
    if _fragment(request):
        now = timezone.now()
        card = _card(account, selectors.recent_sync_runs(), selectors.active_sync_runs(account.pk, now), runs, now)
        return render(request, "jobs/sync.html#card", {"card": card, "can_operate": True})
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


TRACKED = "tracked_short_jobs"  # the session key of the last ids tracked: the page reports on them


@require_http_methods(["GET", "POST"])
def track_jobs(request: HttpRequest) -> HttpResponse:
    """Register short-job ids, then read them from the vendor (a sync of the account's
    assessments) and report on each: found, not found (not kept), or still to be read."""
    _require_operator(request)
    if request.method == "POST":
        form = TrackJobsForm(request.POST)
        if form.is_valid():
            account, ids = form.cleaned_data["account"], form.cleaned_data["ids"]
            kind = Kind.VOICE_ASSESSMENT.value
            sync.track_jobs(account, kind, ids)
            _account, runs = _start_sync(account.pk, [kind])
            request.session[TRACKED] = {"account": account.pk, "ids": ids, "runs": [r.pk for r in runs]}
            return redirect("track_jobs")
    else:
        form = TrackJobsForm()
    report = _track_report(request.session.get(TRACKED))
    if _fragment(request):
        return render(request, "jobs/track.html#report", {"report": report})
    return render(request, "jobs/track.html", {"form": form, "report": report})


def _track_report(tracked: dict | None) -> dict | None:
    """Per id tracked last: the job the vendor has, or "missing" (the sync dropped it: the vendor
    says it does not exist), or "checking" / "waiting" while no sync has read it yet."""
    if not tracked:
        return None
    account = CloudAccount.objects.filter(pk=tracked["account"]).first()
    if account is None:
        return None
    runs = selectors.sync_runs(tracked["runs"])
    checking = any(r.outcome in WAITING for r in runs)
    jobs = selectors.jobs_by_remote_id(account.pk, Kind.VOICE_ASSESSMENT.value, tracked["ids"])
    rows = []
    for remote_id in tracked["ids"]:
        job = jobs.get(remote_id)
        if job is None:
            outcome = "missing"
        elif job.state:
            outcome = "found"
        else:
            outcome = "checking" if checking else "waiting"
        rows.append({"id": remote_id, "job": job, "outcome": outcome})
    counts = {name: sum(r["outcome"] == name for r in rows) for name in ("found", "missing", "checking", "waiting")}
    return {"account": account, "rows": rows, "checking": checking, "counts": counts, "runs": runs}
