"""Every URL pattern of the project needs a login (except the login page and the language switch)."""

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

pytestmark = pytest.mark.django_db

PUBLIC = {"login", "set_language"}  # set_language only sets the language cookie
# Monitoring (jobs/health.py, jobs/metrics.py): no login and no page: a status word, or 404 while
# neither METRICS_TOKEN nor METRICS_ALLOW is set (tests/test_observability.py covers the rest).
MONITORING = {"healthz", "healthz_details", "metrics"}
SAMPLE_KWARGS = {
    "pk": "1",
    "object_id": "1",
    "app_label": "jobs",
    "model_name": "job",
    "content_type_id": "1",
    "url": "x",
    "id": "1",
    "uidb64": "x",
    "token": "x",
}


def _walk(resolver, prefix=""):
    for entry in resolver.url_patterns:
        if isinstance(entry, URLResolver):
            yield from _walk(entry, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern):
            yield prefix + str(entry.pattern), entry


def _example_path(route):
    """Turn a route or regex into a concrete path."""
    import re

    path = route.lstrip("^").rstrip("$").replace("\\Z", "").replace("\\", "")
    path = re.sub(r"<(?:\w+:)?(\w+)>", lambda m: SAMPLE_KWARGS.get(m.group(1), "1"), path)
    path = re.sub(r"\(\?P<(\w+)>[^)]*\)", lambda m: SAMPLE_KWARGS.get(m.group(1), "1"), path)
    path = re.sub(r"\([^)]*\)", "x", path).replace("?", "")
    return "/" + path


def all_patterns():
    return [(route, p.name) for route, p in _walk(get_resolver())]


def test_it_finds_the_dashboard_patterns():
    names = {name for _route, name in all_patterns()}
    assert {"home", "job_list", "job_detail", "job_export", "sync", "sync_now", "track_jobs"} <= names


@pytest.mark.parametrize("route,name", all_patterns())
def test_it_requires_a_login_for(client, route, name):
    path = _example_path(route)
    for method in ("get", "post"):
        response = getattr(client, method)(path)
        if name in PUBLIC:
            assert response.status_code in (200, 302, 405)
            continue
        if name in MONITORING:
            assert response.status_code in (404, 405, 503), (method, path, response.status_code)
            assert b"<" not in response.content, (method, path)
            continue
        # Anonymous: a redirect to the login page (the admin's own login for admin URLs).
        assert response.status_code == 302, (method, path, response.status_code)
        assert "/login/" in response["Location"], (method, path, response["Location"])
