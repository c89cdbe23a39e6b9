"""No query string makes a view fail (issue #11, finding 2): arbitrary text, huge and negative
numbers, impossible dates and times, odd page cursors, repeated keys, NUL and other unicode at
every GET parameter of every view in jobs/urls.py, as a superuser, plain and htmx.

Nothing here lists views or parameters by hand: the views come from the URLconf, and the
parameters a view reads are found by asking it once through a QueryDict that notes every name
looked up (forms read all their fields), so a new view or field is covered as it lands. The
values a parameter gets follow its form field's type (a DateField gets the ends of the
calendar), or its name for the few text fields that hold a time or a cursor, and anything at
all besides. tests/test_views_badinput.py holds the causes found by hand and what the 400 says.
"""

import base64
import json
from datetime import timedelta
from typing import NamedTuple
from urllib.parse import quote_from_bytes

import pytest
from django import forms as django_forms
from django.conf import settings as django_settings
from django.http import QueryDict
from django.test import Client, override_settings
from django.urls import URLPattern, URLResolver, reverse
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jobs import forms, urls
from jobs.models import JobEvent
from tests.fixtures_ui import make_account, make_assessment, make_event, make_job, make_run

pytestmark = pytest.mark.django_db

# Random queries per view, after every odd value at every parameter: the file runs in well
# under a minute.
EXAMPLES = 25
EXAMPLES_NO_PARAMETERS = 5  # unknown names only, which a view that reads none ignores
HX = {"HTTP_HX_REQUEST": "true"}
UNKNOWN_NAMES = ["utm_source", "page", "format", "x[]", "", "Q"]


def _patterns(patterns, prefix=""):
    for p in patterns:
        if isinstance(p, URLResolver):
            yield from _patterns(p.url_patterns, prefix + (p.namespace + ":" if p.namespace else ""))
        elif isinstance(p, URLPattern) and p.name:
            yield prefix + p.name, p


PATTERNS = dict(_patterns(urls.urlpatterns))


# --- which parameters a view reads ----------------------------------------------------------


class _NotingQueryDict(QueryDict):
    def _note(self, key):
        self.read.add(key)
        return key

    def __getitem__(self, key):
        return super().__getitem__(self._note(key))

    def __contains__(self, key):
        return super().__contains__(self._note(key))

    def get(self, key, default=None):
        return super().get(self._note(key), default)

    def getlist(self, key, default=None):
        return super().getlist(self._note(key), default)


class NoteReads:
    """Middleware for one probe request: request.GET notes the names looked up in it."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.GET = _NotingQueryDict(request.META.get("QUERY_STRING", ""))
        request.GET.read = set()
        response = self.get_response(request)
        response.read = request.GET.read
        return response


def _parameters_read(client, path):
    """The names the view at `path` looks up in request.GET, asked as `client`'s user."""
    with override_settings(MIDDLEWARE=["tests.test_views_fuzz.NoteReads", *django_settings.MIDDLEWARE]):
        probe = Client()  # a client builds its middleware once, at its first request
        probe.cookies = client.cookies
        return probe.get(path).read


# --- values ---------------------------------------------------------------------------------


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _cursor(value, pk) -> str:
    return _b64(json.dumps([value, pk]).encode())


