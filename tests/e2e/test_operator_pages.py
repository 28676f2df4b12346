"""The admin reads at a glance, in a real chromium: the dashboard in the viewer's zone and refreshing itself,
the schedule form showing one trigger kind's fields and refusing what cannot work, the run page's laid-out
fields, and no page wider than a 1280 px screen. Two of the screenshots are docs/operations.md's."""

import json
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

import tests.jobs.sample_jobs  # noqa: F401  (registers tests.report, a job with a minimum interval)
from jobs.models import EngineProcess, JobRun, Schedule
from tenants.models import GLOBAL_OWNER_ID
from tests.admin_rows import make_admin_rows
from tests.backups.builders import make_backup, use_file_storage
from tests.builders import make_owner, make_staff_user, make_superuser
from tests.e2e.conftest import PASSWORD
from tests.ops.builders import make_run, make_schedule

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

WIDE = {"width": 1280, "height": 900}


def test_the_dashboard_speaks_a_tokyo_members_zone_with_utc_on_hover(browsing):
    tokyo = make_owner("Tokyo Trading", timezone="Asia/Tokyo")
    schedule = make_schedule(tokyo, job_name="reports.nightly", last_status="failed")
    failed = make_run(schedule, slot=timezone.now() - timedelta(minutes=5), status="failed")
    make_staff_user(tokyo, username="kenji")

    browsing.log_in("kenji")
    browsing.open("/admin/ops/dashboard/")
    since = browsing.page.locator("#ops-failing tr.ops-failing time")
    browsing.screenshot("tokyo")

    local = failed.finished_at.astimezone(ZoneInfo("Asia/Tokyo"))
    assert since.inner_text() == f"{local:%Y-%m-%d %H:%M:%S} JST"
    assert since.get_attribute("title") == f"{failed.finished_at:%Y-%m-%d %H:%M:%S} UTC"
    assert "(now Asia/Tokyo;" in browsing.page.locator(".ops-zone-form").inner_text()
    now_in_tokyo = timezone.now().astimezone(ZoneInfo("Asia/Tokyo"))
    last_minute = browsing.page.locator("#ops-per-minute svg text").last.text_content()
    assert last_minute in {f"{now_in_tokyo:%H:%M}", f"{now_in_tokyo - timedelta(minutes=1):%H:%M}"}
    assert browsing.external_requests == [] and browsing.console_errors == []


def test_the_dashboard_updates_its_counts_without_a_reload_when_a_run_finishes(browsing):
    owner = make_owner("Acme")
    schedule = make_schedule(owner, job_name="reports.nightly")
    run = JobRun.of_schedule(
        schedule, slot=timezone.now() - timedelta(seconds=10), trigger=JobRun.Trigger.MANUAL
    )
    run.status = JobRun.Status.QUEUED
    run.save()
    make_staff_user(owner, username="alice")
    browsing.log_in("alice")
    page = browsing.page

    browsing.open("/admin/ops/dashboard/?refresh=1")
    before = page.locator("#ops-count-succeeded").inner_text()
    queued_before = page.locator("#ops-count-queued").inner_text()
    page.evaluate("window.notReloaded = true")
    assert run.mark_running(now=timezone.now(), worker="browser-test:1")
    assert run.succeed(now=timezone.now(), result={"rows": 3})
    page.wait_for_function(
        "document.getElementById('ops-count-succeeded').textContent.trim() === '1'", timeout=30_000
    )

    assert (before, queued_before) == ("0", "1")
    assert page.locator("#ops-count-queued").inner_text() == "0"
    assert page.evaluate("window.notReloaded") is True
    assert browsing.external_requests == [] and browsing.console_errors == []


def row_shown(page, field: str) -> bool:
    return page.locator(f".form-row.field-{field}").is_visible()


TRIGGER_FIELDS_SHOWN = {
    "cron": {"cron_expression"},
    "interval": {"interval_seconds", "interval_anchor"},
    "once": {"run_at"},
}


