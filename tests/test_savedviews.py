"""Saved views (issue #14, item 5; jobs/views/savedviews.py, jobs/context_savedviews.py): save the
filters of a page under a name, update by the same name, personal or shared, the /views/ page,
the navigation's menu, and a view opening the very list its page showed."""

import re

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from jobs.savedview_models import SavedView
from jobs.views.savedviews import normalised_query
from tests.fixtures_ui import make_account, make_job

pytestmark = pytest.mark.django_db

SAVE = "/views/save/"


@pytest.fixture
def alice(client):
    user = User.objects.create_user("alice", password="pw-alice")
    client.force_login(user)
    return user


@pytest.fixture
def bob(db):
    return User.objects.create_user("bob", password="pw-bob")


def save(client, name="Failed translations", page="job_list", query="kind=translation&status=failed", **extra):
    return client.post(SAVE, {"name": name, "page": page, "query": query, **extra})


def row_ids(response):
    return [int(i) for i in re.findall(r'<tr id="job-(\d+)"', response.content.decode())]


def test_it_saves_a_view_and_redirects_to_its_url(client, alice):
    response = save(client)
    view = SavedView.objects.get()
    assert (view.owner, view.name, view.page, view.shared) == (alice, "Failed translations", "job_list", False)
    assert view.query == "kind=translation&status=failed"
    assert response.status_code == 302
    assert response["Location"] == "/jobs/?kind=translation&status=failed"
    assert view.get_absolute_url() == reverse("job_list") + "?" + view.query


def test_it_updates_a_view_saved_again_under_the_same_name(client, alice):
    save(client, query="kind=translation")
    save(client, page="triage", query="cloud=tencent", shared="1")
    view = SavedView.objects.get()
    assert (view.page, view.query, view.shared) == ("triage", "cloud=tencent", True)


def test_the_same_name_belongs_to_each_owner_separately(client, alice, bob):
    SavedView.objects.create(owner=bob, name="Failed translations", page="job_list", query="kind=avatar_training")
    save(client)
    assert SavedView.objects.filter(name="Failed translations").count() == 2
    assert SavedView.objects.get(owner=bob).query == "kind=avatar_training"


def test_it_drops_page_cursors_empty_values_and_whatever_is_not_a_filter():
    raw = "?q=&kind=translation&after=abc&n=150&since=2026-01-01T00:00:00Z&status=failed&status=failed&x=1&sort="
    assert normalised_query("job_list", raw) == "kind=translation&status=failed"
    assert normalised_query("rollups", "dimension=tag&q=vip&page=3&kind=") == "dimension=tag&q=vip"
    assert normalised_query("stages", "window=7d&table=levels&kind=voice_training") == "window=7d&kind=voice_training"
    assert normalised_query("triage", "account=&cloud=huawei&status=failed") == "cloud=huawei"
    assert normalised_query("job_list", "") == ""


def test_it_keeps_the_normalised_query_on_save(client, alice):
    save(client, query="q=&kind=translation&after=xyz&n=100&page=2")
    assert SavedView.objects.get().query == "kind=translation"


@pytest.mark.parametrize(
    "data,expected",
    [
        ({"page": "home"}, "Views can be saved of"),
        ({"page": "saved_views"}, "Views can be saved of"),
        ({"page": ""}, "Views can be saved of"),
        ({"query": "kind=nonsense"}, "Some filters could not be understood"),
        ({"query": "status"}, "not a query string"),
        ({"query": "kind=%ff"}, "not a query string"),
        ({"query": "q=" + "x" * 2100}, "too long"),
        ({"name": "   "}, "Give the view a name"),
        ({"name": "n" * 81}, "at most 80 characters"),
    ],
)
def test_it_refuses_a_bad_save_with_a_readable_400(client, alice, data, expected):
    response = save(client, **data)
    assert response.status_code == 400
    assert expected in response.content.decode()
    assert SavedView.objects.count() == 0


def test_it_needs_a_post_with_a_csrf_token(alice):
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(alice)
    assert strict.post(SAVE, {"name": "x", "page": "job_list", "query": ""}).status_code == 403
    assert strict.get(SAVE).status_code == 405
    assert SavedView.objects.count() == 0


