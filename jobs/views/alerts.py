"""The alerts page (issue #14): the rules with their scope and mute state, and the alert log
(newest first, keyset pages) with each alert's delivery per channel. Operators (the sync
permission) acknowledge alerts and mute or unmute rules; everyone signed in reads."""

from __future__ import annotations

from datetime import datetime, timedelta
from urllib.parse import urlencode

from django import forms
from django.db.models import Prefetch, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET, require_POST

from jobs.alert_admin import AlertRuleForm
from jobs.alert_models import Alert, AlertChannel, AlertDelivery, AlertRule
from jobs.models import Kind
from jobs.views.common import SYNC_PERMISSION, _bad_request, _require_operator

PER_PAGE = 50
MUTE_HOURS = (1, 24, 24 * 7)


class AlertLogForm(forms.Form):
    state = forms.ChoiceField(
        required=False, choices=[("", _("All")), ("open", _("Open")), ("resolved", _("Resolved"))]
    )
    rule = forms.TypedChoiceField(required=False, coerce=int, empty_value=None)
    before = forms.CharField(required=False, max_length=64)  # keyset cursor: "<iso time>_<id>"

    def __init__(self, *args, rules=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["rule"].choices = [("", _("All rules")), *((r.pk, r.name) for r in rules)]

    def clean_before(self):
        raw = self.cleaned_data["before"]
        if not raw:
            return None
        when, _sep, pk = raw.rpartition("_")
        try:
            return datetime.fromisoformat(when), int(pk)
        except ValueError:
            raise forms.ValidationError(_("Not a page of this log.")) from None


class RuleForm(forms.ModelForm):
    """A rule as an operator adds it on the page (the admin has every field)."""

    kinds = AlertRuleForm.base_fields["kinds"]  # the admin's field: the kinds as checkboxes

    class Meta:
        model = AlertRule
        fields = ["name", "when", "channels", "accounts", "kinds", "batch", "tag", "threshold", "window_minutes"]
        widgets = {"channels": forms.CheckboxSelectMultiple, "accounts": forms.CheckboxSelectMultiple}
        labels = {
            "name": _("Name"),
            "when": _("When"),
            "channels": _("Channels"),
            "accounts": _("Accounts (none: all)"),
            "batch": _("Batch (optional)"),
            "tag": _("Tag (optional)"),
            "threshold": _("Threshold (0: default)"),
            "window_minutes": _("Window in minutes (0: default)"),
        }
        help_texts = {"accounts": "", "threshold": "", "window_minutes": ""}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["channels"].queryset = AlertChannel.objects.filter(enabled=True)


def _scope(rule: AlertRule) -> str:
    parts = [", ".join(a.name for a in rule.accounts.all()) or str(_("all accounts"))]
    parts.append(", ".join(str(Kind(k).label) if k in Kind.values else k for k in rule.kinds) or str(_("all kinds")))
    if rule.batch:
        parts.append(f"{_('batch')} {rule.batch}")
    if rule.tag:
        parts.append(f"{_('tag')} {rule.tag}")
    return " · ".join(parts)


@require_GET
def alerts(request: HttpRequest) -> HttpResponse:
    return _page(request)


def _page(request: HttpRequest, rule_form: RuleForm | None = None, status: int = 200) -> HttpResponse:
    now = timezone.now()
    rules = list(AlertRule.objects.prefetch_related("accounts", "channels"))
    form = AlertLogForm(request.GET, rules=rules)
    if not form.is_valid():
        return _bad_request(request, form, reverse("alerts"))
    data = form.cleaned_data
    for rule in rules:
        rule.scope = _scope(rule)
        rule.is_muted = rule.muted(now)
    log = Alert.objects.select_related("rule", "acknowledged_by").prefetch_related(
        Prefetch("deliveries", queryset=AlertDelivery.objects.select_related("channel").order_by("id"))
    )
    if data["state"] == "open":
        log = log.filter(resolved_at__isnull=True)
    elif data["state"] == "resolved":
        log = log.filter(resolved_at__isnull=False)
    if data["rule"]:
        log = log.filter(rule_id=data["rule"])
    if data["before"]:
        when, pk = data["before"]
        log = log.filter(Q(opened_at__lt=when) | Q(opened_at=when, id__lt=pk))
    found = list(log.order_by("-opened_at", "-id")[: PER_PAGE + 1])
    more, found = len(found) > PER_PAGE, found[:PER_PAGE]
    keep = [(k, v) for k in ("state", "rule") for v in request.GET.getlist(k) if v]
    older = ""
    if more:
        last = found[-1]
        older = "?" + urlencode([*keep, ("before", f"{last.opened_at.isoformat()}_{last.pk}")])
    context = {
        "form": form,
        "rules": rules,
        "alerts": found,
        "older_url": older,
        "newest_url": "?" + urlencode(keep) if data["before"] else "",
        "open_count": Alert.objects.filter(resolved_at__isnull=True).count(),
        "can_operate": request.user.has_perm(SYNC_PERMISSION),
        "mute_hours": MUTE_HOURS,
        "now": now,
        "back": request.get_full_path(),
        "rule_form": rule_form or RuleForm(),
        "has_channels": AlertChannel.objects.filter(enabled=True).exists(),
    }
    return render(request, "jobs/alerts.html", context, status=status)


def _back(request: HttpRequest) -> str:
    back = request.POST.get("back", "")
    return back if back.startswith(reverse("alerts")) else reverse("alerts")


@require_POST
def alert_ack(request: HttpRequest, pk: int) -> HttpResponse:
    _require_operator(request)
    alert = get_object_or_404(Alert, pk=pk)
    if alert.acknowledged_at is None:
        Alert.objects.filter(pk=alert.pk, acknowledged_at__isnull=True).update(
            acknowledged_at=timezone.now(), acknowledged_by=request.user
        )
    return redirect(_back(request))


@require_POST
def rule_add(request: HttpRequest) -> HttpResponse:
    """An operator adds a rule from the page; a bad form comes back with its errors (400)."""
    _require_operator(request)
    form = RuleForm(request.POST)
    if not form.is_valid():
        return _page(request, rule_form=form, status=400)
    form.save()
    return redirect(reverse("alerts"))


@require_POST
def rule_toggle(request: HttpRequest, pk: int) -> HttpResponse:
    """Turn a rule off (it neither opens nor resolves anything) or on again."""
    _require_operator(request)
    rule = get_object_or_404(AlertRule, pk=pk)
    rule.enabled = not rule.enabled
    rule.save(update_fields=["enabled"])
    return redirect(_back(request))


@require_POST
def rule_mute(request: HttpRequest, pk: int) -> HttpResponse:
    _require_operator(request)
    rule = get_object_or_404(AlertRule, pk=pk)
    try:
        hours = int(request.POST.get("hours", ""))
    except ValueError:
        hours = -1
    if hours not in (0, *MUTE_HOURS):
        return HttpResponse(_("Mute for 0 (unmute), 1, 24 or 168 hours."), status=400, content_type="text/plain")
    rule.muted_until = timezone.now() + timedelta(hours=hours) if hours else None
    rule.save(update_fields=["muted_until"])
    return redirect(_back(request))