def test_the_schedule_form_shows_only_the_chosen_trigger_kinds_fields(browsing):
    make_superuser("root")
    browsing.log_in("root")
    page = browsing.page
    browsing.open("/admin/jobs/schedule/add/")

    for kind, shown in TRIGGER_FIELDS_SHOWN.items():
        page.select_option("#id_trigger_kind", kind)
        browsing.screenshot(f"kind-{kind}")
        every = {field for fields in TRIGGER_FIELDS_SHOWN.values() for field in fields}
        assert {field for field in every if row_shown(page, field)} == shown, kind
        assert row_shown(page, "timezone")  # every kind's
    assert browsing.console_errors == []


def test_without_javascript_the_schedule_form_shows_every_trigger_field(browser, live_server):
    make_superuser("root")
    context = browser.new_context(java_script_enabled=False, viewport=WIDE)
    page = context.new_page()
    try:
        page.goto(live_server.url + "/admin/login/?next=/admin/jobs/schedule/add/")
        page.fill("#id_username", "root")
        page.fill("#id_password", PASSWORD)
        page.click("input[type=submit]")
        page.wait_for_selector("#id_trigger_kind")

        for field in ("cron_expression", "interval_seconds", "interval_anchor", "run_at"):
            assert row_shown(page, field), field
    finally:
        context.close()


REFUSED = {
    "an interval of 1 s for a job that takes longer": (
        {"#id_trigger_kind": ("select", "interval"), "#id_interval_seconds": ("fill", "1")},
        "interval_seconds",
        "the job tests.report declares at least 10 min between two runs",
    ),
    "a one-off time in 2001": (
        {"#id_trigger_kind": ("select", "once"), "#id_run_at": ("fill", "2001-01-01T10:00")},
        "run_at",
        "2001-01-01 10:00:00 UTC has passed",
    ),
    "2 MB of keyword arguments": (
        {"#id_kwargs": ("set", json.dumps({"blob": "x" * 2 * 1024 * 1024}))},
        "kwargs",
        "JOBS_MAX_KWARGS_BYTES",
    ),
    "keyword arguments the job does not take": (
        {"#id_kwargs": ("fill", '{"weeks": 2}')},
        "kwargs",
        "got an unexpected keyword argument 'weeks'",
    ),
    "no attempt at all": ({"#id_max_attempts": ("fill", "0")}, "max_attempts", "At least 1"),
    "a timeout of 999,999,999 s": (
        {"#id_timeout_seconds": ("fill", "999999999")},
        "timeout_seconds",
        "At most 21570 s",
    ),
}


@pytest.mark.parametrize(("steps", "field", "reason"), REFUSED.values(), ids=REFUSED.keys())
def test_the_schedule_form_refuses_what_cannot_work_and_saves_nothing(browsing, steps, field, reason):
    make_superuser("root")
    browsing.log_in("root")
    page = browsing.page
    browsing.open("/admin/jobs/schedule/add/")
    page.select_option("#id_job_name", "tests.report")
    page.fill("#id_key", "refused")
    page.select_option("#id_trigger_kind", "cron")
    page.fill("#id_cron_expression", "0 3 * * *")
    for selector, (how, value) in steps.items():
        if how == "select":
            page.select_option(selector, value)
        elif how == "set":
            page.eval_on_selector(selector, "(element, value) => { element.value = value; }", value)
        else:
            page.fill(selector, value)
    # The server must refuse it even when the browser's own checks (min="1" and the like) are bypassed.
    page.eval_on_selector("#schedule_form", "form => { form.noValidate = true; }")
    page.click("input[name=_save]")
    page.wait_for_selector(".errornote")
    browsing.screenshot(field)

    assert reason in page.locator(f".form-row.field-{field} .errorlist").inner_text()
    assert page.locator(f".form-row.field-{field}").is_visible()
    assert not Schedule.objects.filter(key="refused").exists()


