from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

from tenants.models import Owner


class Subscription(models.Model):
    """An owner's subscription to a plan: trial → active → past_due, or trial → expired, or cancelled."""

    class Status(models.TextChoices):
        TRIAL = "trial", "Trial"
        ACTIVE = "active", "Active"
        PAST_DUE = "past_due", "Past due"
        EXPIRED = "expired", "Expired"
        CANCELLED = "cancelled", "Cancelled"

    owner = models.ForeignKey(Owner, on_delete=models.CASCADE, related_name="subscriptions")
    plan = models.CharField(max_length=50, help_text="Plan name, e.g. starter or business.")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.TRIAL)
    trial_ends_at = models.DateTimeField(null=True, blank=True)
    current_period_end = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=~Q(status="trial") | Q(trial_ends_at__isnull=False),
                name="subscription_trial_has_end",
            ),
        ]
        indexes = [
            models.Index(fields=["owner", "status"], name="subscription_owner_status_idx"),
            models.Index(fields=["status", "plan"], name="subscription_status_plan_idx"),
            # The hourly job's questions: trials ending soon, active periods that ended.
            models.Index(
                fields=["owner", "trial_ends_at"], name="subscription_trial_idx", condition=Q(status="trial")
            ),
            models.Index(
                fields=["owner", "current_period_end"],
                name="subscription_active_idx",
                condition=Q(status="active"),
            ),
        ]
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.plan} ({self.get_status_display()})"

    def clean(self) -> None:
        if self.status == self.Status.TRIAL and self.trial_ends_at is None:
            raise ValidationError({"trial_ends_at": "A trial needs the time it ends."})


class Invoice(models.Model):
    """A bill to an owner; unpaid after its due date it is overdue, then reminded once."""

    class Dunning(models.IntegerChoices):
        NONE = 0, "Not overdue"
        OVERDUE = 1, "Overdue alert sent"
        REMINDED = 2, "Payment reminder sent"

    owner = models.ForeignKey(Owner, on_delete=models.CASCADE, related_name="invoices")
    subscription = models.ForeignKey(
        Subscription, on_delete=models.SET_NULL, null=True, blank=True, related_name="invoices"
    )
    number = models.CharField(max_length=40)
    amount = models.DecimalField(max_digits=12, decimal_places=2, validators=[MinValueValidator(0)])
    currency = models.CharField(max_length=3, default="EUR", help_text="ISO 4217 code, e.g. EUR.")
    due_date = models.DateField()
    paid_at = models.DateTimeField(null=True, blank=True)
    # How far the overdue notices have gone; moved forward only by a conditional UPDATE.
    dunning = models.PositiveSmallIntegerField(choices=Dunning.choices, default=Dunning.NONE)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["owner", "number"], name="invoice_unique_owner_number"),
            models.CheckConstraint(condition=Q(amount__gte=0), name="invoice_amount_not_negative"),
        ]
        indexes = [
            # Unpaid invoices still owed a notice: the only rows the hourly job reads.
            models.Index(
                fields=["owner", "due_date"],
                name="invoice_dunning_idx",
                condition=Q(paid_at__isnull=True, dunning__lt=2),
            ),
            models.Index(fields=["owner", "-due_date"], name="invoice_owner_due_idx"),
            models.Index(fields=["-due_date"], name="invoice_due_idx"),
        ]
        ordering = ["-due_date"]

    def __str__(self) -> str:
        return f"{self.number} {self.amount} {self.currency}"

    def clean(self) -> None:
        if self.currency:
            self.currency = self.currency.upper()
        if self.subscription_id and self.owner_id and self.subscription.owner_id != self.owner_id:
            raise ValidationError({"subscription": "The subscription belongs to another owner."})
