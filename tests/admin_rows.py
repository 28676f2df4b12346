"""One row of every owner-scoped admin's model for an owner, with the owner's name in its text fields.

The access tests and the browser walk use these: a row of another owner that leaks into a page shows that
owner's name there. A newly registered owner-scoped admin needs its builder here (a test says so).
"""

from datetime import date, timedelta
from decimal import Decimal

from django.db.models import Model
from django.utils import timezone

from billing.models import Invoice, Subscription
from inventory.models import LowStockAlert, StockItem
from jobs.models import JobRun, Schedule, TriggerKind
from notifications.models import Notification
from ops.models import MissedRunAlert
from tenants.models import Owner
from tests.backups.builders import make_backup


def make_admin_rows(owner: Owner) -> dict[str, Model]:
    """``{"app.model": row}`` for every owner-scoped admin, all belonging to ``owner``."""
    now = timezone.now()
    name = owner.name
    schedule = Schedule(
        job_name="alerts.low_stock",
        owner=owner,
        key=f"{owner.slug}-report",
        label=f"{name} nightly report",
        trigger_kind=TriggerKind.CRON,
        cron_expression="0 3 * * *",
    )
    schedule.save(now=now)
    run = JobRun.objects.create(
        schedule=schedule,
        owner=owner,
        job_name=schedule.job_name,
        slot=now - timedelta(hours=1),
        due_at=now - timedelta(hours=1),
        status=JobRun.Status.SUCCEEDED,
    )
    item = StockItem.objects.create(owner=owner, sku=f"{owner.slug}-sku", name=f"{name} widget", quantity=1)
    notification = Notification.objects.create(
        owner=owner,
        kind=Notification.Kind.LOW_STOCK_DIGEST,
        dedup_key=f"{owner.slug}-digest",
        recipient=f"ops@{owner.slug}.test",
        status=Notification.Status.FAILED,
        last_error=f"mailbox of {name} full",
    )
    subscription = Subscription.objects.create(owner=owner, plan=f"{owner.slug}-plan", trial_ends_at=now)
    return {
        "tenants.owner": owner,
        "jobs.schedule": schedule,
        "jobs.jobrun": run,
        "backups.backup": make_backup(owner, content=f"backup of {name}".encode()),
        "ops.missedrunalert": MissedRunAlert.objects.create(
            schedule=schedule,
            owner=owner,
            run=run,
            job_name=schedule.job_name,
            kind=MissedRunAlert.Kind.NOT_STARTED,
            expected_at=now - timedelta(hours=2),
            detected_at=now,
        ),
        "inventory.stockitem": item,
        "inventory.lowstockalert": LowStockAlert.objects.create(
            owner=owner, item=item, quantity=1, reorder_level=5, notification=notification
        ),
        "billing.subscription": subscription,
        "billing.invoice": Invoice.objects.create(
            owner=owner,
            subscription=subscription,
            number=f"{owner.slug}-INV-1",
            amount=Decimal("10.00"),
            due_date=date(2026, 1, 31),
        ),
        "notifications.notification": notification,
    }
