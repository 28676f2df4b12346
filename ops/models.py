from django.db import models

from jobs.models import JobRun, Schedule
from tenants.models import Owner


class MissedRunAlert(models.Model):
    """A schedule's expected run that did not start within its grace period, reported once.

    The unique (schedule, expected_at) pair is what makes "once" hold even when two checkers race:
    the second insert conflicts and sends nothing.
    """

    class Kind(models.TextChoices):
        NOT_DISPATCHED = "not_dispatched", "Not dispatched (no run was created for the slot)"
        NOT_STARTED = "not_started", "Not started (the run waited in the queue)"

    schedule = models.ForeignKey(Schedule, on_delete=models.CASCADE, related_name="missed_run_alerts")
    owner = models.ForeignKey(Owner, on_delete=models.CASCADE, related_name="missed_run_alerts")
    run = models.ForeignKey(JobRun, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    job_name = models.CharField(max_length=200)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    expected_at = models.DateTimeField(help_text="The slot that should have started (UTC).")
    detected_at = models.DateTimeField()
    # Set when the alert was handed to the owner's outbox (notifications), in the same transaction;
    # reported_to is the contact address at that time (blank: none, the outbox skips the message).
    reported_at = models.DateTimeField(null=True, blank=True)
    reported_to = models.EmailField(blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["schedule", "expected_at"], name="missedrunalert_unique_slot"),
        ]
        indexes = [
            models.Index(fields=["owner", "-detected_at"], name="missedrunalert_owner_idx"),
            models.Index(
                fields=["expected_at"],
                name="missedrunalert_pending_idx",
                condition=models.Q(reported_at__isnull=True),
            ),
        ]
        ordering = ["-detected_at"]

    def __str__(self) -> str:
        return f"{self.job_name} missed {self.expected_at:%Y-%m-%d %H:%M} UTC ({self.get_kind_display()})"
