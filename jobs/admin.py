"""Admin: cloud credentials (write-only secrets), and read-only browsing of the cache.

The cache tables get big, so their changelists never run an unbounded COUNT: a paginator
that counts at most CAPPED_COUNT rows, and no "show all" full count.
"""

from django.contrib import admin, messages
from django.core.paginator import Paginator
from django.db import transaction
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.functional import cached_property
from django.utils.html import format_html
from django.utils.timezone import localtime
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from django_celery_beat.admin import PeriodicTaskAdmin, PeriodicTaskForm
from django_celery_beat.models import PeriodicTask

from jobs import sync, tasks
from jobs.forms_admin import CloudAccountForm
from jobs.models import Assessment, AssessmentMetric, CloudAccount, Job, JobEvent, SyncRun
from jobs.providers import get_provider
from jobs.providers.base import ProviderError
from jobs.sync.lease import force_release

CAPPED_COUNT = 1000
# Test connection makes one signed call per account; a handful at a time is plenty.
MAX_CONNECTION_TESTS = 5


class CappedPaginator(Paginator):
    """Counts at most CAPPED_COUNT + 1 rows (a LIMITed subquery), so big tables page cheaply."""

    @cached_property
    def count(self):
        return self.object_list.order_by().values("pk")[: CAPPED_COUNT + 1].count()


class ReadOnlyAdmin(admin.ModelAdmin):
    paginator = CappedPaginator
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER  # facet counts would COUNT the whole table
    list_per_page = 50

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


def _safe_error(exc, account) -> str:
    return sync.error_fields(exc, account)["error_message"]


