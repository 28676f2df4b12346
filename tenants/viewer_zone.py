"""The time zone a page speaks to its viewer: the zone they chose, else their owner's, else TIME_ZONE.

``ViewerTimezoneMiddleware`` activates it for every request of a staff user, so the admin shows and reads
times in it (Django's own datetime display and inputs follow the active zone; ``tenants.display`` adds
UTC on hover). A staff member's zone is their first owner's (by membership); a superuser's is
``TIME_ZONE``; either may choose another for the session (``choose_zone``, the selector on the dashboard).
"""

import zoneinfo
from collections.abc import Callable

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme

from tenants.models import Membership
from tenants.timezones import is_time_zone

SESSION_KEY = "viewer_timezone"


def owner_zone_name(user: AbstractBaseUser) -> str:
    """The zone of the user's first owner (by membership), else TIME_ZONE (superusers, no membership)."""
    if user.is_authenticated and not user.is_superuser:
        zone = (
            Membership.objects.filter(user=user)
            .order_by("pk")
            .values_list("owner__timezone", flat=True)
            .first()
        )
        if zone and is_time_zone(zone):
            return zone
    return settings.TIME_ZONE


def viewer_zone_name(request: HttpRequest) -> str:
    """The zone chosen for this session, else the user's owner's zone (``owner_zone_name``)."""
    chosen = request.session.get(SESSION_KEY) if hasattr(request, "session") else None
    if chosen and is_time_zone(chosen):
        return chosen
    return owner_zone_name(request.user)


class ViewerTimezoneMiddleware:
    """Activate the viewer's zone for a staff user's request (after the authentication middleware)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated or not user.is_staff:
            return self.get_response(request)
        timezone.activate(zoneinfo.ZoneInfo(viewer_zone_name(request)))
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()


def choose_zone(request: HttpRequest) -> HttpResponse:
    """POST ``timezone`` (an IANA name, or empty for the default) and ``next``: this session's zone.

    Wrapped in ``admin_view`` by its URL (staff only). An unknown zone is ignored; ``next`` must point at
    this site, else the admin index is the way back.
    """
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    chosen = request.POST.get("timezone", "").strip()
    if not chosen:
        request.session.pop(SESSION_KEY, None)
    elif is_time_zone(chosen):
        request.session[SESSION_KEY] = chosen
    back = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(back, {request.get_host()}, request.is_secure()):
        back = reverse("admin:index")
    return HttpResponseRedirect(back)
