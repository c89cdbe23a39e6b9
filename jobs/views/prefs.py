"""Per-user preferences (language, time zone)."""

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from jobs.forms import PreferencesForm
from jobs.middleware import SESSION_KEY as TZ_SESSION_KEY
from jobs.models import UserPreference


@require_http_methods(["GET", "POST"])
def preferences(request: HttpRequest) -> HttpResponse:
    pref = UserPreference.objects.filter(user=request.user).first()
    current = {
        "time_zone": (pref.time_zone if pref else None) or timezone.get_current_timezone_name(),
        "language": (pref.language if pref else None) or translation.get_language(),
    }
    if request.method == "POST":
        form = PreferencesForm(request.POST)
        if form.is_valid():
            tz, lang = form.cleaned_data["time_zone"], form.cleaned_data["language"]
            UserPreference.objects.update_or_create(user=request.user, defaults={"time_zone": tz, "language": lang})
            request.session[TZ_SESSION_KEY] = tz
            translation.activate(lang)
            messages.success(request, _("Preferences saved."))
            response = redirect("preferences")
            response.set_cookie(settings.LANGUAGE_COOKIE_NAME, lang, samesite="Lax", max_age=365 * 24 * 3600)
            return response
    else:
        form = PreferencesForm(initial=current)
    return render(request, "jobs/preferences.html", {"form": form})
