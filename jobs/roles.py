"""The two roles, as groups: viewers read the cache; operators may also start syncs, refresh a
job and track short jobs (jobs.trigger_sync). Created after every `migrate`, so a production
install has them without the demo's users."""

from django.contrib.auth.models import Group, Permission

VIEW_MODELS = ["cloudaccount", "job", "jobevent", "assessment", "assessmentmetric", "syncrun"]


def ensure_groups():
    view = list(
        Permission.objects.filter(content_type__app_label="jobs", codename__in=[f"view_{m}" for m in VIEW_MODELS])
    )
    trigger = Permission.objects.get(content_type__app_label="jobs", codename="trigger_sync")
    viewer, _ = Group.objects.get_or_create(name="viewer")
    viewer.permissions.add(*view)
    operator, _ = Group.objects.get_or_create(name="operator")
    operator.permissions.add(*view, trigger)
    return {"viewer": viewer, "operator": operator}


def ensure_groups_after_migrate(sender, **kwargs):
    # auth's create_permissions (connected when auth loaded, before us) has already run
    # for this app, so jobs.trigger_sync exists here.
    ensure_groups()
