from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from jobs import admin_kit
from jobs.admin_kit import CappedCountPaginator
from jobs.models import JobRun
from tests.ops.builders import make_run, make_schedule

pytestmark = pytest.mark.urls("tests.jobs.kit_admin")
RUNS = "/scale/jobs/jobrun/"
DAY = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


@pytest.fixture
def runs(owner):
    """Five runs of owner's schedule: 1 and 2 March 2026, and 5 January 2025."""
    schedule = make_schedule(owner, job_name="alerts.low_stock")
    slots = [DAY, DAY + timedelta(minutes=1), DAY - timedelta(days=1), DAY - timedelta(days=1, minutes=1)]
    made = [make_run(schedule, slot=slot) for slot in slots]
    made.append(make_run(schedule, slot=datetime(2025, 1, 5, 8, 0, tzinfo=UTC), status=JobRun.Status.FAILED))
    return made


@pytest.fixture
def member_client(client, member):
    client.force_login(member)
    return client


def _listed(response) -> set[int]:
    return {run.pk for run in response.context["cl"].result_list}


def test_counting_stops_at_the_cap(runs, monkeypatch):
    monkeypatch.setattr(admin_kit, "COUNT_CAP", 3)

    paginator = CappedCountPaginator(JobRun.objects.filter(status="succeeded").order_by("-slot"), 2)

    assert (paginator.count, paginator.count_is_exact) == (3, False)


def test_counts_below_the_cap_are_exact(runs):
    paginator = CappedCountPaginator(JobRun.objects.filter(status="succeeded").order_by("-slot"), 2)

    assert (paginator.count, paginator.count_is_exact) == (4, True)


@pytest.mark.postgres
def test_an_unfiltered_big_table_is_estimated_by_the_planner(runs, monkeypatch):
    monkeypatch.setattr(admin_kit, "COUNT_CAP", 2)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE jobs_jobrun")

    with CaptureQueriesContext(connection) as queries:
        paginator = CappedCountPaginator(JobRun.objects.order_by("-slot"), 2)
        count = paginator.count

    assert (count, paginator.count_is_exact) == (5, False)
    assert "reltuples" in queries[0]["sql"] and "COUNT(" not in queries[0]["sql"].upper()


def test_no_page_query_counts_the_whole_table_or_lists_distinct_values(member_client, runs):
    with CaptureQueriesContext(connection) as queries:
        response = member_client.get(RUNS, {"status__exact": "succeeded", "job": "alerts.low_stock", "p": 2})

    assert response.status_code == 200
    statements = [query["sql"].upper() for query in queries]
    assert not [sql for sql in statements if "DISTINCT" in sql]
    assert all("LIMIT" in sql for sql in statements if "COUNT(" in sql)


def test_the_job_filter_offers_the_registered_jobs_and_filters_by_name(member_client, runs, owner):
    other = make_run(make_schedule(owner, job_name="tests.other"), slot=DAY)

    response = member_client.get(RUNS, {"job": "alerts.low_stock"})

    job_filter = next(spec for spec in response.context["cl"].filter_specs if spec.title == "job")
    assert "alerts.low_stock" in [choice["display"] for choice in job_filter.choices(response.context["cl"])]
    assert other.pk not in _listed(response)


def test_the_owner_filter_offers_only_the_viewers_owners(client, outsider, owner, runs):
    client.force_login(outsider)

    response = client.get(RUNS)

    owner_filter = next(spec for spec in response.context["cl"].filter_specs if spec.title == "owner")
    offered = [choice["display"] for choice in owner_filter.choices(response.context["cl"])]
    assert "Acme" not in offered and "Globex" in offered


def test_the_drill_down_offers_the_years_between_the_first_and_last_run(member_client, runs):
    response = member_client.get(RUNS)

    drill = next(spec for spec in response.context["cl"].filter_specs if "drill" in str(spec.title))
    assert [choice["display"] for choice in drill.choices(response.context["cl"])] == [
        "Any date",
        "2026",
        "2025",
    ]


def test_the_drill_down_to_a_day_lists_that_days_runs_with_a_range_on_the_index(member_client, runs):
    member_client.get(RUNS)  # the session, once
    with CaptureQueriesContext(connection) as queries:
        response = member_client.get(
            RUNS, {"slot__year": "2026", "slot__month": "3", "slot__day": "1", "p": 1}
        )

    assert response.context["cl"].result_count == 2
    assert not [
        query for query in queries if "EXTRACT" in query["sql"].upper() or "STRFTIME" in query["sql"].upper()
    ]


def test_the_drill_down_within_a_month_offers_its_days_with_runs_range(member_client, runs):
    response = member_client.get(RUNS, {"slot__year": "2026", "slot__month": "3"})

    drill = next(spec for spec in response.context["cl"].filter_specs if "drill" in str(spec.title))
    displays = [choice["display"] for choice in drill.choices(response.context["cl"])]
    assert displays[:3] == ["Any date", "2026", "· March"]
    assert "·· 2" in displays and "·· 3" not in displays  # the last run is on 2 March


def test_a_nonsense_date_is_ignored_rather_than_failing(member_client, runs):
    response = member_client.get(RUNS, {"slot__year": "2026", "slot__month": "13"})

    assert response.status_code == 200


def test_search_finds_a_run_by_its_id(member_client, runs):
    response = member_client.get(RUNS, {"q": str(runs[2].pk)})

    assert _listed(response) == {runs[2].pk}


def test_search_finds_runs_by_part_of_a_registered_job_name(member_client, runs):
    response = member_client.get(RUNS, {"q": "LOW_ST"})

    assert response.context["cl"].result_count == 5


def test_search_finds_runs_by_part_of_the_owner_name(member_client, runs):
    response = member_client.get(RUNS, {"q": "acm"})

    assert response.context["cl"].result_count == 5


def test_the_outsider_finds_nothing_of_the_owner_by_search(client, outsider, runs):
    client.force_login(outsider)

    response = client.get(RUNS, {"q": "acme"})

    assert response.context["cl"].result_count == 0
    assert client.get(RUNS, {"q": str(runs[0].pk)}).context["cl"].result_count == 0


def test_a_capped_count_is_shown_as_at_least(member_client, runs, monkeypatch):
    monkeypatch.setattr(admin_kit, "COUNT_CAP", 3)

    page = member_client.get(RUNS).content.decode()

    assert "at least 3 job runs" in page
