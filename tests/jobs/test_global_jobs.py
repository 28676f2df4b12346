"""Jobs that work on every owner at once (housekeeping, the sender, the missed-run check) belong to the global
owner: a tenant can neither schedule nor run one, so nothing a tenant admin does starts work that reaches
other tenants."""

from datetime import timedelta
from io import StringIO

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.urls import reverse

from jobs import services
from jobs.dispatcher import dispatch_due
from jobs.models import JobRun, Schedule
from jobs.registry import GlobalJobError, get_job, registered_jobs
from tests.builders import make_superuser
from tests.jobs.builders import T0, make_schedule

pytestmark = pytest.mark.django_db

GLOBAL_JOBS = {"jobs.prune_history", "notifications.send", "ops.missed_runs", "ops.roll_up_run_metrics"}


def schedule_form(owner_id: int, job_name: str) -> dict:
    return {
        "job_name": job_name,
        "owner": owner_id,
        "key": "mine",
        "kwargs": "{}",
        "trigger_kind": "interval",
        "interval_seconds": "60",
        "timezone": "UTC",
        "enabled": "on",
        "overlap_policy": "skip",
        "overlap_retry_delay_seconds": "3600",
        "misfire_policy": "run_once",
        "misfire_grace_seconds": "300",
        "catch_up_limit": "10",
        "max_attempts": "1",
        "retry_backoff_seconds": "30",
        "pause_after_failures": "0",
    }


def test_the_jobs_that_work_on_every_owner_are_marked_global_only():
    assert {definition.name for definition in registered_jobs() if definition.global_only} >= GLOBAL_JOBS
    assert not get_job("alerts.low_stock").global_only and not get_job("backups.run").global_only


def test_a_schedule_of_a_global_job_for_a_tenant_is_refused_on_the_owner(owner):
    schedule = Schedule(job_name="jobs.prune_history", owner=owner, key="k", cron_expression="* * * * *")
    with pytest.raises(ValidationError) as refused:
        schedule.full_clean()
    assert "only the global owner" in refused.value.message_dict["owner"][0]


def test_a_tenant_admin_is_not_offered_global_jobs_and_cannot_post_one(client, member, owner):
    client.force_login(member)
    page = client.get(reverse("admin:jobs_schedule_add")).content.decode()
    for name in GLOBAL_JOBS:
        assert f'value="{name}"' not in page
    assert 'value="alerts.low_stock"' in page

    response = client.post(reverse("admin:jobs_schedule_add"), schedule_form(owner.pk, "jobs.prune_history"))

    assert response.status_code == 200 and "is not one of the available choices" in response.content.decode()
    assert not Schedule.objects.filter(owner=owner).exists()


def test_a_superuser_is_offered_them_and_still_cannot_give_one_to_a_tenant(client, owner):
    client.force_login(make_superuser())
    page = client.get(reverse("admin:jobs_schedule_add")).content.decode()
    assert 'value="jobs.prune_history"' in page

    response = client.post(reverse("admin:jobs_schedule_add"), schedule_form(owner.pk, "jobs.prune_history"))

    assert "only the global owner (0) may schedule or run it" in response.content.decode()
    assert not Schedule.objects.filter(owner=owner).exists()


def test_run_now_of_a_global_job_for_a_tenant_is_refused(owner):
    with pytest.raises(GlobalJobError):
        services.run_now(job_name="notifications.send", owner_id=owner.pk, now=T0)
    assert not JobRun.objects.exists()


def test_the_command_refuses_it_in_one_line(owner):
    with pytest.raises(CommandError, match=r"^ops\.missed_runs works on every owner at once"):
        call_command("jobs", "run", "ops.missed_runs", "--owner", owner.slug, stdout=StringIO())


def test_a_row_made_behind_the_forms_back_is_refused_at_the_door(owner):
    schedule = make_schedule("tests.record", owner_id=owner.pk, now=T0)
    Schedule.objects.filter(pk=schedule.pk).update(job_name="jobs.prune_history")

    dispatch_due(now=T0 + timedelta(seconds=60))

    run = JobRun.objects.get(schedule=schedule)
    assert run.status == "failed" and "only the global owner" in run.error