@pytest.mark.parametrize("method,path", [("get", "/views/"), ("post", SAVE), ("post", "/views/1/edit/"),
                                         ("post", "/views/1/delete/")])  # fmt: skip
def test_it_needs_a_login(client, bob, method, path):
    SavedView.objects.create(pk=1, owner=bob, name="v", page="job_list", query="")
    response = getattr(client, method)(path, {"name": "x", "page": "job_list"})
    assert response.status_code == 302
    assert "/login/" in response["Location"]
    assert SavedView.objects.get().name == "v"


def test_a_personal_view_is_invisible_to_another_user(client, alice, bob):
    SavedView.objects.create(owner=bob, name="Bob's secret", page="job_list", query="kind=translation")
    for path in ("/views/", "/jobs/", "/"):
        assert "Bob&#x27;s secret" not in client.get(path).content.decode()


def test_a_shared_view_is_listed_for_everyone_with_its_owner(client, alice, bob):
    SavedView.objects.create(owner=bob, name="Team failures", page="triage", query="cloud=huawei", shared=True)
    page = client.get("/views/").content.decode()
    assert 'href="/triage/?cloud=huawei">Team failures</a>' in page
    assert "by bob" in page
    nav = client.get("/jobs/").content.decode().split('class="mainnav"')[1].split("</nav>")[0]
    assert "Team failures" in nav and "bob" in nav


def test_my_views_page_lists_mine_with_their_forms(client, alice):
    save(client, name="Mine", shared="1")
    view = SavedView.objects.get()
    page = client.get("/views/").content.decode()
    assert f'action="/views/{view.pk}/edit/"' in page and f'action="/views/{view.pk}/delete/"' in page
    assert "Shared" in page and "kind=translation" in page  # in the view's link
    # The filters as people read them: each field's label and each value's label.
    assert "Kind: Translation" in page and "Status: Failed" in page


def test_a_views_filters_read_with_account_names_and_several_values(client, alice, db):
    account = make_account(name="hw-prod")
    save(client, name="Two", query=f"account={account.pk}&status=failed&status=running&stuck=1")
    page = client.get("/views/").content.decode()
    assert "Account: hw-prod" in page and "Status: Failed, Running" in page
    assert "Stuck only" in page and "Stuck only: 1" not in page


def test_i_can_rename_share_and_delete_my_view(client, alice):
    save(client, name="Old")
    view = SavedView.objects.get()
    assert client.post(f"/views/{view.pk}/edit/", {"name": " New  name "}).status_code == 302
    view.refresh_from_db()
    assert (view.name, view.shared) == ("New name", False)
    client.post(f"/views/{view.pk}/edit/", {"shared": "1"})
    view.refresh_from_db()
    assert (view.name, view.shared) == ("New name", True)
    client.post(f"/views/{view.pk}/edit/", {"shared": "0"})
    view.refresh_from_db()
    assert view.shared is False
    assert client.post(f"/views/{view.pk}/delete/").status_code == 302
    assert not SavedView.objects.exists()


def test_a_rename_to_a_name_i_already_use_is_refused(client, alice):
    save(client, name="A")
    save(client, name="B")
    b = SavedView.objects.get(name="B")
    response = client.post(f"/views/{b.pk}/edit/", {"name": "A"})
    assert response.status_code == 400
    assert "already have a view named" in response.content.decode()
    assert SavedView.objects.filter(name="A").count() == 1


def test_i_cannot_change_or_delete_anothers_view_even_a_shared_one(client, alice, bob):
    view = SavedView.objects.create(owner=bob, name="Bob's", page="job_list", query="", shared=True)
    assert client.post(f"/views/{view.pk}/edit/", {"name": "Mine now", "shared": "0"}).status_code == 404
    assert client.post(f"/views/{view.pk}/delete/").status_code == 404
    view.refresh_from_db()
    assert (view.name, view.shared) == ("Bob's", True)
    assert f"/views/{view.pk}/edit/" not in client.get("/views/").content.decode()