texts = st.text(st.characters(codec="utf-8"), max_size=40)
long_text = st.text(st.characters(codec="utf-8"), min_size=150, max_size=3500)
odd_text = ["\x00", "a\x00b", "\ufeff", "\u202e", "𝕏", "名字", "' OR 1=1 --", "%", "_", "|", "\r\n", " ", "x" * 5000]
numbers = st.integers(min_value=-(2**80), max_value=2**80).map(str)
odd_numbers = ["0", "-1", str(2**63 - 1), str(2**63), "9" * 23, "9" * 5000, "1e5", "1.5", " 7 ", "٣", "1_0", ""]
# The ends of the calendar: a day after 9999-12-31, or UTC before 0001-01-01, overflows.
odd_dates = ["9999-12-31", "0001-01-01", "9999-12-30", "0001-01-02", "2026-02-30", "0000-01-01", "10000-01-01"]
dates = st.dates().map(lambda d: d.isoformat())
offsets = st.sampled_from(["+14:00", "-12:00", "Z", "+00:00", "", "+23:59", "-23:59", "+24:00"])
odd_times = [
    "0001-01-01T00:00:00+14:00",
    "9999-12-31T23:00:00-05:00",
    "2026-13-45T00:00:00+00:00",
    "2026-02-30T00:00:00Z",
    "2026-01-01T25:00:00Z",
    "2026-01-01T00:00:00",
    "2026-01-01 00:00:00+00:00",
]
datetimes = st.one_of(
    st.builds(lambda dt, off: dt.isoformat() + off, st.datetimes(), offsets),
    st.builds(lambda d, off: d + "T00:00:00" + off, st.sampled_from(odd_dates) | dates, offsets),
)
# Page cursors in the shape the list writes (base64 of [value, id]) holding anything, and worse.
odd_cursors = [_cursor(t, 1) for t in odd_times] + [
    _cursor("2026-01-01T00:00:00+00:00", pk) for pk in (2**63, 2**64, -1, 0, True, 1.5, "1", None)
]
odd_cursors += [_cursor("a\x00b", 1), _cursor("x" * 600, 1), _cursor(None, 1), _b64(b"[" * 2000 + b"]" * 2000)]
odd_cursors += [_b64(b'{"a": 1}'), _b64(b"[1, 2, 3]"), _b64(b"\xff\xfe"), "!!!", "a", "=", "é"]
cursors = st.one_of(
    st.builds(_cursor, st.one_of(datetimes, texts), st.integers() | st.booleans() | st.floats() | texts),
    st.binary(max_size=60).map(_b64),
)
anything = st.one_of(
    texts, long_text, numbers, dates, datetimes, cursors, st.sampled_from(odd_text + odd_numbers + odd_dates)
)


class Kind(NamedTuple):
    """What a parameter takes: odd values (each is sent on its own), values of its usual shape
    (company for the others), and other parameters that change how it is read."""

    odd: list
    typical: st.SearchStrategy
    contexts: list = [[]]


# Text fields that hold a time or a cursor, by name; every other parameter goes by its field.
BY_NAME = {
    "after": Kind(odd_cursors, cursors, [[], [("sort", "name")], [("sort", "created")]]),
    "since": Kind(odd_times, datetimes),
}


def _kind_of(field, ids):
    if isinstance(field, forms.IdsField | django_forms.IntegerField | django_forms.ModelChoiceField):
        return Kind(odd_numbers, ids)
    if isinstance(field, django_forms.DateField):
        return Kind(odd_dates, dates)
    if isinstance(field, django_forms.ChoiceField):  # the multiple and typed ones too
        choices = [str(value) for value, _label in field.choices if value != ""]
        return Kind(["nope", "", " ", *choices], st.sampled_from(choices) if choices else ids)
    if isinstance(field.widget, forms.FlagInput):
        return Kind(["maybe", "TRUE", " 1 ", "2"], st.sampled_from(forms.TRUE_VALUES + forms.FALSE_VALUES))
    return Kind(odd_text, texts)


def _kinds(objects):
    """name -> Kind for every field of every form in jobs.forms (a name several forms use takes
    all their values), and for any other name (read straight from request.GET) every odd value."""
    ids = st.sampled_from([str(pk) for pk in objects.values()])
    found = {}
    for form in vars(forms).values():
        if isinstance(form, type) and issubclass(form, django_forms.Form):
            for name, field in form.base_fields.items():
                found.setdefault(name, []).append(_kind_of(field, ids))
    kinds = {
        name: Kind(list(dict.fromkeys(v for k in ks for v in k.odd)), st.one_of(*[k.typical for k in ks]))
        for name, ks in found.items()
    }
    kinds |= BY_NAME
    raw = Kind(list(dict.fromkeys(odd_numbers + odd_dates + odd_times + odd_cursors + odd_text)), ids | anything)
    return lambda name: kinds.get(name, raw)


def _encoded(value) -> str:
    return quote_from_bytes(value if isinstance(value, bytes) else value.encode("utf-8"))


def _query(pairs) -> str:
    return "&".join(f"{_encoded(k)}={_encoded(v)}" for k, v in pairs)


