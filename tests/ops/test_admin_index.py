"""The admin index has one Operations section, listed first, with the dashboard as its first row; django-q2's
own pages are grouped as "Workers (django-q2)", for superusers only."""

import re

import pytest
from django.urls import reverse

from tests.builders import make_staff_user, make_superuser

pytestmark = pytest.mark.django_db


def section_names(page: str) -> list[str]:
    return re.findall(r'<caption>\s*<a href="[^"]*" class="section"[^>]*>([^<]+)</a>', page)


def first_row_of(page: str, section: str) -> str:
    block = page.split(f">{section}</a>", 1)[1].split("</table>", 1)[0]
    return re.search(r'<th scope="row"[^>]*>\s*<a href="([^"]+)"', block)[1]


def test_a_member_sees_one_operations_section_first_with_the_dashboard_first(client, member):
    client.force_login(member)

    page = client.get(reverse("admin:index")).text

    names = section_names(page)
    assert names[0] == "Operations" and names.count("Operations") == 1
    assert first_row_of(page, "Operations") == reverse("ops:dashboard")
    assert "Workers (django-q2)" not in page


def test_a_superuser_sees_django_q2_grouped_as_workers(client, db):
    client.force_login(make_superuser())

    page = client.get(reverse("admin:index")).text

    names = section_names(page)
    assert names.count("Operations") == 1 and "Workers (django-q2)" in names
    assert reverse("admin:django_q_success_changelist") in page
    assert "Django Q" not in page


def test_a_staff_user_without_memberships_still_finds_the_dashboard(client, db):
    client.force_login(make_staff_user())

    page = client.get(reverse("admin:index")).text

    assert section_names(page) == ["Operations"]
    assert reverse("ops:dashboard") in page


def test_the_operations_page_lists_the_dashboard_and_other_app_pages_do_not(client, member):
    client.force_login(member)

    operations = client.get(reverse("admin:app_list", args=["ops"])).text
    jobs = client.get(reverse("admin:app_list", args=["jobs"])).text

    assert first_row_of(operations, "Operations") == reverse("ops:dashboard")
    assert section_names(jobs) == ["Scheduled jobs"]


def test_the_navigation_sidebar_leads_to_the_dashboard(client, member):
    client.force_login(member)

    page = client.get(reverse("admin:jobs_schedule_changelist")).text

    sidebar = page.split('id="nav-sidebar"', 1)[1].split("</nav>", 1)[0]
    assert first_row_of(sidebar, "Operations") == reverse("ops:dashboard")
