"""The jobs admin: triggers in words, next fire times, run now, actions, cancel and retry, validation, tenant
isolation."""

from datetime import timedelta

import pytest
from django.urls import reverse

from jobs.models import JobRun, Schedule
from tests.jobs.builders import T0, make_run, make_schedule, schedule_form_data

pytestmark = pytest.mark.django_db


@pytest.fixture
def schedule(owner):
    return make_schedule(owner_id=owner.pk, cron_expression="0 21 * * *", timezone="Europe/London")


@pytest.fixture
def member_client(client, member):
    client.force_login(member)
    return client


@pytest.fixture
def outsider_client(client, outsider):
    client.force_login(outsider)
    return client


def change_url(schedule: Schedule) -> str:
    return reverse("admin:jobs_schedule_change", args=[schedule.pk])


def test_the_schedule_list_shows_the_trigger_in_words(member_client, schedule):
    page = member_client.get(reverse("admin:jobs_schedule_changelist")).content.decode()
    assert "At 21:00" in page
    assert "tests.record" in page


def test_the_change_page_lists_the_next_five_fire_times_in_the_schedules_zone(member_client, schedule):
    page = member_client.get(change_url(schedule)).content.decode()
    assert page.count(":00:00 GMT</time></li>") + page.count(":00:00 BST</time></li>") == 5
    assert "Run now" in page


def test_an_invalid_cron_expression_is_reported_on_its_field(member_client, schedule, owner):
    response = member_client.post(
        reverse("admin:jobs_schedule_add"),
        schedule_form_data(
            job_name="tests.record",
            owner=owner.pk,
            key="broken",
            trigger_kind="cron",
            cron_expression="61 * * * *",
        ),
    )
    assert response.status_code == 200
    assert "Invalid cron expression" in str(response.context["adminform"].form.errors["cron_expression"])
    assert not Schedule.objects.filter(key="broken").exists()


def test_run_now_creates_a_manual_run_of_the_schedule(member_client, schedule):
    response = member_client.post(reverse("admin:jobs_schedule_run_now", args=[schedule.pk]))
    assert response.status_code == 302
    run = JobRun.objects.get(schedule=schedule)
    assert run.trigger == "manual"


def test_the_pause_action_pauses_the_selected_schedules(member_client, schedule):
    member_client.post(
        reverse("admin:jobs_schedule_changelist"),
        {"action": "pause_selected", "_selected_action": [schedule.pk]},
    )
    schedule.refresh_from_db()
    assert schedule.is_paused


def test_the_run_page_shows_the_traceback_read_only(member_client, schedule):
    run = make_run(schedule, status=JobRun.Status.FAILED, slot=T0, traceback="Traceback: boom <here>")
    page = member_client.get(reverse("admin:jobs_jobrun_change", args=[run.pk])).content.decode()
    assert "Traceback: boom &lt;here&gt;" in page
    assert 'name="_save"' not in page


def test_every_jobs_page_says_when_jobs_are_switched_off(member_client, schedule, settings):
    settings.JOBS_ENABLED = False
    for url in (
        reverse("admin:jobs_schedule_changelist"),
        change_url(schedule),
        reverse("admin:jobs_jobrun_changelist"),
        reverse("admin:app_list", args=["jobs"]),
    ):
        assert "JOBS_ENABLED is false" in member_client.get(url).content.decode(), url


def test_the_outsider_does_not_see_another_owners_schedules(outsider_client, schedule):
    page = outsider_client.get(reverse("admin:jobs_schedule_changelist")).content.decode()
    assert change_url(schedule) not in page


def test_the_outsider_gets_404_for_another_owners_schedule(outsider_client, schedule):
    assert outsider_client.get(change_url(schedule)).status_code == 404


def test_the_outsider_cannot_run_another_owners_schedule(outsider_client, schedule):
    response = outsider_client.post(reverse("admin:jobs_schedule_run_now", args=[schedule.pk]))
    assert response.status_code == 404
    assert not JobRun.objects.exists()


def test_the_outsider_gets_404_for_another_owners_run(outsider_client, schedule):
    run = make_run(schedule, status=JobRun.Status.SUCCEEDED)
    assert outsider_client.get(reverse("admin:jobs_jobrun_change", args=[run.pk])).status_code == 404


def test_job_switches_are_for_superusers_only(member_client):
    assert member_client.get(reverse("admin:jobs_jobswitch_changelist")).status_code == 403


def test_a_managed_schedule_is_marked_and_its_derived_fields_are_read_only(member_client, owner):
    from backups.schedules import sync_backup_schedule

    managed = sync_backup_schedule(owner)
    listing = member_client.get(reverse("admin:jobs_schedule_changelist"), {"managed": "code"})
    assert managed.label in listing.text
    page = member_client.get(change_url(managed))
    assert "Acme&#x27;s backup schedule, derived from the owner&#x27;s backup settings" in page.text
    assert "BACKUP_SCHEDULE_TIME" in page.text
    assert 'name="cron_expression"' not in page.text
    assert 'name="max_attempts"' in page.text  # the policies nobody derives stay editable


