import zoneinfo

from django.utils import timezone

from jobs.models import UserPreference

SESSION_KEY = "tz"


class UserTimezoneMiddleware:
    """Shows times in the signed-in user's chosen time zone (UserPreference.time_zone).

    The zone is read from the preference once per session and kept in the session, so a page
    costs no extra query for it.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        tzname = None
        session = getattr(request, "session", None)
        if session is not None:
            tzname = session.get(SESSION_KEY)
            user = getattr(request, "user", None)
            if tzname is None and user is not None and user.is_authenticated:
                pref = UserPreference.objects.filter(user=user).only("time_zone").first()
                tzname = pref.time_zone if pref else ""
                session[SESSION_KEY] = tzname
        if tzname:
            try:
                timezone.activate(zoneinfo.ZoneInfo(tzname))
            except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                timezone.deactivate()
        else:
            timezone.deactivate()
        return self.get_response(request)
