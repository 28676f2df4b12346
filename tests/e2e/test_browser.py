"""The admin as an operator uses it: a real chromium, a real server, the real database, a real qcluster."""

import re
from datetime import time, timedelta

import pytest
from django.db import connection
from django.utils import timezone
from django_q.conf import Conf

from backups.schedules import backup_timing
from jobs.models import JobRun, Schedule
from jobs.services import sync_default_schedules
from tenants.models import GLOBAL_OWNER_ID, Owner
from tests.builders import make_owner, make_staff_user, make_superuser
from tests.e2e.workers import Workers, wait_for
from tests.ops.builders import make_schedule

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_staff_open_the_dashboard_from_the_admin_index_without_external_requests(browsing):
    owner = make_owner("Acme")
    make_schedule(owner, job_name="reports.nightly", label="Nightly report")
    user = make_staff_user(owner, username="alice")

    browsing.log_in(user.username)
    browsing.page.click("text=Dashboard")
    browsing.page.wait_for_selector("#ops-schedules")

    assert browsing.page.title().startswith("Operations dashboard")
    assert browsing.page.locator("#ops-schedules").get_by_text("reports.nightly").is_visible()
    assert browsing.page.locator("svg.ops-chart").count() > 0
    browsing.screenshot("dashboard")
    assert browsing.external_requests == []
    assert browsing.console_errors == []


def test_a_staff_user_of_one_owner_never_sees_another_owners_rows(browsing):
    acme, globex = make_owner("Acme"), make_owner("Globex")
    make_schedule(acme, job_name="acme.only", next_run_at=timezone.now() - timedelta(hours=1))
    make_schedule(globex, job_name="globex.only", next_run_at=timezone.now() - timedelta(hours=1))
    outsider = make_staff_user(globex, username="gina")

    browsing.log_in(outsider.username)
    browsing.open("/admin/ops/dashboard/")
    dashboard = browsing.page.content()
    browsing.screenshot("dashboard-of-globex")
    browsing.open("/admin/tenants/owner/")
    owners = browsing.page.locator("#result_list").inner_text()
    browsing.screenshot("owners-of-globex")
    refused = browsing.open(f"/admin/tenants/owner/{acme.pk}/change/")
    browsing.screenshot("acme-refused")

    assert "globex.only" in dashboard and "acme.only" not in dashboard
    assert "Globex" in owners and "Acme" not in owners
    assert refused.status == 404


def test_a_superuser_sees_every_owner_on_the_dashboard(browsing):
    make_schedule(make_owner("Acme"), job_name="acme.only")
    make_schedule(make_owner("Globex"), job_name="globex.only")
    admin = make_superuser("root")

    browsing.log_in(admin.username)
    browsing.open("/admin/ops/dashboard/")

    schedules = browsing.page.locator("#ops-schedules").inner_text()
    assert "acme.only" in schedules and "globex.only" in schedules


def test_a_superuser_creates_an_owner_and_sets_its_settings_with_typed_inputs_only_when_valid(browsing):
    from jobs.models import Schedule
    from tenants.models import OwnerSetting

    make_superuser("root")
    browsing.log_in("root")
    page = browsing.page

    browsing.open("/admin/tenants/owner/add/")
    page.fill("#id_name", "Initech")
    page.select_option("#id_timezone", "Europe/Berlin")
    page.fill("#id_contact_email", "ops@initech.test")
    browsing.screenshot("owner-add")
    page.click("input[name=_continue]")
    page.wait_for_selector(".messagelist .success")
    owner = Owner.objects.get(slug="initech")  # the slug was filled in from the name

    # A number within bounds; changing a value ticks its "own value" box (the page's script).
    page.fill("#id_setting__BACKUP_RETENTION_KEEP_LAST", "99999999999999999999")
    assert page.locator("#id_own__BACKUP_RETENTION_KEEP_LAST").is_checked()
    page.eval_on_selector("#owner_form", "form => { form.noValidate = true; }")  # the server must refuse it
    page.click("input[name=_continue]")
    page.wait_for_selector(".errornote")
    browsing.screenshot("keep-last-invalid")
    error = page.locator(".errorlist").first.inner_text()
    assert "less than or equal to 1000" in error
    assert not OwnerSetting.objects.filter(owner=owner).exists()

    page.fill("#id_setting__BACKUP_RETENTION_KEEP_LAST", "14")
    page.fill("#id_setting__BACKUP_SCHEDULE_TIME", "06:30")  # the browser's time picker
    page.select_option("#id_setting__BACKUP_SCHEDULE_FREQUENCY", "weekly")
    page.select_option("#id_setting__BACKUP_SCHEDULE_WEEKDAY", "friday")
    page.click("input[name=_continue]")
    page.wait_for_selector(".messagelist .success")
    browsing.screenshot("settings-valid")
    assert dict(OwnerSetting.objects.filter(owner=owner).values_list("key", "value")) == {
        "BACKUP_RETENTION_KEEP_LAST": "14",
        "BACKUP_SCHEDULE_TIME": "06:30",
        "BACKUP_SCHEDULE_FREQUENCY": "weekly",
        "BACKUP_SCHEDULE_WEEKDAY": "friday",
    }
    # The chosen time and weekday plus the owner's own place in the backup spread: the cron expression and
    # the next run shown are that real start.
    timing = backup_timing(owner.pk)
    assert (timing.at, timing.frequency, timing.weekday) == (time(6, 30), "weekly", "friday")
    assert timing.label in page.locator(".owner-section").inner_text()
    browsing.open(f"/admin/jobs/schedule/?owner_id={owner.pk}")
    listed = page.locator("#result_list").inner_text()
    browsing.screenshot("managed-backup-schedule")
    assert timing.label in listed
    managed = Schedule.objects.get(owner=owner, job_name="backups.run", key="managed")
    assert (managed.cron_expression, managed.timezone) == (timing.cron_expression, "Europe/Berlin")