@pytest.mark.db_sensitive
def test_the_nav_shows_my_views_first_then_shared_ones_up_to_eight(client, alice, bob):
    for i in range(6):
        SavedView.objects.create(owner=bob, name=f"a shared {i}", page="job_list", query="", shared=True)
    for i in range(4):
        SavedView.objects.create(owner=alice, name=f"z mine {i}", page="stages", query="window=7d")
    nav = client.get("/").content.decode().split('class="mainnav"')[1].split("</nav>")[0]
    names = re.findall(r'<a href="[^"]*">([^<]+?)(?: <span|</a>)', nav.split('class="menu"')[1])
    assert names[:4] == [f"z mine {i}" for i in range(4)]
    assert names[4:8] == [f"a shared {i}" for i in range(4)]
    assert "a shared 4" not in nav
    assert "All saved views" in nav and 'href="/views/"' in nav


def test_the_nav_costs_one_query_and_nothing_when_not_rendered(client, alice):
    with CaptureQueriesContext(connection) as page:
        client.get("/preferences/")
    assert sum("jobs_savedview" in q["sql"] for q in page.captured_queries) == 1
    with CaptureQueriesContext(connection) as fragment:
        client.get("/jobs/counts/")
    assert not any("jobs_savedview" in q["sql"] for q in fragment.captured_queries)


def test_the_nav_is_not_built_for_anonymous_visitors(client):
    with CaptureQueriesContext(connection) as login:
        assert client.get("/accounts/login/").status_code == 200
    assert not any("jobs_savedview" in q["sql"] for q in login.captured_queries)


@pytest.mark.parametrize("page", ["job_list", "triage", "rollups", "stages"])
def test_each_filterable_page_offers_save_this_view_with_its_query(client, alice, page):
    query = "cloud=huawei" if page != "rollups" else "cloud=huawei&dimension=tag"
    html = client.get(reverse(page) + "?" + query).content.decode()
    form = html.split('class="dropdown save-view"')[1].split("</details>")[0]
    assert 'action="/views/save/"' in form
    assert f'name="page" value="{page}"' in form
    assert f'name="query" value="{query.replace("&", "&amp;")}"' in form
    assert 'name="csrfmiddlewaretoken"' in form


def test_the_job_lists_filter_swap_carries_the_new_query(client, alice):
    html = client.get("/jobs/?kind=translation", HTTP_HX_REQUEST="true", HTTP_HX_TARGET="results").content.decode()
    assert 'id="listing"' not in html  # the partial, not the page
    assert 'name="query" value="kind=translation"' in html


@pytest.mark.db_sensitive
def test_opening_a_saved_view_shows_the_same_jobs_as_the_original_url(client, alice):
    hw, ci = make_account("hw"), make_account("ci", provider="tencent")
    for i in range(3):
        make_job(ci, "translation", "Failed", name=f"bad-{i}")
        make_job(ci, "translation", "Success", name=f"ok-{i}")
        make_job(hw, "avatar_training", "TRAIN_FAILED", name=f"av-{i}")
    original = "/jobs/?kind=translation&status=failed&sort=name&n=&after="
    shown = row_ids(client.get(original))
    assert len(shown) == 3
    response = save(client, query=original.split("?", 1)[1])
    opened = client.get(response["Location"])
    assert response["Location"] == "/jobs/?kind=translation&status=failed&sort=name"
    assert row_ids(opened) == shown
    assert SavedView.objects.get().get_absolute_url() == response["Location"]


def test_a_view_saved_by_an_admin_is_editable_in_the_admin(admin_client):
    admin = User.objects.get(username="admin")
    view = SavedView.objects.create(owner=admin, name="Ops", page="job_list", query="kind=translation")
    assert admin_client.get("/admin/jobs/savedview/").status_code == 200
    assert admin_client.get(f"/admin/jobs/savedview/{view.pk}/change/").status_code == 200


def test_names_and_filters_are_escaped_everywhere(client, alice, bob):
    nasty = '<script>alert("x")</script>'
    SavedView.objects.create(owner=bob, name=nasty, page="job_list", query="q=%3Cb%3E%22x", shared=True)
    save(client, name=nasty + "2", query="q=<i>")
    for path in ("/views/", "/jobs/"):
        html = client.get(path).content.decode()
        assert "<script>alert" not in html and "<i>" not in html and "<b>" not in html
        assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html
