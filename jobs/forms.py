"""GET forms (clean_<field> converts; the view answers 400 on nonsense: every query parameter a
view reads goes through one) and the small POST forms of the dashboard: track short jobs,
preferences."""

import hashlib
import re
import zoneinfo
from datetime import UTC, datetime, time, timedelta

from django import forms
from django.conf import settings
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext_lazy as _

from jobs import selectors
from jobs.models import CloudAccount, Kind, Provider, Status

PRESETS = [
    ("", _("Any time")),
    ("today", _("Today")),
    ("7d", _("Last 7 days")),
    ("30d", _("Last 30 days")),
]
SORT_CHOICES = [
    ("updated", _("Recently updated")),
    ("created", _("Recently created")),
    ("name", _("Name")),
    ("state_age", _("Longest in state")),
    ("started", _("Recently started")),
    ("finished", _("Recently finished")),
]
# A URL may ask for the first `n` rows (how far "Load more" went: Back shows them again), up to this.
MAX_ROWS = 1000
TRUE_VALUES = ("1", "on", "true", "yes")
FALSE_VALUES = ("", "0", "off", "false", "no")
STATE_RE = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")
JOB_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_\-]{0,127}$")
ID_RE = re.compile(r"[0-9]{1,19}")
MULTI = ("account", "cloud", "kind", "status")


class FlagInput(forms.CheckboxInput):
    """A checkbox that hands the raw value to clean_<field>, so "abc" can be refused."""

    def __init__(self, attrs=None):
        super().__init__(attrs=dict(attrs or {}, value="1"), check_test=lambda v: str(v).lower() in TRUE_VALUES)

    def format_value(self, value):
        return None

    def value_from_datadict(self, data, files, name):
        return data.get(name, "")


def _flag(value):
    value = (value or "").strip().lower()
    if value in TRUE_VALUES:
        return True
    if value in FALSE_VALUES:
        return False
    raise forms.ValidationError(_("Expected 1 or 0."), code="invalid")


def parse_id(raw) -> int | None:
    """A row id from text, or None: digits only, 1 up to the largest a bigint column holds."""
    if isinstance(raw, str) and ID_RE.fullmatch(raw) and 0 < int(raw) <= selectors.MAX_ID:
        return int(raw)
    return None


def _midnight(day, tz, days=0):
    """00:00 of `day` (+ `days`) in tz, or None past an end of the calendar, in tz or in UTC
    (9999-12-31 + 1 day; 0001-01-01 east of UTC): a bound there would exclude nothing."""
    try:
        value = datetime.combine(day + timedelta(days=days), time.min, tz)
        value.astimezone(UTC)
    except OverflowError:
        return None
    return value


CHECKBOXES = forms.CheckboxSelectMultiple
DATE = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


