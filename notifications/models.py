from datetime import datetime

from django.db import models
from django.db.models import Q
from django.utils import timezone

from tenants.models import Owner


class Notification(models.Model):
    """One message to an owner, recorded before it is sent (an outbox row).

    Every e-mail to an owner is one of these: a run that failed for good, missed runs, and the domain
    notices. ``(owner, dedup_key)`` is unique, so the database, not a Python check, makes each notification
    exist at most once however many runs race to create it. Sending claims the row first
    (pending → sending), so a row is handed to the e-mail backend at most once too; a failed send puts it
    back to pending with ``retry_after`` later each time, until ``attempts`` run out (failed).
    """

    class Kind(models.TextChoices):
        RUN_FAILED = "run_failed", "Run failed (no retry left)"
        MISSED_RUNS = "missed_runs", "Missed runs"
        LOW_STOCK_DIGEST = "low_stock_digest", "Low-stock digest"
        TRIAL_REMINDER = "trial_reminder", "Trial ends soon"
        TRIAL_EXPIRED = "trial_expired", "Trial expired"
        SUBSCRIPTION_PAST_DUE = "subscription_past_due", "Subscription past due"
        INVOICE_OVERDUE = "invoice_overdue", "Invoice overdue"
        INVOICE_REMINDER = "invoice_reminder", "Invoice payment reminder"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENDING = "sending", "Sending"  # claimed; stays here if the sender died mid-send (never resent)
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"
        SKIPPED = "skipped", "Skipped (no contact e-mail)"

    owner = models.ForeignKey(Owner, on_delete=models.CASCADE, related_name="notifications")
    kind = models.CharField(max_length=30, choices=Kind.choices)
    dedup_key = models.CharField(max_length=200)
    payload = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    recipient = models.EmailField(blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.TextField(blank=True)
    # Set by the sender that claimed the row, so it can find exactly the rows it claimed.
    claim_token = models.CharField(max_length=32, blank=True)
    # Empty until a send failed; then the sender leaves the row alone until this time (the backoff).
    retry_after = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["owner", "dedup_key"], name="notification_unique_owner_dedup_key")
        ]
        indexes = [
            # The sender's question: the unsent rows, oldest first.
            models.Index(fields=["id"], name="notification_pending_idx", condition=Q(status="pending")),
            models.Index(
                fields=["claim_token"], name="notification_claim_idx", condition=Q(status="sending")
            ),
            models.Index(fields=["status", "-created_at"], name="notification_status_idx"),
            models.Index(fields=["kind", "-created_at"], name="notification_kind_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} for {self.owner_id} ({self.status})"

    def mark_sent(self, *, recipient: str, now: datetime) -> bool:
        """The claimed row was handed to the e-mail backend."""
        return self._finish_claim(status=self.Status.SENT, sent_at=now, recipient=recipient, last_error="")

    def mark_skipped(self, reason: str) -> bool:
        """The claimed row cannot be sent (no contact address); it is not retried."""
        return self._finish_claim(status=self.Status.SKIPPED, last_error=reason)

    def mark_send_failed(self, error: str, *, retry_after: datetime | None) -> bool:
        """The claimed row's send failed: pending again from ``retry_after``, or failed when that is None."""
        if retry_after is None:
            return self._finish_claim(status=self.Status.FAILED, last_error=error[:1000])
        return self._finish_claim(
            status=self.Status.PENDING, retry_after=retry_after, last_error=error[:1000]
        )

    def _finish_claim(self, **fields) -> bool:
        # Conditional on this sender's claim: an operator's requeue in between wins, nothing is overwritten.
        changed = Notification.objects.filter(
            pk=self.pk, status=self.Status.SENDING, claim_token=self.claim_token
        ).update(**fields)
        if changed:
            for name, value in fields.items():
                setattr(self, name, value)
        return bool(changed)