@pytest.fixture
def qcluster(tmp_path, settings, monkeypatch):
    """One real qcluster (dispatcher and a worker) on the test database, with the ORM broker on both
    databases; this process reads the same queue and cluster state, so the dashboard can show it."""
    database = connection.settings_dict
    url = (
        f"sqlite:///{database['NAME']}"
        if connection.vendor == "sqlite"
        else f"postgres://{database['USER']}@{database['HOST']}:{database['PORT']}/{database['NAME']}"
    )
    workers = Workers(
        tmp_path, DATABASE_URL=url, REDIS_URL="", DATA_DIR=str(settings.DATA_DIR), Q_WORKERS="1"
    )
    for name in ("PREFIX", "CLUSTER_NAME"):
        monkeypatch.setattr(Conf, name, workers.queue)
    monkeypatch.setattr(Conf, "Q_STAT", f"django_q:{workers.queue}:cluster")
    workers.start()
    yield workers
    workers.stop_all()


def test_run_now_from_the_schedule_page_runs_on_a_worker_and_shows_on_the_dashboard(browsing, qcluster):
    sync_default_schedules(now=timezone.now())
    schedule = Schedule.objects.get(job_name="ops.missed_runs", owner_id=GLOBAL_OWNER_ID)
    make_superuser("root")
    browsing.log_in("root")
    page = browsing.page

    browsing.open(f"/admin/jobs/schedule/{schedule.pk}/change/")
    browsing.screenshot("schedule")
    page.click("text=Run now")
    message = page.locator(".messagelist .success").inner_text()
    run_id = int(re.search(r"Run (\d+)", message)[1])
    page.click(f".messagelist .success a:text('Run {run_id}')")  # the message links to the new run
    assert page.url.endswith(f"/admin/jobs/jobrun/{run_id}/change/")

    def succeeded() -> bool:
        browsing.open(f"/admin/jobs/jobrun/{run_id}/change/")
        return "Succeeded" in page.locator(".field-status_badge").inner_text()

    wait_for(succeeded, timeout=60, message=f"run {run_id} succeeded\n{qcluster.logs()}")
    browsing.screenshot("run-succeeded")
    assert JobRun.objects.get(pk=run_id).trigger == JobRun.Trigger.MANUAL

    def cluster_alive() -> bool:
        browsing.open("/admin/ops/dashboard/")
        return "alive" in page.locator("#ops-workers").inner_text()

    wait_for(cluster_alive, timeout=30, message="the dashboard shows the qcluster alive")
    browsing.screenshot("dashboard-with-worker")
    assert browsing.external_requests == []


def test_the_cron_field_explains_the_expression_and_its_next_runs_while_typing(browsing):
    make_superuser("root")
    browsing.log_in("root")
    page = browsing.page

    browsing.open("/admin/jobs/schedule/add/")
    page.select_option("#id_timezone", "Europe/London")
    page.fill("#id_cron_expression", "30 21 * * 1-5")
    page.wait_for_selector(".cron-preview-description")
    description = page.locator(".cron-preview-description").inner_text()
    next_runs = page.locator(".cron-preview-next li").all_inner_texts()
    browsing.screenshot("cron-valid")
    errors_while_valid = list(browsing.console_errors)
    page.fill("#id_cron_expression", "61 * * * *")
    page.wait_for_selector(".cron-preview-error")
    error = page.locator(".cron-preview-error").inner_text()
    browsing.screenshot("cron-invalid")

    assert "21:30" in description
    assert len(next_runs) == 5 and all("21:30 GMT" in run or "21:30 BST" in run for run in next_runs)
    assert "minute" in error
    assert not Schedule.objects.exists()
    assert errors_while_valid == []


def test_a_staff_user_cannot_open_another_owners_schedule_or_run(browsing):
    acme, globex = make_owner("Acme"), make_owner("Globex")
    schedule = make_schedule(acme, job_name="acme.only")
    run = JobRun.objects.create(
        schedule=schedule, owner=acme, job_name="acme.only", slot=timezone.now(), due_at=timezone.now()
    )
    make_staff_user(globex, username="gina")

    browsing.log_in("gina")
    schedule_page = browsing.open(f"/admin/jobs/schedule/{schedule.pk}/change/")
    run_page = browsing.open(f"/admin/jobs/jobrun/{run.pk}/change/")
    browsing.open("/admin/jobs/jobrun/?q=acme")
    listed = browsing.page.locator("#changelist").inner_text()
    browsing.screenshot("runs-search-of-globex")

    assert (schedule_page.status, run_page.status) == (404, 404)
    assert "acme.only" not in listed
