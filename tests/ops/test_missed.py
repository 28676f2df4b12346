from datetime import UTC, datetime, timedelta

from django.core import mail

from jobs.models import JobRun
from notifications import outbox
from notifications.models import Notification
from ops.missed import find_missed_runs, report_missed_runs
from ops.models import MissedRunAlert
from tests.ops.builders import make_run, make_schedule
from tests.ops.failing_mail import RefusingBackend

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def test_a_slot_not_dispatched_within_its_grace_period_is_missed(owner):
    schedule = make_schedule(owner, next_run_at=NOW - timedelta(minutes=6), grace=timedelta(minutes=5))

    [missed] = find_missed_runs(NOW)

    assert missed.schedule_id == schedule.pk
    assert missed.kind == MissedRunAlert.Kind.NOT_DISPATCHED
    assert missed.expected_at == NOW - timedelta(minutes=6)


def test_a_slot_still_inside_its_grace_period_is_not_missed(owner):
    make_schedule(owner, next_run_at=NOW - timedelta(minutes=4), grace=timedelta(minutes=5))

    assert find_missed_runs(NOW) == []


def test_each_schedule_uses_its_own_grace_period(owner):
    patient = make_schedule(owner, next_run_at=NOW - timedelta(minutes=30), grace=timedelta(hours=1))
    strict = make_schedule(owner, next_run_at=NOW - timedelta(minutes=30), grace=timedelta(minutes=1))

    assert [item.schedule_id for item in find_missed_runs(NOW)] == [strict.pk]
    assert patient.pk not in {item.schedule_id for item in find_missed_runs(NOW)}


def test_paused_and_disabled_schedules_are_never_missed(owner):
    make_schedule(owner, next_run_at=NOW - timedelta(hours=1), enabled=False)
    make_schedule(owner, next_run_at=NOW - timedelta(hours=1), paused_at=NOW - timedelta(days=1))

    assert find_missed_runs(NOW) == []


def test_a_run_left_queued_past_its_grace_period_is_missed(owner):
    schedule = make_schedule(owner, grace=timedelta(minutes=5))
    run = make_run(schedule, slot=NOW - timedelta(minutes=10), status=JobRun.Status.QUEUED)

    [missed] = find_missed_runs(NOW)

    assert (missed.kind, missed.run_id) == (MissedRunAlert.Kind.NOT_STARTED, run.pk)


def test_a_run_that_started_is_not_missed(owner):
    schedule = make_schedule(owner, grace=timedelta(minutes=5))
    make_run(
        schedule,
        slot=NOW - timedelta(minutes=10),
        status=JobRun.Status.RUNNING,
        started_at=NOW - timedelta(minutes=1),
    )

    assert find_missed_runs(NOW) == []


def test_nothing_is_missed_while_the_engine_is_switched_off(owner, settings):
    settings.JOBS_ENABLED = False
    make_schedule(owner, next_run_at=NOW - timedelta(hours=1))

    assert find_missed_runs(NOW) == []


def test_the_owner_scope_hides_other_owners_missed_runs(owner, other_owner):
    make_schedule(other_owner, next_run_at=NOW - timedelta(hours=1))

    assert find_missed_runs(NOW, owner_ids={owner.pk}) == []


def test_a_missed_run_is_mailed_to_the_owner_contact_once(owner):
    make_schedule(owner, next_run_at=NOW - timedelta(hours=1), label="Nightly export")

    first = report_missed_runs(NOW)
    outbox.send_due(now=NOW)
    second = report_missed_runs(NOW + timedelta(minutes=1))
    outbox.send_due(now=NOW + timedelta(minutes=1))

    assert (first.newly_recorded, first.owners_notified) == (1, 1)
    assert (second.newly_recorded, second.owners_notified) == (0, 0)
    [message] = mail.outbox
    assert message.to == ["ops@acme.test"]
    assert "Nightly export" in message.body
    assert "11:00 GMT" in message.body  # the expected time in the owner's zone (Europe/London, winter)


def test_the_check_itself_sends_nothing_it_hands_the_message_to_the_outbox(owner):
    make_schedule(owner, next_run_at=NOW - timedelta(hours=1))

    report_missed_runs(NOW)

    assert mail.outbox == []
    notice = Notification.objects.get()
    assert (notice.owner, notice.kind, notice.status) == (owner, "missed_runs", "pending")
    assert MissedRunAlert.objects.get().reported_at == NOW


def test_one_email_per_owner_lists_all_its_missed_runs(owner):
    make_schedule(owner, next_run_at=NOW - timedelta(hours=1), label="First")
    make_schedule(owner, next_run_at=NOW - timedelta(hours=2), label="Second")

    report_missed_runs(NOW)
    outbox.send_due(now=NOW)

    [message] = mail.outbox
    assert message.subject == "2 missed scheduled runs for Acme"
    assert "First" in message.body and "Second" in message.body


def test_each_owner_hears_only_about_its_own_schedules(owner, other_owner):
    make_schedule(owner, next_run_at=NOW - timedelta(hours=1), label="Acme nightly")
    make_schedule(other_owner, next_run_at=NOW - timedelta(hours=1), label="Globex nightly")

    report_missed_runs(NOW)
    outbox.send_due(now=NOW)

    bodies = {message.to[0]: message.body for message in mail.outbox}
    assert "Globex nightly" not in bodies["ops@acme.test"]
    assert "Acme nightly" not in bodies["ops@globex.test"]


def test_an_owner_without_a_contact_is_recorded_but_not_mailed(owner):
    owner.contact_email = ""
    owner.save()
    make_schedule(owner, next_run_at=NOW - timedelta(hours=1))

    report = report_missed_runs(NOW)
    counts = outbox.send_due(now=NOW)

    assert (report.newly_recorded, counts.sent, counts.skipped) == (1, 0, 1)
    alert = MissedRunAlert.objects.get()
    assert alert.reported_at == NOW and alert.reported_to == ""
    assert mail.outbox == []


def test_when_one_owners_send_fails_the_other_owner_is_mailed_exactly_once(
    owner, other_owner, settings, monkeypatch
):
    make_schedule(owner, next_run_at=NOW - timedelta(hours=1), label="Acme nightly")
    make_schedule(other_owner, next_run_at=NOW - timedelta(hours=1), label="Globex nightly")
    settings.EMAIL_BACKEND = "tests.ops.failing_mail.RefusingBackend"
    monkeypatch.setattr(RefusingBackend, "refused", {other_owner.contact_email})

    report_missed_runs(NOW)
    first = outbox.send_due(now=NOW)
    for minute in range(1, 30):  # the check and the sender keep running, once a minute
        report_missed_runs(NOW + timedelta(minutes=minute))
        outbox.send_due(now=NOW + timedelta(minutes=minute))
    monkeypatch.setattr(RefusingBackend, "refused", set())  # the server takes Globex's mail again
    report_missed_runs(NOW + timedelta(hours=1))
    outbox.send_due(now=NOW + timedelta(hours=1))

    assert (first.sent, first.failed) == (1, 1)
    received = sorted(recipient for message in mail.outbox for recipient in message.to)
    assert received == ["ops@acme.test", "ops@globex.test"]
    assert set(Notification.objects.values_list("status", flat=True)) == {"sent"}


def test_the_missed_runs_check_is_a_registered_job_every_minute():
    from jobs.registry import get_job

    definition = get_job("ops.missed_runs")

    assert definition.every == timedelta(minutes=1)
