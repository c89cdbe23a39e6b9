import ipaddress
import math
import zoneinfo
from http import HTTPStatus

from axes.helpers import get_cool_off
from django.conf import settings
from django.shortcuts import render
from django.utils import timezone
from django.utils.cache import patch_cache_control

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


class NoStoreMiddleware:
    """``Cache-Control: private, no-store`` on every response to a signed-in user (pages,
    fragments, the CSV export): no shared proxy or browser disk cache keeps what they saw.
    Static files never get here (WhiteNoise answers first)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            patch_cache_control(response, private=True, no_store=True)
        return response


def client_ip(request):
    """The caller's address for login throttling (AXES_CLIENT_IP_CALLABLE).

    Each of the TRUSTED_PROXY_COUNT proxies appends the address it was called from to
    X-Forwarded-For, so the caller is the Nth entry from the right; anything left of it is
    what the caller claimed. A request that did not pass every proxy is judged by REMOTE_ADDR.
    """
    remote = request.META.get("REMOTE_ADDR", "")
    count = settings.TRUSTED_PROXY_COUNT
    if count <= 0:
        return remote
    hops = [hop.strip() for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if hop.strip()]
    if len(hops) < count:
        return remote
    hop = hops[-count]
    if hop.count(":") == 1:  # "203.0.113.7:51234" (some balancers add the port)
        hop = hop.partition(":")[0]
    try:
        return str(ipaddress.ip_address(hop.strip("[]")))
    except ValueError:
        return remote


def lockout_response(request, original_response=None, credentials=None):
    """The page a locked-out login gets (AXES_LOCKOUT_CALLABLE): the site's own, with how long
    to wait. Every attempt during a lockout restarts the cool-off, so the wait is counted from now."""
    cool_off = get_cool_off(request)
    minutes = math.ceil(cool_off.total_seconds() / 60) if cool_off else None
    response = render(
        request,
        "jobs/lockout.html",
        {"minutes": minutes, "login_url": request.path},
        status=HTTPStatus.TOO_MANY_REQUESTS,
    )
    if cool_off:
        response["Retry-After"] = str(int(cool_off.total_seconds()))
    return response
