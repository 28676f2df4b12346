"""Pages speak the viewer's zone: the one they chose, else their first owner's, else TIME_ZONE."""

import pytest
from django.test import RequestFactory
from django.utils import timezone

from tenants.models import Membership
from tenants.viewer_zone import SESSION_KEY, ViewerTimezoneMiddleware, owner_zone_name, viewer_zone_name
from tests.builders import make_owner, make_staff_user, make_superuser

pytestmark = pytest.mark.django_db


def request_of(user, session: dict | None = None):
    request = RequestFactory().get("/admin/")
    request.user = user
    request.session = session or {}
    return request


def test_a_staff_member_speaks_their_first_owners_zone(db):
    tokyo, berlin = (
        make_owner("Tokyo Co", timezone="Asia/Tokyo"),
        make_owner("Berlin Co", timezone="Europe/Berlin"),
    )
    user = make_staff_user(tokyo)
    Membership.objects.create(user=user, owner=berlin)

    assert owner_zone_name(user) == "Asia/Tokyo"


def test_a_superuser_speaks_time_zone_and_a_chosen_zone_wins(settings):
    settings.TIME_ZONE = "UTC"
    superuser = make_superuser()

    assert viewer_zone_name(request_of(superuser)) == "UTC"
    assert viewer_zone_name(request_of(superuser, {SESSION_KEY: "Australia/Sydney"})) == "Australia/Sydney"
    assert viewer_zone_name(request_of(superuser, {SESSION_KEY: "Not/AZone"})) == "UTC"


def test_the_middleware_activates_the_zone_for_staff_only_and_for_the_request_only(owner):
    seen = []
    middleware = ViewerTimezoneMiddleware(lambda request: seen.append(timezone.get_current_timezone_name()))

    middleware(request_of(make_staff_user(owner)))  # Acme: Europe/London
    customer = make_staff_user(owner)
    customer.is_staff = False
    middleware(request_of(customer))

    assert seen == ["Europe/London", "UTC"]
    assert timezone.get_current_timezone_name() == "UTC"
