"""The run list and the run page read at a glance: coloured statuses, times to the second in the viewer's
zone with UTC on hover, human durations, the result as a table or indented JSON, the traceback in a
monospace block; "Run now" and "Retry" link to the run they made."""

import re
from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse

from jobs.models import JobRun
from tests.jobs.builders import make_run, make_schedule

pytestmark = pytest.mark.django_db

SLOT = datetime(2026, 7, 1, 9, 0, 0, tzinfo=UTC)


@pytest.fixture
def schedule(owner):
    return make_schedule(owner_id=owner.pk, cron_expression="0 9 * * *", timezone="Europe/London")


@pytest.fixture
def member_client(client, member):
    client.force_login(member)
    return client


def finished_run(schedule, *, slot: datetime = SLOT, **fields) -> JobRun:
    return make_run(
        schedule,
        status=fields.pop("status", JobRun.Status.SUCCEEDED),
        slot=slot,
        queued_at=slot + timedelta(milliseconds=40),
        started_at=slot + timedelta(seconds=1, milliseconds=200),
        finished_at=slot + timedelta(seconds=1, milliseconds=477),
        duration=timedelta(microseconds=277_030),
        **fields,
    )


def test_the_run_page_shows_times_to_the_second_in_the_viewers_zone_with_utc_on_hover(
    member_client, schedule
):
    # The member's owner (Acme) is in Europe/London: 09:00 UTC in July is 10:00 BST.
    run = finished_run(schedule)

    page = member_client.get(reverse("admin:jobs_jobrun_change", args=[run.pk])).text

    assert (
        '<time datetime="2026-07-01T09:00:00+00:00" title="2026-07-01 09:00:00 UTC">'
        "2026-07-01 10:00:00 BST</time>" in page
    )
    assert ">2026-07-01 10:00:01 BST</time>" in page  # started; queued at 10:00:00 on the line above
    assert "277 ms" in page and "0:00:00.277030" not in page


def test_a_superuser_sees_the_run_in_time_zone_setting(client, schedule, settings):
    from tests.builders import make_superuser

    client.force_login(make_superuser())
    page = client.get(reverse("admin:jobs_jobrun_change", args=[finished_run(schedule).pk])).text

    assert ">2026-07-01 09:00:00 UTC</time>" in page


def test_a_flat_result_is_a_table_and_a_nested_one_indented_json(member_client, schedule):
    flat = finished_run(schedule, result={"rows": 1200, "owner": "Acme <ok>", "dry_run": False})
    nested = finished_run(schedule, slot=SLOT + timedelta(days=1), result={"failures": [{"owner": 3}]})

    flat_page = member_client.get(reverse("admin:jobs_jobrun_change", args=[flat.pk])).text
    nested_page = member_client.get(reverse("admin:jobs_jobrun_change", args=[nested.pk])).text

    assert '<table class="key-values"><tr><th>rows</th><td>1200</td></tr>' in flat_page
    assert "<td>Acme &lt;ok&gt;</td>" in flat_page and "<td>false</td>" in flat_page
    assert re.search(r'<pre class="monospace-block">\{\n  &quot;failures&quot;: \[\n    \{', nested_page)


def test_the_traceback_is_a_monospace_block_and_escaped(member_client, schedule):
    run = finished_run(
        schedule, status=JobRun.Status.FAILED, error="RuntimeError: <boom>", traceback="Traceback:\n  <frame>"
    )

    page = member_client.get(reverse("admin:jobs_jobrun_change", args=[run.pk])).text

    assert '<pre class="monospace-block run-traceback">Traceback:\n  &lt;frame&gt;</pre>' in page
    assert '<span class="status-badge status-failed">Failed</span>' in page


def test_the_run_list_shows_coloured_statuses_and_human_durations(member_client, schedule):
    finished_run(schedule)
    make_run(schedule, status=JobRun.Status.FAILED, slot=SLOT + timedelta(hours=1))

    page = member_client.get(reverse("admin:jobs_jobrun_changelist")).text

    assert '<span class="status-badge status-succeeded">Succeeded</span>' in page
    assert '<span class="status-badge status-failed">Failed</span>' in page
    assert "277 ms" in page
    assert ">2026-07-01 10:00:00 BST</time>" in page


def test_run_now_says_which_run_it_made_with_a_link_to_it(member_client, schedule):
    response = member_client.post(reverse("admin:jobs_schedule_run_now", args=[schedule.pk]), follow=True)

    run = JobRun.objects.get(schedule=schedule)
    url = reverse("admin:jobs_jobrun_change", args=[run.pk])
    assert f'<a href="{url}">Run {run.pk}</a> of tests.record requested.' in response.text


def test_retry_says_which_run_it_made_with_a_link_to_it(member_client, schedule):
    failed = finished_run(schedule, status=JobRun.Status.FAILED)

    response = member_client.post(reverse("admin:jobs_jobrun_retry", args=[failed.pk]), follow=True)

    retry = JobRun.objects.get(retry_of=failed)
    url = reverse("admin:jobs_jobrun_change", args=[retry.pk])
    assert f'<a href="{url}">Run {retry.pk}</a> requested (attempt 2).' in response.text
    assert (
        f'(after <a href="{reverse("admin:jobs_jobrun_change", args=[failed.pk])}">run {failed.pk}</a>)'
        in response.text
    )


def test_an_outsider_opens_no_run_page_of_another_owner(client, outsider, schedule):
    client.force_login(outsider)
    assert (
        client.get(reverse("admin:jobs_jobrun_change", args=[finished_run(schedule).pk])).status_code == 404
    )
