"""A run that failed for good reaches its owner as one e-mail, through the outbox."""

from datetime import timedelta

import pytest
from django.core import mail

from jobs.models import JobRun
from jobs.runner import run_queued
from notifications import outbox
from notifications.models import Notification
from tests.jobs import sample_jobs  # noqa: F401  (registers the job tests.fail)
from tests.jobs.builders import T0, make_run, make_schedule

pytestmark = pytest.mark.django_db

NOW = T0 + timedelta(minutes=1)


def fail_for_good(owner, *, max_attempts: int = 1) -> JobRun:
    failing = make_run(
        make_schedule("tests.fail", now=T0, owner_id=owner.pk, max_attempts=max_attempts), slot=NOW
    )
    run_queued(failing.pk, worker="test-worker", clock=lambda: NOW)
    failing.refresh_from_db()
    return failing


def test_the_final_failure_is_an_outbox_row_written_with_the_failure(owner):
    failed = fail_for_good(owner)

    notice = Notification.objects.get()
    assert (notice.owner, notice.kind, notice.status, notice.dedup_key) == (
        owner,
        "run_failed",
        "pending",
        f"run:{failed.pk}:failed",
    )
    assert notice.payload["error"] == "RuntimeError: the disk is full"
    assert mail.outbox == []  # the engine sends nothing; the sender does


def test_the_sender_mails_the_owner_the_job_the_attempt_and_the_error(owner):
    fail_for_good(owner)

    outbox.send_due(now=NOW)

    (message,) = mail.outbox
    assert message.to == ["ops@acme.test"]
    assert message.subject == "[Acme] tests.fail failed (attempt 1)"
    assert "RuntimeError: the disk is full" in message.body
    assert "Traceback" not in message.body  # the traceback stays in the admin


def test_a_failure_with_a_retry_to_come_is_not_mailed(owner):
    fail_for_good(owner, max_attempts=2)

    assert not Notification.objects.exists()


def test_the_owner_of_another_tenant_hears_nothing(owner, other_owner):
    fail_for_good(owner)

    outbox.send_due(now=NOW)

    assert [message.to for message in mail.outbox] == [["ops@acme.test"]]
