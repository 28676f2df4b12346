"""Schedules that can never work, or would hurt the system, are refused before they are saved: on the model
(``Schedule.full_clean``, what every caller uses) and in the admin form, with the reason on the field."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.urls import reverse

from jobs.models import Schedule, TriggerKind
from jobs.registry import InvalidJobArguments, get_job, job
from tests.jobs.builders import make_schedule, schedule_form_data

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def clock():
    with time_machine.travel(NOW, tick=False):
        yield


def errors_of(**fields) -> dict[str, list[str]]:
    """The validation errors of an unsaved schedule (an every-minute one of tests.record by default)."""
    fields.setdefault("job_name", "tests.record")
    fields.setdefault("key", "limits")
    fields.setdefault("trigger_kind", TriggerKind.INTERVAL)
    if fields["trigger_kind"] == TriggerKind.INTERVAL:
        fields.setdefault("interval_seconds", 60)
    schedule = Schedule(**fields)
    try:
        schedule.full_clean()
    except ValidationError as invalid:
        return invalid.message_dict
    return {}


def test_an_every_minute_schedule_of_a_job_without_limits_is_accepted():
    assert errors_of() == {}


def test_an_interval_below_the_global_minimum_is_refused(settings):
    settings.JOBS_MIN_INTERVAL_SECONDS = 30

    (message,) = errors_of(interval_seconds=10)["interval_seconds"]

    assert message == (
        "Runs would come 10 s apart; JOBS_MIN_INTERVAL_SECONDS says at least 30 s between two runs."
    )
    assert errors_of(interval_seconds=30) == {}


def test_an_interval_below_the_jobs_declared_minimum_is_refused():
    (message,) = errors_of(job_name="tests.report", interval_seconds=1)["interval_seconds"]

    assert "Runs would come 1 s apart; the job tests.report declares at least 10 min" in message
    assert errors_of(job_name="tests.report", interval_seconds=600) == {}


def test_a_cron_expression_firing_more_often_than_the_job_allows_is_refused():
    every_five_minutes = errors_of(
        job_name="tests.report", trigger_kind=TriggerKind.CRON, cron_expression="*/5 * * * *"
    )
    twice_close_together = errors_of(
        job_name="tests.report", trigger_kind=TriggerKind.CRON, cron_expression="0,1 3 * * *"
    )

    assert "Runs would come 5 min apart" in every_five_minutes["cron_expression"][0]
    assert "Runs would come 1 min apart" in twice_close_together["cron_expression"][0]
    assert (
        errors_of(job_name="tests.report", trigger_kind=TriggerKind.CRON, cron_expression="0 3 * * *") == {}
    )


def test_backups_may_not_be_scheduled_more_often_than_hourly():
    assert get_job("backups.run").min_interval == timedelta(hours=1)
    assert "interval_seconds" in errors_of(job_name="backups.run", interval_seconds=1)


def test_a_one_off_time_that_has_passed_is_refused_and_one_ahead_accepted():
    (message,) = errors_of(trigger_kind=TriggerKind.ONCE, run_at=datetime(2001, 1, 1, 9, tzinfo=UTC))[
        "run_at"
    ]

    assert message.startswith("2001-01-01 09:00:00 UTC has passed: a one-off schedule only fires")
    assert errors_of(trigger_kind=TriggerKind.ONCE, run_at=NOW + timedelta(minutes=1)) == {}


def test_a_one_off_schedule_that_already_fired_may_still_be_edited():
    schedule = make_schedule(run_at=NOW + timedelta(minutes=5), now=NOW)
    with time_machine.travel(NOW + timedelta(days=1), tick=False):
        schedule = Schedule.objects.get(pk=schedule.pk)
        schedule.label = "Renamed after it ran"
        schedule.full_clean()


def test_keyword_arguments_above_the_size_limit_are_refused(settings):
    settings.JOBS_MAX_KWARGS_BYTES = 1024

    (message,) = errors_of(kwargs={"blob": "x" * 2000})["kwargs"]
    message = message.replace("\xa0", " ")

    assert message.startswith("These arguments take 2.0 KB as JSON, more than the 1.0 KB allowed")
    assert "JOBS_MAX_KWARGS_BYTES" in message
    assert errors_of(kwargs={"blob": "x" * 900}) == {}


def test_the_default_size_limit_is_64_kib(settings):
    assert settings.JOBS_MAX_KWARGS_BYTES == 64 * 1024
    assert "kwargs" in errors_of(kwargs={"blob": "x" * 2 * 1024 * 1024})


def test_keyword_arguments_the_job_does_not_take_are_refused():
    (message,) = errors_of(job_name="tests.report", kwargs={"dayz": 3})["kwargs"]

    assert message == (
        "The job tests.report cannot take these arguments (got an unexpected keyword argument 'dayz'); "
        "it takes only days, recipients."
    )
    assert errors_of(job_name="tests.report", interval_seconds=600, kwargs={"days": 3}) == {}
    assert errors_of(job_name="tests.record", kwargs={"anything": 1}) == {}  # it takes **kwargs


def test_keyword_arguments_must_be_an_object():
    assert errors_of(kwargs=[1, 2])["kwargs"] == ['Keyword arguments are a JSON object, e.g. {"full": true}.']


def test_fewer_than_one_attempt_is_refused():
    assert errors_of(max_attempts=0)["max_attempts"] == [
        "At least 1: the first attempt counts (1 means no retries)."
    ]


def test_a_timeout_above_the_longest_a_run_may_have_is_refused(settings):
    settings.JOBS_MAX_TIMEOUT = 3600

    (message,) = errors_of(timeout_seconds=999_999_999)["timeout_seconds"]

    assert message.startswith("At most 3570 s (59 min 30 s): JOBS_MAX_TIMEOUT minus the 30 s")
    assert errors_of(timeout_seconds=3570) == {}


def test_check_kwargs_binds_the_arguments_to_the_jobs_signature():
    report = get_job("tests.report")

    report.check_kwargs({"days": 1, "recipients": ["ops@acme.test"]})
    with pytest.raises(InvalidJobArguments, match=r"unexpected keyword argument 'weeks'"):
        report.check_kwargs({"weeks": 1})
    with pytest.raises(InvalidJobArguments, match="JSON object"):
        report.check_kwargs(["days"])
    with pytest.raises(InvalidJobArguments, match="it takes no arguments"):
        get_job("jobs.prune_history").check_kwargs({"days": 1})


def test_a_job_whose_default_interval_is_below_its_own_minimum_is_refused_at_registration():
    with pytest.raises(ValueError, match="shorter than its own min_interval"):
        job("tests.contradiction", every=timedelta(seconds=5), min_interval=timedelta(minutes=1))(
            lambda ctx: None
        )


# --- The same refusals in the admin: the reason on the field, nothing saved ---------------------------

VALID_FORM = schedule_form_data(
    job_name="tests.report", key="weekly-report", trigger_kind="interval", interval_seconds=3600
)

REFUSED_INPUTS = {
    "an interval of 1 s for a job that takes longer": (
        {"interval_seconds": 1},
        "interval_seconds",
        "declares at least 10 min",
    ),
    "a one-off time in 2001": (
        {"trigger_kind": "once", "run_at": "2001-01-01T10:00"},
        "run_at",
        "2001-01-01 10:00:00 UTC has passed",
    ),
    "2 MB of keyword arguments": (
        {"kwargs": '{"blob": "%s"}' % ("x" * 2 * 1024 * 1024)},
        "kwargs",
        "JOBS_MAX_KWARGS_BYTES",
    ),
    "keyword arguments the job does not take": (
        {"kwargs": '{"weeks": 2}'},
        "kwargs",
        "unexpected keyword argument 'weeks'",
    ),
    "no attempt at all": ({"max_attempts": 0}, "max_attempts", "At least 1"),
    "a timeout of 999,999,999 s": ({"timeout_seconds": 999_999_999}, "timeout_seconds", "At most"),
}


@pytest.fixture
def member_client(client, member):
    client.force_login(member)
    return client


def test_the_valid_form_is_saved(member_client, owner):
    response = member_client.post(reverse("admin:jobs_schedule_add"), {**VALID_FORM, "owner": owner.pk})

    assert response.status_code == 302
    assert Schedule.objects.filter(key="weekly-report", owner=owner).exists()


@pytest.mark.parametrize(("change", "field", "reason"), REFUSED_INPUTS.values(), ids=REFUSED_INPUTS.keys())
def test_the_admin_form_refuses_it_on_its_field_and_saves_nothing(
    member_client, owner, change, field, reason
):
    response = member_client.post(
        reverse("admin:jobs_schedule_add"), {**VALID_FORM, "owner": owner.pk, **change}
    )

    assert response.status_code == 200
    assert reason in " ".join(response.context["adminform"].form.errors[field])
    assert not Schedule.objects.filter(key="weekly-report").exists()