@admin.register(CloudAccount)
class CloudAccountAdmin(admin.ModelAdmin):
    form = CloudAccountForm
    list_display = ["name", "provider", "region", "enabled", "secret_state", "last_success_at", "short_error"]
    list_filter = ["provider", "enabled"]
    search_fields = ["name"]
    actions = ["test_connection", "sync_now", "release_lease"]
    readonly_fields = [
        "lease_state",
        "has_active_jobs",
        "last_sync_at",
        "last_success_at",
        "last_error",
        "last_error_at",
        "job_count",
    ]
    fieldsets = [
        (None, {"fields": ["name", "provider", "region", "endpoint", "enabled"]}),
        # The cloud-* classes: admin_account.js shows only the chosen cloud's fieldsets.
        (_("Huawei Cloud MetaStudio"), {"fields": ["project_id"], "classes": ["cloud-huawei"]}),
        (_("Tencent Cloud CI"), {"fields": ["bucket", "queue_id", "list_path"], "classes": ["cloud-tencent"]}),
        (
            _("Credentials (write-only)"),
            {
                "fields": [
                    "access_key_id",
                    "secret_key",
                    "clear_secret_key",
                    "token",
                    "clear_token",
                    "check_credentials",
                ]
            },
        ),
        (
            _("Huawei IAM user (token auth, instead of AK/SK)"),
            {
                "fields": ["iam_domain", "iam_user", "iam_password", "clear_iam_password", "iam_endpoint"],
                "classes": ["cloud-huawei"],
            },
        ),
        (_("Sync"), {"fields": ["kinds", "sync_interval", "active_sync_interval", "full_sync_interval", "max_rps"]}),
        (_("Status"), {"fields": readonly_fields}),
    ]

    def get_fieldsets(self, request, obj=None):
        # "clear" checkboxes exist only while something is stored; status only once saved.
        hidden = set()
        if not (obj and obj.has_secret_key):
            hidden.add("clear_secret_key")
        if not (obj and obj.has_token):
            hidden.add("clear_token")
        if not (obj and obj.has_iam_password):
            hidden.add("clear_iam_password")
        fieldsets = []
        for title, opts in self.fieldsets:
            if obj is None and opts["fields"] is self.readonly_fields:
                continue
            fieldsets.append((title, {**opts, "fields": [f for f in opts["fields"] if f not in hidden]}))
        return fieldsets

    @admin.display(description=_("Secret"))
    def secret_state(self, obj):
        if obj.has_secret_key:
            return _("set")
        return _("IAM user") if obj.uses_iam else _("not set")

    @admin.display(description=_("Last error"))
    def short_error(self, obj):
        return (obj.last_error[:80] + "…") if len(obj.last_error) > 80 else obj.last_error

    @admin.display(description=_("Sync lease"))
    def lease_state(self, obj):
        if obj.lease_owner and obj.lease_until and obj.lease_until >= timezone.now():
            return _("held by a sync until %(until)s") % {
                "until": date_format(localtime(obj.lease_until), "DATETIME_FORMAT")
            }
        return _("free")

    @admin.display(description=_("Cached jobs"))
    def job_count(self, obj):
        return obj.jobs.count() if obj.pk else 0

    class Media:
        js = ["js/admin_account.js"]

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if form.cleaned_data.get("check_credentials"):
            # After the admin's transaction commits: a vendor call (up to its timeouts and
            # retries) must not hold the database's write lock.
            transaction.on_commit(lambda: self._check_credentials(request, obj))

    def _check_credentials(self, request, account):
        """The "Test connection" action's call, right after a save: a wrong secret is said at once."""
        try:
            get_provider(account).check_connection()
        except ProviderError as exc:
            self.message_user(
                request,
                _("%(name)s was saved, but the cloud refused its credentials: %(error)s")
                % {"name": account.name, "error": _safe_error(exc, account)},
                messages.WARNING,
            )
        except Exception as exc:  # an unreachable endpoint or a bug: say what, never the secret
            self.message_user(
                request,
                _("%(name)s was saved, but its credentials could not be tested: %(error)s")
                % {"name": account.name, "error": type(exc).__name__},
                messages.WARNING,
            )
        else:
            self.message_user(request, _("%(name)s: the credentials work.") % {"name": account.name}, messages.SUCCESS)

    def has_trigger_sync_permission(self, request):
        return request.user.has_perm("jobs.trigger_sync")

    @admin.action(description=_("Test connection (one signed call)"), permissions=["change"])
    def test_connection(self, request, queryset):
        accounts = list(queryset[: MAX_CONNECTION_TESTS + 1])
        if len(accounts) > MAX_CONNECTION_TESTS:
            self.message_user(
                request, _("Test at most %d accounts at a time.") % MAX_CONNECTION_TESTS, messages.WARNING
            )
            return
        for account in accounts:
            try:
                summary = get_provider(account).check_connection()
            except ProviderError as exc:
                self.message_user(
                    request,
                    _("%(name)s: test failed: %(error)s") % {"name": account.name, "error": _safe_error(exc, account)},
                    messages.ERROR,
                )
            except Exception as exc:  # a bug or an undecryptable secret: say what, never the secret
                self.message_user(
                    request,
                    _("%(name)s: cannot test: %(error)s") % {"name": account.name, "error": type(exc).__name__},
                    messages.ERROR,
                )
            else:
                self.message_user(
                    request,
                    _("%(name)s: connection works (%(summary)s)")
                    % {"name": account.name, "summary": sync.redact(str(summary), account)},
                    messages.SUCCESS,
                )

    @admin.action(description=_("Sync now"), permissions=["trigger_sync"])
    def sync_now(self, request, queryset):
        queued = 0
        for account in queryset:
            queued += len(tasks.start_manual_sync(account))
        self.message_user(
            request,
            ngettext("%d sync run queued.", "%d sync runs queued.", queued) % queued,
            messages.SUCCESS,
        )

    @admin.action(description=_("Release the sync lease (after a crashed sync)"), permissions=["change"])
    def release_lease(self, request, queryset):
        """Asks first (a page listing each lease and its running runs), then frees them: a sync
        still alive under one is fenced off and stops at its next write (jobs/sync/lease.py)."""
        accounts = list(queryset)
        if request.POST.get("confirmed") != "yes":
            now = timezone.now()
            rows = [
                {
                    "account": account,
                    "held": bool(account.lease_owner and account.lease_until and account.lease_until >= now),
                    "running": account.sync_runs.filter(outcome=SyncRun.Outcome.RUNNING).count(),
                }
                for account in accounts
            ]
            context = {
                **self.admin_site.each_context(request),
                "title": _("Release the sync lease?"),
                "rows": rows,
                "queryset": accounts,
                "opts": self.model._meta,
                "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
                "media": self.media,
            }
            return TemplateResponse(request, "admin/jobs/cloudaccount/release_lease.html", context)
        closed = 0
        for account in accounts:
            closed += force_release(account.pk)[1]
        self.message_user(
            request,
            ngettext(
                "Released the sync lease of %(n)d account; %(closed)d running run(s) closed.",
                "Released the sync leases of %(n)d accounts; %(closed)d running run(s) closed.",
                len(accounts),
            )
            % {"n": len(accounts), "closed": closed},
            messages.SUCCESS,
        )
        return None


