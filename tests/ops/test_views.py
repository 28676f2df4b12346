import re
from datetime import UTC, datetime, timedelta

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


# --- Times in the viewer's zone, the live endpoint, the zone selector --------------------------------------

LIVE = "/admin/ops/dashboard/live/"


def test_the_dashboard_speaks_the_members_owner_zone_with_utc_on_hover(member_client, owner):
    # Acme is in Europe/London; a failure at 09:00 UTC in July is 10:00 BST.
    schedule = make_schedule(owner, job_name="reports.nightly", last_status="failed")
    july = datetime(2026, 7, 1, 9, 0, tzinfo=UTC)
    make_run(schedule, slot=july, status="failed", duration=None)

    page = member_client.get(DASHBOARD).content.decode()

    assert (
        '<time datetime="2026-07-01T09:00:00+00:00" title="2026-07-01 09:00:00 UTC">2026-07-01 10:00:00 BST'
        in page
    )
    assert "(now Europe/London; hover a time for UTC)" in page


def test_a_chosen_zone_applies_to_the_session_and_an_empty_one_goes_back_to_the_default(member_client):
    answer = member_client.post("/admin/ops/timezone/", {"timezone": "Asia/Tokyo", "next": DASHBOARD})
    tokyo = member_client.get(DASHBOARD).content.decode()
    member_client.post("/admin/ops/timezone/", {"timezone": "", "next": DASHBOARD})
    back = member_client.get(DASHBOARD).content.decode()

    assert answer.status_code == 302 and answer["Location"] == DASHBOARD
    assert "(now Asia/Tokyo;" in tokyo and "(now Europe/London;" in back


def test_the_zone_selector_ignores_unknown_zones_and_foreign_next_urls(member_client):
    answer = member_client.post(
        "/admin/ops/timezone/", {"timezone": "Mars/Olympus", "next": "https://evil.example/"}
    )

    assert answer["Location"] == reverse("admin:index")
    assert "(now Europe/London;" in member_client.get(DASHBOARD).content.decode()
    assert member_client.get("/admin/ops/timezone/").status_code == 405


def test_the_live_endpoint_answers_counts_and_the_live_sections(member_client, owner):
    schedule = make_schedule(owner, job_name="reports.nightly")
    make_run(schedule, slot=timezone.now() - timedelta(minutes=2), status="succeeded")

    answer = member_client.get(LIVE)

    assert answer.status_code == 200 and "no-store" in answer["Cache-Control"]
    body = answer.json()
    assert body["counts"]["succeeded_last_hour"] == 1 and body["counts"]["running"] == 0
    assert set(body["sections"]) == {"ops-summary", "ops-per-minute", "ops-failing"}
    assert 'id="ops-count-succeeded">1<' in body["sections"]["ops-summary"]
    assert body["sections"]["ops-per-minute"].startswith("<svg")


def test_the_live_endpoint_is_scoped_like_the_dashboard(client, outsider, owner):
    schedule = make_schedule(owner, job_name="acme.secret", last_status="failed")
    make_run(schedule, slot=timezone.now() - timedelta(minutes=2), status="failed")
    client.force_login(outsider)

    body = client.get(LIVE).json()

    assert body["counts"]["failed_last_hour"] == 0 and body["counts"]["failing_or_late"] == 0
    assert "acme.secret" not in str(body)


def test_the_engine_section_is_live_for_superusers_only(client, member):
    client.force_login(member)
    members = client.get(LIVE).json()
    client.force_login(make_superuser())
    superusers = client.get(LIVE).json()

    assert "ops-engine" not in members["sections"]
    assert 'id="ops-dispatchers"' in superusers["sections"]["ops-engine"]


def test_the_dashboard_lists_the_dispatchers_with_their_last_beat(client, db):
    from jobs.models import EngineProcess

    now = timezone.now()
    EngineProcess.objects.create(
        host="worker-1", pid=4242, started_at=now - timedelta(hours=1), last_beat_at=now, runs_dispatcher=True
    )
    client.force_login(make_superuser())

    section = (
        client.get(DASHBOARD).content.decode().split('id="ops-dispatchers"', 1)[1].split("</table>", 1)[0]
    )

    assert "qcluster worker-1:4242" not in section and "dispatcher worker-1:4242" in section
    assert '<span class="status-badge status-alive">alive</span>' in section


def test_the_live_endpoint_is_for_staff_only(client, db):
    answer = client.get(LIVE)

    assert answer.status_code == 302 and "/admin/login/" in answer["Location"]


def test_frequent_schedules_get_one_row_on_the_dashboard(member_client, owner):
    make_schedule(
        owner,
        job_name="ops.every_minute",
        cron="* * * * *",
        next_run_at=timezone.now() + timedelta(seconds=30),
    )

    page = member_client.get(DASHBOARD).content.decode()

    frequent = page.split('id="ops-frequent"', 1)[1].split("</table>", 1)[0]
    assert "ops.every_minute" in frequent and "about 1,44" in frequent
    assert "ops.every_minute" not in page.split('id="ops-upcoming-runs"', 1)[1].split("</table>", 1)[0]


def test_a_schedule_with_one_run_shows_its_duration(member_client, owner):
    schedule = make_schedule(owner, job_name="reports.once")
    make_run(schedule, slot=timezone.now() - timedelta(hours=1), duration=timedelta(milliseconds=277))

    page = member_client.get(DASHBOARD).content.decode()

    row = page.split('id="ops-schedules"', 1)[1].split("reports.once", 1)[1].split("</tr>", 1)[0]
    assert "277 ms / 277 ms" in row and 'r="2.5"' in row