class JobFilterForm(forms.Form):
    """The job list's filters; every one lives in the URL."""

    q = forms.CharField(
        label=_("Search"),
        required=False,
        max_length=200,
        strip=True,
        widget=forms.TextInput(attrs={"type": "search", "placeholder": _("Name or job id")}),
    )
    account = forms.TypedMultipleChoiceField(label=_("Account"), required=False, coerce=int, widget=CHECKBOXES)
    cloud = forms.MultipleChoiceField(label=_("Cloud"), required=False, choices=Provider.choices, widget=CHECKBOXES)
    kind = forms.MultipleChoiceField(label=_("Kind"), required=False, choices=Kind.choices, widget=CHECKBOXES)
    status = forms.MultipleChoiceField(label=_("Status"), required=False, choices=Status.choices, widget=CHECKBOXES)
    state = forms.CharField(
        label=_("Raw state"), required=False, max_length=64, widget=forms.TextInput(attrs={"placeholder": "TRAINING"})
    )
    batch = forms.CharField(label=_("Batch"), required=False, max_length=255)
    tag = forms.CharField(label=_("Tag"), required=False, max_length=100)
    failure = forms.CharField(label=_("Failure group"), required=False, max_length=255)
    created = forms.ChoiceField(label=_("Created"), required=False, choices=PRESETS)
    created_from = forms.DateField(label=_("Created from"), required=False, widget=DATE)
    created_to = forms.DateField(label=_("Created to"), required=False, widget=DATE)
    updated = forms.ChoiceField(label=_("Updated"), required=False, choices=PRESETS)
    updated_from = forms.DateField(label=_("Updated from"), required=False, widget=DATE)
    updated_to = forms.DateField(label=_("Updated to"), required=False, widget=DATE)
    stuck = forms.CharField(label=_("Stuck only"), required=False, widget=FlagInput)
    include_gone = forms.CharField(label=_("Include gone"), required=False, widget=FlagInput)
    sort = forms.ChoiceField(label=_("Sort by"), required=False, choices=SORT_CHOICES)
    # A cursor holds a name of up to 512 characters, 4 bytes each in UTF-8, in base64.
    after = forms.CharField(label=_("Page cursor"), required=False, max_length=3000)
    since = forms.CharField(label=_("Changed since"), required=False, max_length=64)
    n = forms.IntegerField(label=_("Rows shown"), required=False, min_value=1, max_value=10**9)

    def markup_key(self) -> str:
        """What the rendered form depends on besides the language: the query string and the
        accounts to choose from. templates/jobs/list.html caches the form's markup per worker
        under it (thirteen widget templates cost a third of a full page)."""
        query = self.data.urlencode() if hasattr(self.data, "urlencode") else repr(sorted(self.data.items()))
        return hashlib.sha1(repr((query, self.fields["account"].choices)).encode()).hexdigest()

    def __init__(self, data=None, accounts=(), now=None, **kwargs):
        super().__init__(data, **kwargs)
        self.now = now or timezone.now()
        self.fields["account"].choices = [(a.pk, a.name) for a in accounts]

    def clean_state(self):
        state = self.cleaned_data["state"].strip()
        if state and not STATE_RE.match(state):
            raise forms.ValidationError(_("Not a vendor state."), code="invalid")
        return state

    def clean_tag(self):
        tag = self.cleaned_data["tag"].strip()
        if "|" in tag:
            raise forms.ValidationError(_("A tag cannot contain |."), code="invalid")
        return tag

    def clean_batch(self):
        return self.cleaned_data["batch"].strip()

    def clean_stuck(self):
        return _flag(self.cleaned_data["stuck"])

    def clean_include_gone(self):
        return _flag(self.cleaned_data["include_gone"])

    def clean_sort(self):
        return self.cleaned_data["sort"] or selectors.DEFAULT_SORT

    def clean_n(self):
        return min(self.cleaned_data["n"] or 0, MAX_ROWS) or None

    def clean_since(self):
        raw = self.cleaned_data["since"]
        if not raw:
            return None
        try:
            value = parse_datetime(raw)
        except ValueError:  # well formed but impossible: 2026-13-45
            value = None
        if value is None or value.tzinfo is None:
            raise forms.ValidationError(_("Not a time."), code="invalid")
        # A poll asks for what changed after it: before the first instant UTC holds is all of it.
        return selectors.to_utc(value) or (selectors.FIRST_INSTANT if value.year == 1 else selectors.LAST_INSTANT)

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        for name in MULTI:  # ?kind=a&kind=a filters once
            data[name] = list(dict.fromkeys(data[name]))
        if data.get("after"):
            try:
                data["cursor"] = selectors.decode_cursor(data["after"], data["sort"])
            except selectors.BadCursor:
                self.add_error("after", forms.ValidationError(_("Not a page cursor."), code="invalid"))
        for name in ("created", "updated"):
            start, end = self._range(data.get(name), data.get(f"{name}_from"), data.get(f"{name}_to"))
            if start and end and start >= end:
                self.add_error(f"{name}_to", forms.ValidationError(_("The end is before the start."), code="invalid"))
            data[f"{name}_from"], data[f"{name}_to"] = start, end
        return data

    def _range(self, preset, day_from, day_to):
        """[start, end) as aware datetimes; days are read in the user's time zone."""
        tz = timezone.get_current_timezone()
        if preset:
            today = timezone.localtime(self.now, tz).date()
            start_day = {"today": today, "7d": today - timedelta(days=6), "30d": today - timedelta(days=29)}[preset]
            return datetime.combine(start_day, time.min, tz), None
        start = _midnight(day_from, tz) if day_from else None
        end = _midnight(day_to, tz, days=1) if day_to else None
        return start, end

    # Query strings for links: the filters without the page cursor or position.
    def filter_params(self):
        data = self.data
        params = []
        for name in self.fields:
            if name in ("after", "since", "n"):
                continue
            for value in data.getlist(name) if hasattr(data, "getlist") else [data.get(name)]:
                if value not in (None, ""):
                    params.append((name, value))
        return params

    def picked(self):
        """{menu: labels of its ticked choices} for the filter menus' buttons ("Kind: Voice")."""
        picked = {}
        for name in MULTI:
            chosen = {str(v) for v in self[name].value() or ()}
            picked[name] = [str(label) for value, label in self.fields[name].choices if str(value) in chosen]
        return picked

    def active_count(self):
        return sum(1 for name, _v in self.filter_params() if name != "sort")