class NamedTaskForm(PeriodicTaskForm):
    """django-celery-beat leaves "Task (registered)" empty on a saved task (only "Task (custom)"
    holds the name): preselect it, so the change form says which task runs."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk and not self.initial.get("regtask"):
            self.initial["regtask"] = self.instance.task


class NamedPeriodicTaskAdmin(PeriodicTaskAdmin):
    form = NamedTaskForm
    list_display = ("name", "task", "enabled", "scheduler", "interval", "start_time", "last_run_at", "one_off")


admin.site.unregister(PeriodicTask)
admin.site.register(PeriodicTask, NamedPeriodicTaskAdmin)


class AssessmentMetricInline(admin.TabularInline):
    model = AssessmentMetric
    extra = 0
    can_delete = False
    fields = ["metric", "expected", "actual", "status", "suggestion", "suggestion_en"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Job)
class JobAdmin(ReadOnlyAdmin):
    list_display = ["remote_id", "name", "account", "kind", "status", "state", "updated_at", "gone"]
    list_filter = ["kind", "status", "gone", "account"]
    list_select_related = ["account"]
    search_fields = ["=remote_id", "^name"]
    ordering = ["-updated_at", "-id"]
    raw_id_fields = ["account"]
    readonly_fields = ["events_link"]

    @admin.display(description=_("Events"))
    def events_link(self, obj):
        return format_html('<a href="../../../jobevent/?job__id__exact={}">{}</a>', obj.pk, _("timeline"))


@admin.register(JobEvent)
class JobEventAdmin(ReadOnlyAdmin):
    list_display = ["occurred_at", "job", "source", "action", "operator", "from_state", "to_state"]
    list_filter = ["source"]
    list_select_related = ["job"]
    raw_id_fields = ["job"]
    ordering = ["-id"]


@admin.register(Assessment)
class AssessmentAdmin(ReadOnlyAdmin):
    list_display = ["job", "suggestion", "updated_at"]
    list_select_related = ["job"]
    raw_id_fields = ["job"]
    inlines = [AssessmentMetricInline]


@admin.register(SyncRun)
class SyncRunAdmin(ReadOnlyAdmin):
    list_display = [
        "started_at",
        "account",
        "kind",
        "trigger",
        "outcome",
        "pages",
        "api_calls",
        "throttled",
        "seen",
        "created",
        "updated",
        "marked_gone",
        "events_created",
        "details_fetched",
        "error_code",
        "request_id",
    ]
    list_filter = ["outcome", "kind", "trigger", "account"]
    list_select_related = ["account"]
    raw_id_fields = ["account"]
    ordering = ["-started_at"]


from jobs import alert_admin, savedview_admin  # noqa: E402, F401  (register the alert and saved-view models)