def test_a_jobs_default_schedule_says_it_comes_from_the_jobs_code(client):
    from django.utils import timezone

    from jobs.services import sync_default_schedules
    from tests.builders import make_superuser

    sync_default_schedules(now=timezone.now())
    default = Schedule.objects.filter(managed_by="jobs").first()
    client.force_login(make_superuser())
    page = client.get(change_url(default))
    assert (
        f"the default schedule of the job {default.job_name}, declared with the job in its code" in page.text
    )
    assert 'name="interval_seconds"' not in page.text and 'name="cron_expression"' not in page.text


def test_a_managed_schedule_cannot_be_deleted_one_by_one_or_in_bulk(member_client, owner):
    from backups.schedules import sync_backup_schedule

    managed = sync_backup_schedule(owner)
    page = member_client.get(change_url(managed))
    assert reverse("admin:jobs_schedule_delete", args=[managed.pk]) not in page.text
    assert member_client.get(reverse("admin:jobs_schedule_delete", args=[managed.pk])).status_code == 403
    assert (
        member_client.post(
            reverse("admin:jobs_schedule_delete", args=[managed.pk]), {"post": "yes"}
        ).status_code
        == 403
    )
    member_client.post(
        reverse("admin:jobs_schedule_changelist"),
        {"action": "delete_selected", "_selected_action": [managed.pk], "post": "yes"},
    )
    assert Schedule.objects.filter(pk=managed.pk).exists()


def test_a_schedule_made_by_people_can_be_deleted(member_client, schedule):
    response = member_client.post(reverse("admin:jobs_schedule_delete", args=[schedule.pk]), {"post": "yes"})
    assert response.status_code == 302
    assert not Schedule.objects.filter(pk=schedule.pk).exists()


def test_the_managed_filter_leaves_out_schedules_edited_by_hand(member_client, schedule):
    listing = member_client.get(reverse("admin:jobs_schedule_changelist"), {"managed": "code"})
    assert change_url(schedule) not in listing.text
    listing = member_client.get(reverse("admin:jobs_schedule_changelist"), {"managed": "people"})
    assert change_url(schedule) in listing.text


@pytest.fixture
def viewer_client(client, owner):
    from tenants.models import Membership
    from tests.builders import make_staff_user

    client.force_login(make_staff_user(owner, role=Membership.Role.VIEWER))
    return client


def run_url(run: JobRun, action: str = "change") -> str:
    return reverse(f"admin:jobs_jobrun_{action}", args=[run.pk])


def test_an_admin_of_the_owner_sees_cancel_on_a_queued_run_and_cancels_it(member_client, schedule):
    queued = make_run(schedule, status=JobRun.Status.QUEUED)
    assert "Cancel run" in member_client.get(run_url(queued)).content.decode()

    response = member_client.post(run_url(queued, "cancel"))

    assert response.status_code == 302
    queued.refresh_from_db()
    assert queued.status == "cancelled" and queued.error.startswith("Cancelled by user")


def test_cancel_of_a_running_run_from_the_admin_asks_its_worker(member_client, schedule):
    running = make_run(schedule, status=JobRun.Status.RUNNING, started_at=T0)
    member_client.post(run_url(running, "cancel"))
    running.refresh_from_db()
    assert running.status == "running" and running.cancel_requested_at is not None


def test_an_admin_of_the_owner_retries_a_failed_run(member_client, schedule):
    failed = make_run(schedule, status=JobRun.Status.FAILED, slot=T0)
    assert "Retry" in member_client.get(run_url(failed)).content.decode()

    response = member_client.post(run_url(failed, "retry"))

    retry = JobRun.objects.get(retry_of=failed)
    assert response.status_code == 302 and response.url == run_url(retry)
    assert retry.attempt == 2


def test_a_finished_run_offers_no_cancel_and_a_success_no_retry(member_client, schedule):
    page = member_client.get(run_url(make_run(schedule, status=JobRun.Status.SUCCEEDED))).content.decode()
    assert "Cancel run" not in page and ">Retry<" not in page


def test_a_viewer_of_the_owner_can_neither_cancel_nor_retry(viewer_client, schedule):
    queued = make_run(schedule, status=JobRun.Status.QUEUED)
    failed = make_run(schedule, status=JobRun.Status.FAILED, slot=T0 + timedelta(minutes=1))

    assert "Cancel run" not in viewer_client.get(run_url(queued)).content.decode()
    assert viewer_client.post(run_url(queued, "cancel")).status_code == 403
    assert viewer_client.post(run_url(failed, "retry")).status_code == 403
    assert JobRun.objects.get(pk=queued.pk).status == "queued"
    assert not JobRun.objects.filter(retry_of=failed).exists()


def test_an_outsider_can_neither_cancel_nor_retry_another_owners_run(outsider_client, schedule):
    queued = make_run(schedule, status=JobRun.Status.QUEUED)
    failed = make_run(schedule, status=JobRun.Status.FAILED, slot=T0 + timedelta(minutes=1))

    assert outsider_client.post(run_url(queued, "cancel")).status_code == 404
    assert outsider_client.post(run_url(failed, "retry")).status_code == 404
    assert JobRun.objects.get(pk=queued.pk).status == "queued"
    assert not JobRun.objects.filter(retry_of=failed).exists()


def test_cancel_by_get_is_refused(member_client, schedule):
    queued = make_run(schedule, status=JobRun.Status.QUEUED)
    assert member_client.get(run_url(queued, "cancel")).status_code == 403
    assert JobRun.objects.get(pk=queued.pk).status == "queued"
