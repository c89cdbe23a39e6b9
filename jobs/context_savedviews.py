"""The navigation's "Views" menu (templates/jobs/_nav_views.html): the signed-in user's saved
views first, then those others share, the first NAV_MAX by name. Lazy: the one query runs only
when a page renders the menu (htmx fragments and CSV answers never do); none when signed out."""

from dataclasses import dataclass

from django.db.models import Case, Q, Value, When
from django.utils.functional import SimpleLazyObject

from jobs.savedview_models import SavedView

NAV_MAX = 8


@dataclass
class NavViews:
    rows: list[SavedView]
    more: bool  # more views than the menu shows: /views/ lists them all


def _nav_views(user) -> NavViews:
    rows = list(
        SavedView.objects.filter(Q(owner=user) | Q(shared=True))
        .select_related("owner")
        .only("name", "page", "query", "shared", "owner__username")
        .order_by(Case(When(owner=user, then=Value(0)), default=Value(1)), "name", "id")[: NAV_MAX + 1]
    )
    return NavViews(rows[:NAV_MAX], more=len(rows) > NAV_MAX)


def saved_views(request):
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {"nav_views": SimpleLazyObject(lambda: _nav_views(user))}
