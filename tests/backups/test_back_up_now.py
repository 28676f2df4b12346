"""An owner's backups at a glance on the owner's page (schedule, next backup and last good one in the owner's
zone), and "Back up now" there and on the backups list, for admins of the owner only."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.urls import reverse

from backups.models import Backup
from backups.schedules import sync_backup_schedule
from jobs.models import JobRun
from tenants.models import Membership
from tests.backups.builders import make_backup, use_file_storage
from tests.builders import make_staff_user

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 7, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def backups_in_tmp(settings, tmp_path):
    use_file_storage(settings, tmp_path / "backups")


@pytest.fixture(autouse=True)
def clock():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture(autouse=True)
def on_the_dot(settings):
    """Backups start at the chosen time (no spread), so the times read here are that time."""
    settings.BACKUP_SCHEDULE_SPREAD = 0


def owner_page(client, owner) -> str:
    return client.get(reverse("admin:tenants_owner_change", args=[owner.pk])).text


def test_the_owner_page_shows_the_backup_schedule_next_backup_and_last_good_backup_in_its_zone(
    client, member, owner
):
    schedule = sync_backup_schedule(owner, now=NOW)  # Acme is in Europe/London: 21:00 BST
    make_backup(
        owner,
        started_at=NOW - timedelta(hours=15),
        duration=timedelta(minutes=2, seconds=5),
        content=b"x" * 2048,
    )
    client.force_login(member)

    page = owner_page(client, owner)

    section = page.split("<h2>Backups</h2>", 1)[1].split("</fieldset>", 1)[0]
    assert reverse("admin:jobs_schedule_change", args=[schedule.pk]) in section
    assert "Backup, daily at 21:00 (from settings)" in section
    assert 'title="2026-07-01 20:00:00 UTC">2026-07-01 21:00:00 BST</time>' in section
    assert (
        'title="2026-06-30 21:00:00 UTC">2026-06-30 22:00:00 BST</time> (15 h ago), 2.0\xa0KB, took 2 min 5 s'
        in section
    )
    assert 'id="back-up-now"' in section


def test_an_owner_without_a_good_backup_says_so_and_shows_the_failed_one(client, member, owner):
    failed = make_backup(owner, status=Backup.Status.FAILED, content=None)
    client.force_login(member)

    section = owner_page(client, owner).split("<h2>Backups</h2>", 1)[1].split("</fieldset>", 1)[0]

    assert "none: no verified backup yet" in section
    assert '<span class="status-badge status-failed">Failed</span>' in section
    assert reverse("admin:backups_backup_change", args=[failed.pk]) in section


def test_a_viewer_sees_the_backups_but_no_back_up_now(client, owner):
    sync_backup_schedule(owner, now=NOW)
    client.force_login(make_staff_user(owner, role=Membership.Role.VIEWER))

    page = owner_page(client, owner)

    assert "<h2>Backups</h2>" in page and 'id="back-up-now"' not in page


def test_back_up_now_from_the_owner_page_requests_a_run_of_the_owners_backup_and_links_to_it(
    client, member, owner
):
    schedule = sync_backup_schedule(owner, now=NOW)
    client.force_login(member)
    url = reverse("admin:backups_backup_back_up_now")

    form_page = client.get(f"{url}?owner={owner.pk}")
    response = client.post(url, {"owner": owner.pk}, follow=True)

    assert form_page.context["form"]["owner"].value() == str(owner.pk)
    run = JobRun.objects.get(job_name="backups.run")
    assert (run.owner_id, run.schedule_id, run.trigger) == (owner.pk, schedule.pk, JobRun.Trigger.MANUAL)
    run_url = reverse("admin:jobs_jobrun_change", args=[run.pk])
    assert f'Backup of Acme requested: <a href="{run_url}">Run {run.pk}</a>' in response.text


def test_the_backups_list_offers_back_up_now_to_admins_only(client, member, owner):
    client.force_login(member)
    admins_list = client.get(reverse("admin:backups_backup_changelist")).text
    client.force_login(make_staff_user(owner, role=Membership.Role.VIEWER))
    viewers_list = client.get(reverse("admin:backups_backup_changelist")).text

    assert reverse("admin:backups_backup_back_up_now") in admins_list
    assert reverse("admin:backups_backup_back_up_now") not in viewers_list


def test_the_backups_list_shows_human_sizes_durations_and_coloured_statuses(client, member, owner):
    make_backup(owner, duration=timedelta(seconds=0.277), content=b"y" * 3 * 1024 * 1024)
    client.force_login(member)

    page = client.get(reverse("admin:backups_backup_changelist")).text

    assert "3.0\xa0MB" in page and "277 ms" in page
    assert '<span class="status-badge status-verified">Verified</span>' in page
    assert 'title="2026-07-01 12:00:00 UTC">2026-07-01 13:00:00 BST</time>' in page


def test_an_outsider_neither_sees_the_owners_page_nor_backs_it_up(client, outsider, owner):
    client.force_login(outsider)

    assert client.get(reverse("admin:tenants_owner_change", args=[owner.pk])).status_code == 404
    response = client.post(reverse("admin:backups_backup_back_up_now"), {"owner": owner.pk})
    assert response.status_code == 200 and "owner" in response.context["form"].errors
    assert not JobRun.objects.filter(job_name="backups.run").exists()
