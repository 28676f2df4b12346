from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from tenants.models import Owner


class StockItem(models.Model):
    """A product an owner keeps in stock; it is low while its quantity is below its reorder level."""

    owner = models.ForeignKey(Owner, on_delete=models.CASCADE, related_name="stock_items")
    sku = models.CharField("SKU", max_length=64)
    name = models.CharField(max_length=200)
    quantity = models.IntegerField(default=0)
    reorder_level = models.PositiveIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["owner", "sku"], name="stockitem_unique_owner_sku")]
        indexes = [
            # The low-stock check reads only low items, by owner, in id order: a small partial index.
            models.Index(
                fields=["owner", "id"],
                name="stockitem_low_idx",
                condition=Q(quantity__lt=F("reorder_level")),
            ),
        ]
        ordering = ["sku"]

    def __str__(self) -> str:
        return f"{self.sku} {self.name}"

    @property
    def is_low(self) -> bool:
        return self.quantity < self.reorder_level


class LowStockAlert(models.Model):
    """An item was found below its reorder level; open until a check finds it recovered."""

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        RESOLVED = "resolved", "Resolved"

    owner = models.ForeignKey(Owner, on_delete=models.CASCADE, related_name="low_stock_alerts")
    item = models.ForeignKey(StockItem, on_delete=models.CASCADE, related_name="low_stock_alerts")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    quantity = models.IntegerField(help_text="Quantity when the alert opened.")
    reorder_level = models.PositiveIntegerField(help_text="Reorder level when the alert opened.")
    opened_at = models.DateTimeField(default=timezone.now)
    resolved_at = models.DateTimeField(null=True, blank=True)
    # The digest that announced this alert; null while not yet announced.
    notification = models.ForeignKey(
        "notifications.Notification",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="low_stock_alerts",
    )

    class Meta:
        constraints = [
            # One open alert per item, however many checks run at once.
            models.UniqueConstraint(
                fields=["item"], condition=Q(status="open"), name="lowstockalert_one_open"
            ),
            models.CheckConstraint(
                condition=Q(status="open", resolved_at__isnull=True)
                | Q(status="resolved", resolved_at__isnull=False),
                name="lowstockalert_resolved_has_time",
            ),
        ]
        indexes = [
            models.Index(fields=["owner", "status", "-opened_at"], name="lowstockalert_owner_status_idx"),
            models.Index(fields=["status", "-opened_at"], name="lowstockalert_status_idx"),
            # Open alerts not yet in a digest: what the next digest claims.
            models.Index(
                fields=["owner", "id"],
                name="lowstockalert_unannounced_idx",
                condition=Q(status="open", notification__isnull=True),
            ),
        ]
        ordering = ["-opened_at"]

    def __str__(self) -> str:
        return f"Low stock: {self.item_id} ({self.status})"

    def clean(self) -> None:
        if self.item_id and self.owner_id and self.item.owner_id != self.owner_id:
            raise ValidationError({"item": "The item belongs to another owner."})
