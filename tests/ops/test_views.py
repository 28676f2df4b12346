import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from tests.builders import make_owner, make_staff_user, make_superuser
from tests.ops.builders import make_run, make_schedule

DASHBOARD = "/admin/ops/dashboard/"


@pytest.fixture
def member_client(client, member):
    client.force_login(member)
    return client


def test_the_admin_index_links_to_the_dashboard(member_client):
    response = member_client.get("/admin/")

    assert reverse("ops:dashboard") in response.content.decode()


def test_the_dashboard_is_for_staff_only(client, db):
    response = client.get(DASHBOARD)

    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


def test_the_dashboard_renders_inside_the_admin_with_inline_svg_charts(member_client, owner):
    schedule = make_schedule(owner, job_name="reports.nightly")
    make_run(schedule, slot=timezone.now() - timedelta(hours=1))

    response = member_client.get(DASHBOARD)

    page = response.content.decode()
    assert response.status_code == 200
    assert "reports.nightly" in page
    assert "<svg" in page
    assert 'id="site-name"' in page  # the admin's header: it extends admin/base_site.html
    assert reverse("admin:jobs_schedule_change", args=[schedule.pk]) in page


def test_the_workers_section_describes_the_servers_to_superusers_only(client, member):
    client.force_login(member)
    members_page = client.get(DASHBOARD).content.decode()
    client.force_login(make_superuser())
    superusers_page = client.get(DASHBOARD).content.decode()

    assert 'id="ops-workers"' not in members_page and "Tasks waiting in the queue" not in members_page
    assert 'id="ops-workers"' in superusers_page


def test_a_staff_user_without_memberships_sees_an_empty_dashboard(client, owner):
    make_schedule(owner, job_name="reports.nightly")
    client.force_login(make_staff_user())

    page = client.get(DASHBOARD).content.decode()

    assert "reports.nightly" not in page and owner.name not in page


def test_the_dashboard_loads_nothing_from_another_host(member_client, owner):
    make_schedule(owner)

    page = member_client.get(DASHBOARD).content.decode()

    references = re.findall(r'(?:src|href|action)="([^"]*)"', page)
    assert references
    assert [ref for ref in references if not ref.startswith(("/", "?", "#"))] == []


def test_the_outsider_sees_none_of_the_owners_schedules_or_missed_runs(client, outsider, owner):
    make_schedule(owner, job_name="acme.secret", next_run_at=timezone.now() - timedelta(hours=1))
    client.force_login(outsider)

    page = client.get(DASHBOARD).content.decode()

    assert "acme.secret" not in page
    assert "Acme" not in page


def test_a_missed_run_is_flagged_on_the_dashboard(member_client, owner):
    make_schedule(owner, job_name="reports.nightly", next_run_at=timezone.now() - timedelta(hours=1))

    page = member_client.get(DASHBOARD).content.decode()

    assert "ops-missed" in page


def test_the_dashboard_asks_the_same_number_of_queries_for_more_data(
    client, django_assert_max_num_queries, db
):
    client.force_login(make_superuser())
    client.get(DASHBOARD)  # the session and user, loaded once
    for _ in range(3):
        owner = make_owner()
        schedule = make_schedule(owner, next_run_at=timezone.now() + timedelta(hours=1))
        make_run(schedule, slot=timezone.now() - timedelta(hours=2))
    with CaptureQueriesContext(connection) as few:
        client.get(DASHBOARD)
    for _ in range(10):
        owner = make_owner()
        schedule = make_schedule(owner, next_run_at=timezone.now() + timedelta(hours=1))
        make_run(schedule, slot=timezone.now() - timedelta(hours=2))

    with django_assert_max_num_queries(len(few)):
        client.get(DASHBOARD)


def test_missed_run_alerts_are_listed_for_their_owner_only(client, member, outsider, owner):
    from ops.missed import report_missed_runs

    make_schedule(owner, job_name="acme.nightly", next_run_at=timezone.now() - timedelta(hours=1))
    report_missed_runs(timezone.now())

    client.force_login(member)
    assert "acme.nightly" in client.get("/admin/ops/missedrunalert/").content.decode()
    client.force_login(outsider)
    assert "acme.nightly" not in client.get("/admin/ops/missedrunalert/").content.decode()


@pytest.mark.parametrize(
    "query",
    [
        {},
        {"p": "2"},
        {"status": "failed"},
        {"job": "alerts.low_stock"},
        {"owner_id": "{owner}"},
        {"slot__year": "{year}", "slot__month": "{month}"},
        {"q": "missed"},
    ],
    ids=["page 1", "page 2", "status", "job", "owner", "drill-down", "search"],
)
def test_the_run_list_asks_the_same_queries_for_few_or_many_runs_without_distinct_or_full_counts(
    member_client, owner, query
):
    schedule = make_schedule(owner, job_name="alerts.low_stock")
    start = timezone.now() - timedelta(days=400)
    for minute in range(3):
        make_run(schedule, slot=start + timedelta(minutes=minute))
    query = {
        key: value.format(owner=owner.pk, year=start.year, month=start.month) for key, value in query.items()
    }
    member_client.get("/admin/jobs/jobrun/", query)
    with CaptureQueriesContext(connection) as few:
        member_client.get("/admin/jobs/jobrun/", query)
    few_count = len(few)
    for minute in range(3, 120):
        make_run(
            schedule, slot=start + timedelta(minutes=minute), status="failed" if minute % 2 else "succeeded"
        )

    with CaptureQueriesContext(connection) as many:
        response = member_client.get("/admin/jobs/jobrun/", query)

    assert response.status_code == 200
    assert len(many) == few_count
    statements = [item["sql"].upper() for item in many]
    assert not [sql for sql in statements if "DISTINCT" in sql]
    assert all("LIMIT" in sql for sql in statements if "COUNT(" in sql)
