"""E-mail to an owner's contact address when a run has failed for good (no retry left)."""

import logging

from django.conf import settings
from django.core.mail import send_mail

from jobs.models import JobRun

logger = logging.getLogger(__name__)


def notify_run_failed(run: JobRun) -> bool:
    """Send the failure e-mail for ``run`` to its owner's contact address; False when there is none.

    The message names the job, the slot, the attempt and the error line; the traceback stays in the
    admin, where only the owner's staff can read it.
    """
    recipient = run.owner.contact_email
    if not recipient:
        logger.info("event=failure_not_mailed run=%s reason=no_contact_email owner=%s", run.pk, run.owner_id)
        return False
    status = JobRun.Status(run.status).label.lower()
    subject = f"[{run.owner.name}] {run.job_name} {status} (attempt {run.attempt})"
    body = "\n".join(
        [
            f"The job {run.job_name} {status} for {run.owner.name}.",
            "",
            f"Slot:     {run.slot:%Y-%m-%d %H:%M:%S} UTC",
            f"Attempt:  {run.attempt}",
            f"Run id:   {run.pk}",
            f"Error:    {run.error.splitlines()[0] if run.error else '(none recorded)'}",
            "",
            "No retry is left for this slot. The traceback is on the run's page in the admin.",
        ]
    )
    try:
        send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [recipient])
    except OSError:
        logger.exception("event=failure_mail_failed run=%s", run.pk)
        return False
    logger.info("event=failure_mailed run=%s", run.pk)
    return True