@st.composite
def queries(draw, names, kind_of):
    """A few of the names, each once or twice, with odd, usual or any values; an unknown name
    now and then, or raw bytes that are not UTF-8."""
    pairs = []
    for name in draw(st.lists(st.sampled_from(names), max_size=4, unique=True)):
        kind = kind_of(name)
        value = st.sampled_from([st.sampled_from(kind.odd), kind.typical, anything]).flatmap(lambda s: s)
        pairs += [(name, v) for v in draw(st.lists(value, min_size=1, max_size=2))]
    pairs += draw(st.lists(st.tuples(st.sampled_from(UNKNOWN_NAMES), anything | st.binary(max_size=12)), max_size=1))
    return _query(pairs)


HEADERS = st.sampled_from(
    [
        {},
        {"HTTP_HX_REQUEST": "true"},
        {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "listing"},
        {"HTTP_HX_REQUEST": "true", "HTTP_HX_HISTORY_RESTORE_REQUEST": "true"},
    ]
)


# --- fixtures -------------------------------------------------------------------------------


@pytest.fixture
def superuser_client(client, django_user_model):
    client.force_login(django_user_model.objects.create_superuser("root", "root@example.com", "pw-root"))
    return client


@pytest.fixture
def objects(db):
    """A small cache with one of everything a view shows; the ids views take (by path argument
    name, and as values for any parameter)."""
    huawei, tencent = make_account("huawei-main"), make_account("tencent-main", provider="tencent")
    now = timezone.now()
    job = make_job(huawei, tags=["a", "b"], batch="b1")
    for n, state in enumerate(["WAITING", "TRAINING", "TRAINING"]):
        make_event(job, now - timedelta(hours=3 - n), to_state=state)
    voice = make_job(huawei, kind="voice_assessment", state="SUCCEEDED", linked_job_id=job.remote_id)
    make_assessment(voice)
    make_job(tencent, kind="translation", state="Failed", name="", gone=True)
    run = make_run(huawei)
    event = JobEvent.objects.filter(job=job).first()
    return {"pk": job.pk, "account": huawei.pk, "tencent": tencent.pk, "run": run.pk, "event": event.pk}


def _path(name, objects):
    kwargs = {}
    for key in PATTERNS[name].pattern.converters:
        assert key in objects, f"the fuzz test needs a real object for <{key}> in {name}: add it to objects()"
        kwargs[key] = objects[key]
    return reverse(name, kwargs=kwargs)


# --- the tests ------------------------------------------------------------------------------


def test_it_finds_the_parameters_each_view_reads(superuser_client, objects):
    read = {name: _parameters_read(superuser_client, _path(name, objects)) for name in PATTERNS}
    assert set(forms.JobFilterForm.base_fields) <= read["job_list"] & read["job_counts"] & read["job_export"]
    assert set(forms.StepsForm.base_fields) <= read["job_detail"]
    assert set(forms.ProgressForm.base_fields) <= read["sync_progress"]


# Also on PostgreSQL: the two databases fail differently (a NUL in a string, an id past a bigint).
@pytest.mark.db_sensitive
@pytest.mark.parametrize("url_name", list(PATTERNS))
def test_no_query_string_makes_a_view_fail(superuser_client, objects, url_name):
    path = _path(url_name, objects)
    baseline = superuser_client.get(path)
    if baseline.status_code == 405:
        pytest.skip(f"{url_name} does not answer GET")
    # A view whose plain answer is a 5xx by design (a health check failing in tests) may keep
    # giving it; it must not turn into a 500 (an exception).
    allowed = {baseline.status_code} - {500}
    read = sorted(_parameters_read(superuser_client, path))
    kind_of = _kinds(objects)

    def check(query, headers):
        try:
            response = superuser_client.get(f"{path}?{query}", **headers)
            if response.streaming:  # the CSV runs its query while it streams
                b"".join(response.streaming_content)
        except Exception as error:
            raise AssertionError(f"GET {path}?{query} {headers} raised") from error
        assert response.status_code < 500 or response.status_code in allowed, f"GET {path}?{query} {headers}"

    # Every odd value at every parameter, alone (plain and htmx in turn), then all at once.
    for name in read:
        kind = kind_of(name)
        for extra in kind.contexts:
            for n, value in enumerate(kind.odd):
                check(_query([(name, value), *extra]), HX if n % 2 else {})
            check(_query([(name, value) for value in kind.odd] + extra), HX)

    examples = EXAMPLES if read else EXAMPLES_NO_PARAMETERS

    @settings(max_examples=examples, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
    @given(query=queries(read or UNKNOWN_NAMES, kind_of), headers=HEADERS)
    def mixed(query, headers):
        check(query, headers)

    mixed()
