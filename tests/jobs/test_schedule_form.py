"""The schedule form: only the chosen trigger kind's fields (marked for the script, all shown without it),
no error before anything was typed, and times typed in the schedule's own zone."""

import json
from datetime import UTC, datetime

import pytest
import time_machine
from django.urls import reverse

from jobs.forms import ScheduleForm
from jobs.models import TRIGGER_KIND_FIELDS, Schedule
from tests.jobs.test_schedule_limits import VALID_FORM

pytestmark = pytest.mark.django_db


@pytest.fixture
def member_client(client, member):
    client.force_login(member)
    return client


def test_the_trigger_kind_select_names_each_kinds_fields_for_the_script(member_client):
    page = member_client.get(reverse("admin:jobs_schedule_add")).text

    marked = json.loads(page.split('data-trigger-fields="', 1)[1].split('"', 1)[0].replace("&quot;", '"'))
    assert marked == {kind: list(fields) for kind, fields in TRIGGER_KIND_FIELDS.items()}
    assert "jobs/trigger_fields.js" in page
    # Without the script every field is there: nothing is hidden by the server.
    for name in ("cron_expression", "interval_seconds", "interval_anchor", "run_at"):
        assert f'name="{name}"' in page


def test_a_blank_add_form_shows_no_error(member_client):
    page = member_client.get(reverse("admin:jobs_schedule_add")).text

    assert "Invalid" not in page and "errornote" not in page


def test_a_one_off_time_is_read_in_the_schedules_zone(member_client, owner):
    with time_machine.travel(datetime(2026, 6, 1, tzinfo=UTC), tick=False):
        response = member_client.post(
            reverse("admin:jobs_schedule_add"),
            {
                **VALID_FORM,
                "owner": owner.pk,
                "trigger_kind": "once",
                "run_at": "2026-07-01T09:00",
                "timezone": "Europe/Berlin",
            },
        )

    assert response.status_code == 302
    schedule = Schedule.objects.get(key="weekly-report")
    assert schedule.run_at == datetime(2026, 7, 1, 7, 0, tzinfo=UTC)  # 09:00 CEST


def test_the_form_shows_a_stored_time_in_the_schedules_zone_to_the_second():
    schedule = Schedule(
        job_name="tests.record",
        trigger_kind="interval",
        interval_seconds=60,
        interval_anchor=datetime(2026, 1, 5, 23, 30, 15, tzinfo=UTC),
        timezone="America/New_York",
    )

    rendered = str(ScheduleForm(instance=schedule)["interval_anchor"])

    assert 'type="datetime-local"' in rendered and 'value="2026-01-05T18:30:15"' in rendered


def test_a_time_that_does_not_exist_in_the_zone_is_refused():
    data = {**VALID_FORM, "job_name": "tests.record", "trigger_kind": "once", "timezone": "Europe/London"}
    form = ScheduleForm(data={**data, "run_at": "2027-03-28T01:30"})  # the clocks jump from 01:00 to 02:00

    assert not form.is_valid()
    assert "be interpreted in time zone Europe/London" in form.errors["run_at"][0]
