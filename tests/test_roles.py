import pytest
from django.contrib.auth.models import Group

pytestmark = pytest.mark.django_db


def test_it_creates_the_roles_on_migrate():
    # The test database was built by `migrate`: the groups exist without demo_setup.
    operator = Group.objects.get(name="operator")
    viewer = Group.objects.get(name="viewer")
    assert operator.permissions.filter(codename="trigger_sync").exists()
    assert not viewer.permissions.filter(codename="trigger_sync").exists()
    assert viewer.permissions.filter(codename="view_job").exists()


def test_an_operator_may_trigger_syncs_and_a_viewer_may_not(django_user_model):
    op = django_user_model.objects.create_user("op", password="x")
    op.groups.add(Group.objects.get(name="operator"))
    vw = django_user_model.objects.create_user("vw", password="x")
    vw.groups.add(Group.objects.get(name="viewer"))
    assert op.has_perm("jobs.trigger_sync")
    assert not vw.has_perm("jobs.trigger_sync")
