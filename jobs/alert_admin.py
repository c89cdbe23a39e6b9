"""Admin of alerts (issue #14): channels with a write-only, encrypted apprise URL and a "send
test" action; rules; the alert log and the outbox, read-only. Imported by jobs.admin."""

from __future__ import annotations

from datetime import timedelta

import apprise
from django import forms
from django.contrib import admin, messages
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from jobs import alert_delivery
from jobs.alert_models import Alert, AlertChannel, AlertDelivery, AlertRule
from jobs.models import Kind


def url_problem(url: str) -> str:
    """Why apprise cannot use ``url`` ('' when it can); never repeats the URL."""
    if not apprise.Apprise().add(url):
        return str(_("apprise does not understand this URL (see its list of services and their URL formats)."))
    return ""


class AlertChannelForm(forms.ModelForm):
    url = forms.CharField(
        label=_("apprise URL"),
        required=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text=_(
            "For example json://hooks.example.com/path, mailtos://user:password@smtp.example.com?to=ops@example.com, "
            "wecombot://KEY, dingtalk://TOKEN, feishu://TOKEN, slack://T/B/C. Write-only: stored encrypted, "
            "never shown again; leave empty to keep the stored one."
        ),
    )

    class Meta:
        model = AlertChannel
        fields = ["name", "enabled"]

    def clean_url(self):
        url = self.cleaned_data["url"].strip()
        if not url and not (self.instance and self.instance.url_encrypted):
            raise forms.ValidationError(_("A new channel needs its URL."))
        if url and (problem := url_problem(url)):
            raise forms.ValidationError(problem)
        return url

    def save(self, commit=True):
        channel = super().save(commit=False)
        if self.cleaned_data.get("url"):
            channel.set_url(self.cleaned_data["url"])
        if commit:
            channel.save()
        return channel


@admin.register(AlertChannel)
class AlertChannelAdmin(admin.ModelAdmin):
    form = AlertChannelForm
    list_display = ["name", "where", "enabled", "created_at"]
    readonly_fields = ["where"]
    fields = ["name", "url", "where", "enabled"]
    actions = ["send_test"]

    @admin.action(description=_("Send a test message"))
    def send_test(self, request, queryset):
        for channel in queryset[:5]:
            reason = alert_delivery.send_test(channel)
            if reason:
                self.message_user(
                    request,
                    _("%(name)s: not delivered: %(reason)s") % {"name": channel.name, "reason": reason},
                    messages.ERROR,
                )
            else:
                self.message_user(request, _("%(name)s: test message sent.") % {"name": channel.name}, messages.SUCCESS)


class AlertRuleForm(forms.ModelForm):
    kinds = forms.MultipleChoiceField(
        label=_("kinds"),
        required=False,
        choices=Kind.choices,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("None: all."),
    )

    class Meta:
        model = AlertRule
        fields = [
            "name",
            "when",
            "channels",
            "accounts",
            "kinds",
            "batch",
            "tag",
            "threshold",
            "window_minutes",
            "enabled",
            "muted_until",
        ]


@admin.register(AlertRule)
class AlertRuleAdmin(admin.ModelAdmin):
    form = AlertRuleForm
    list_display = ["name", "when", "enabled", "muted_until", "created_at"]
    list_filter = ["when", "enabled"]
    filter_horizontal = ["channels", "accounts"]
    actions = ["mute_for_a_day", "unmute"]

    @admin.action(description=_("Mute for 24 hours"))
    def mute_for_a_day(self, request, queryset):
        queryset.update(muted_until=timezone.now() + timedelta(days=1))

    @admin.action(description=_("Unmute"))
    def unmute(self, request, queryset):
        queryset.update(muted_until=None)


class _ReadOnly(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Alert)
class AlertAdmin(_ReadOnly):
    list_display = ["title", "rule", "opened_at", "resolved_at", "acknowledged_at"]
    list_filter = ["rule"]
    list_select_related = ["rule"]
    show_full_result_count = False


@admin.register(AlertDelivery)
class AlertDeliveryAdmin(_ReadOnly):
    list_display = ["alert", "channel", "event", "status", "attempts", "created_at", "sent_at", "last_error"]
    list_filter = ["status", "event", "channel"]
    list_select_related = ["alert", "channel"]
    show_full_result_count = False
