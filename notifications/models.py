from django.db import models
from django.db.models import Q
from django.utils import timezone

from tenants.models import Owner


class Notification(models.Model):
    """One message to an owner, recorded before it is sent (an outbox row).

    ``(owner, dedup_key)`` is unique, so the database, not a Python check, makes each notification exist at
    most once however many runs race to create it. Sending claims the row first (pending → sending), so a
    row is handed to the e-mail backend at most once too.
    """

    class Kind(models.TextChoices):
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
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["owner", "dedup_key"], name="notification_unique_owner_dedup_key")
        ]
        indexes = [
            # The sender's question: this owner's unsent rows.
            models.Index(
                fields=["owner", "id"], name="notification_pending_idx", condition=Q(status="pending")
            ),
            models.Index(
                fields=["claim_token"], name="notification_claim_idx", condition=Q(status="sending")
            ),
            models.Index(fields=["status", "-created_at"], name="notification_status_idx"),
            models.Index(fields=["kind", "-created_at"], name="notification_kind_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} for {self.owner_id} ({self.status})"