class IdsField(forms.Field):
    """Repeated row ids (?run=1&run=2), each once, at most `max_count` of them."""

    widget = forms.MultipleHiddenInput
    default_error_messages = {"invalid": _("%(value)s is not an id."), "max": _("At most %(n)d ids at a time.")}

    def __init__(self, *, max_count, **kwargs):
        self.max_count = max_count
        super().__init__(**kwargs)

    def to_python(self, value):
        ids = []
        for raw in value or ():
            if parse_id(raw) is None:
                raise forms.ValidationError(self.error_messages["invalid"], code="invalid", params={"value": raw[:40]})
            ids.append(parse_id(raw))
        if len(ids) > self.max_count:
            raise forms.ValidationError(self.error_messages["max"], code="max", params={"n": self.max_count})
        return list(dict.fromkeys(ids))


class ProgressForm(forms.Form):
    """The sync progress poll: the runs to show and the version the page shows now."""

    run = IdsField(label=_("Sync run"), max_count=20)
    v = forms.CharField(label=_("Progress version"), required=False, max_length=64)


class StepsForm(forms.Form):
    """The job page's steps come in pages: the steps after this event."""

    after_event = forms.IntegerField(label=_("Step"), required=False, min_value=1, max_value=selectors.MAX_ID)


class TrackJobsForm(forms.Form):
    account = forms.ModelChoiceField(
        label=_("Account"), queryset=CloudAccount.objects.filter(provider=Provider.HUAWEI).order_by("name")
    )
    ids = forms.CharField(
        label=_("Assessment job ids"),
        widget=forms.Textarea(attrs={"rows": 6, "placeholder": "26f06524-4f75-4b3a-a853-b649a21aaf66"}),
        help_text=_("One or more ids, separated by spaces, commas or new lines."),
        max_length=20000,
    )

    MAX_IDS = 200
    MAX_NAMED = 20  # bad ids named one by one; the rest counted
    # MetaStudio short-job ids are UUIDs (CreateShortJob's job_id; reference §1, §5).
    SHORT_JOB_ID_RE = re.compile(r"^[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        field = self.fields["account"]
        only = list(field.queryset[:2])
        if len(only) == 1:  # one Huawei account: nothing to choose
            field.initial, field.empty_label = only[0].pk, None

    def clean_ids(self):
        ids, bad = [], []
        for raw in re.split(r"[\s,;]+", self.cleaned_data["ids"]):
            if raw and not self.SHORT_JOB_ID_RE.match(raw):
                bad.append(raw)
            elif raw and raw.lower() not in ids:
                ids.append(raw.lower())
        if bad:
            errors = [
                forms.ValidationError(
                    _("“%(id)s” cannot be a short-job id: they look like 26f06524-4f75-4b3a-a853-b649a21aaf66."),
                    code="invalid",
                    params={"id": raw[:80]},
                )
                for raw in bad[: self.MAX_NAMED]
            ]
            if len(bad) > self.MAX_NAMED:
                errors.append(
                    forms.ValidationError(
                        _("… and %(n)d more that cannot be ids."),
                        code="invalid",
                        params={"n": len(bad) - self.MAX_NAMED},
                    )
                )
            raise forms.ValidationError(errors)
        if not ids:
            raise forms.ValidationError(_("Paste at least one job id."), code="required")
        if len(ids) > self.MAX_IDS:
            raise forms.ValidationError(_("At most %(n)d ids at a time."), code="max", params={"n": self.MAX_IDS})
        return ids


def time_zone_choices():
    return [(name, name) for name in sorted(zoneinfo.available_timezones()) if "/" in name or name == "UTC"]


class PreferencesForm(forms.Form):
    time_zone = forms.ChoiceField(label=_("Time zone"))
    language = forms.ChoiceField(label=_("Language"), choices=settings.LANGUAGES)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["time_zone"].choices = time_zone_choices()