def test_the_run_page_lays_out_its_times_duration_result_and_traceback(browsing):
    berlin = make_owner("Acme", timezone="Europe/Berlin")
    schedule = make_schedule(berlin, job_name="reports.nightly")
    slot = timezone.now().replace(microsecond=0) - timedelta(hours=2)
    succeeded = make_run(
        schedule,
        slot=slot,
        started_at=slot + timedelta(seconds=1),
        finished_at=slot + timedelta(seconds=1, milliseconds=277),
        duration=timedelta(milliseconds=277),
        queued_at=slot,
        worker="worker-1:4242",
        result={"owners": 12, "alerts_opened": 3, "digest_sent": True},
        kwargs={"days": 7},
    )
    failed = make_run(
        schedule,
        slot=slot - timedelta(days=1),
        status="failed",
        duration=timedelta(hours=2, minutes=3, seconds=4),
        error="RuntimeError: the disk is full",
        traceback=(
            'Traceback (most recent call last):\n  File "reports.py", line 4, in run\n'
            "RuntimeError: the disk is full"
        ),
        result={"failures": [{"owner": 3, "error": "timeout"}]},
    )
    make_staff_user(berlin, username="alice")
    browsing.log_in("alice")
    page = browsing.page
    page.set_viewport_size(WIDE)

    browsing.open(f"/admin/jobs/jobrun/{succeeded.pk}/change/")
    browsing.docs_screenshot("run-detail", full_page=True)
    started = page.locator(".field-started_time time")
    result_rows = page.locator(".field-formatted_result table.key-values tr").all_inner_texts()
    badge_colour = page.locator(".field-status_badge .status-badge").evaluate(
        "badge => getComputedStyle(badge).backgroundColor"
    )
    local_start = succeeded.started_at.astimezone(ZoneInfo("Europe/Berlin"))
    assert started.inner_text() == f"{local_start:%Y-%m-%d %H:%M:%S %Z}"
    assert started.get_attribute("title") == f"{succeeded.started_at:%Y-%m-%d %H:%M:%S} UTC"
    assert page.locator(".field-duration_text .readonly").inner_text() == "277 ms"
    # (PostgreSQL's jsonb keeps the keys in an order of its own.)
    assert sorted(row.replace("\t", " ") for row in result_rows) == [
        "alerts_opened 3",
        "digest_sent true",
        "owners 12",
    ]
    assert badge_colour == "rgb(46, 125, 50)"

    browsing.open(f"/admin/jobs/jobrun/{failed.pk}/change/")
    browsing.screenshot("failed")
    traceback = page.locator(".field-formatted_traceback pre.run-traceback")
    assert traceback.inner_text().startswith("Traceback (most recent call last):\n  File")
    assert "monospace" in traceback.evaluate("block => getComputedStyle(block).fontFamily")
    assert page.locator(".field-duration_text .readonly").inner_text() == "2 h 3 min"
    assert '"failures": [' in page.locator(".field-formatted_result pre").inner_text()
    assert page.locator(".object-tools button", has_text="Retry").is_visible()
    assert browsing.external_requests == [] and browsing.console_errors == []


