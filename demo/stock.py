"""Demo stock for `manage.py seed_demo`: items that are fine, low, and low but already alerted."""

from django.db import transaction

from inventory.models import StockItem
from tenants.models import Owner

DEMO_ITEMS = (
    # sku, name, quantity, reorder level
    ("BOLT-M6", "Hex bolt M6 x 30", 1200, 200),
    ("NUT-M6", "Hex nut M6", 35, 200),  # low: the next check opens an alert and e-mails it
    ("WASH-M6", "Washer M6", 0, 150),  # out of stock
    ("GLUE-50", "Threadlocker 50 ml", 12, 10),
    ("TAPE-19", "Insulation tape 19 mm", 4, 25),  # low
)


@transaction.atomic
def seed_stock_demo(owner: Owner) -> int:
    """Create the demo items this owner lacks (existing SKUs are left alone); returns how many were added."""
    existing = set(StockItem.objects.filter(owner=owner).values_list("sku", flat=True))
    new = [
        StockItem(owner=owner, sku=sku, name=name, quantity=quantity, reorder_level=level)
        for sku, name, quantity, level in DEMO_ITEMS
        if sku not in existing
    ]
    StockItem.objects.bulk_create(new)
    return len(new)