def busy_world(tmp_path, settings) -> dict:
    """Owners with schedules of every kind, long names, a month of runs in every state, backups, engine
    processes: what an operator's pages look like on a working day."""
    use_file_storage(settings, tmp_path / "backups")
    now = timezone.now()
    acme = make_owner("Acme Retail Worldwide", timezone="Europe/Berlin")
    globex = make_owner("Globex Wholesale", timezone="America/New_York")
    rows = make_admin_rows(acme)
    make_admin_rows(globex)
    schedules = [
        make_schedule(
            acme, job_name="billing.trials_and_payments", cron="0 * * * *", label="Hourly billing check"
        ),
        make_schedule(globex, job_name="alerts.low_stock", cron="0 */6 * * *"),
        make_schedule(
            acme, job_name="ops.missed_runs", cron="* * * * *", next_run_at=now + timedelta(seconds=20)
        ),
        make_schedule(
            globex,
            job_name="inventory.nightly_reconciliation_report",
            cron="30 2 * * *",
            last_status="failed",
        ),
    ]
    statuses = ["succeeded"] * 6 + ["failed", "skipped", "timed_out", "cancelled"]
    runs = []
    for day in range(30):
        for index, schedule in enumerate(schedules):
            slot = now - timedelta(days=day, minutes=7 * index + 3)
            status = statuses[(day + index) % len(statuses)]
            if schedule.last_status == "failed" and day < 2:
                status = "failed"  # failing for two days now
            duration = timedelta(seconds=3 + index * 40 + day)
            runs.append(
                JobRun(
                    schedule=schedule,
                    job_name=schedule.job_name,
                    owner_id=schedule.owner_id,
                    slot=slot,
                    due_at=slot,
                    status=status,
                    started_at=slot,
                    finished_at=slot + duration,
                    duration=duration,
                    result={"checked": day},
                )
            )
    for minute in range(60):
        slot = now - timedelta(minutes=minute, seconds=5)
        runs.append(
            JobRun(
                schedule=None,
                job_name="ops.missed_runs",
                owner_id=GLOBAL_OWNER_ID,
                slot=slot,
                due_at=slot,
                status=statuses[minute % len(statuses)],
                trigger=JobRun.Trigger.MANUAL,
            )
        )
    JobRun.objects.bulk_create(runs)
    make_backup(
        globex, started_at=now - timedelta(hours=20), duration=timedelta(minutes=4), content=b"x" * 40960
    )
    for number, dispatcher in ((1, True), (2, False)):
        EngineProcess.objects.create(
            host=f"worker-{number}.scheduler.internal",
            pid=4000 + number,
            started_at=now - timedelta(hours=5),
            last_beat_at=now,
            runs_dispatcher=dispatcher,
            workers=4,
            queues=["scheduler"],
            version="1.4.2",
        )
    return {"acme": acme, "run": rows["jobs.jobrun"], "backup_owner": globex}


PAGES = [
    "/admin/",
    "/admin/ops/dashboard/",
    "/admin/jobs/jobrun/",
    "/admin/jobs/jobrun/?status=failed",
    "/admin/jobs/schedule/",
    "/admin/jobs/schedule/add/",
    "/admin/backups/backup/",
    "/admin/backups/backup/back-up-now/",
    "/admin/tenants/owner/",
]


def test_no_page_is_wider_than_a_1280_px_screen(browsing, tmp_path, settings):
    world = busy_world(tmp_path, settings)
    pages = [
        *PAGES,
        f"/admin/jobs/jobrun/{world['run'].pk}/change/",
        f"/admin/jobs/schedule/{world['run'].schedule_id}/change/",
        f"/admin/tenants/owner/{world['acme'].pk}/change/",
    ]
    make_superuser("root")
    make_staff_user(world["acme"], username="alice")
    browsing.page.set_viewport_size(WIDE)

    too_wide = {}
    for username in ("root", "alice"):
        browsing.log_in(username)
        for path in pages:
            response = browsing.open(path)
            assert response.status == 200, path
            if username == "root" and path == "/admin/ops/dashboard/":
                browsing.page.select_option("#id_timezone", "Europe/Berlin")
                browsing.page.click(".ops-zone-form button")
                browsing.page.wait_for_selector("text=(now Europe/Berlin;")
                browsing.docs_screenshot("dashboard")
            overflowing = browsing.overflowing()
            if overflowing:
                browsing.screenshot(f"too-wide-{username}-{path.strip('/').replace('/', '-')}")
                too_wide[f"{username} {path}"] = overflowing[:5]
        browsing.page.context.clear_cookies()  # the next user logs in afresh

    assert too_wide == {}
    assert browsing.external_requests == [] and browsing.console_errors == []
