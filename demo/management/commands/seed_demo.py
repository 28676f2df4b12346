from django.conf import settings
from django.core.management.base import BaseCommand

from config.commands import DatabaseErrorAsCommandError
from demo.billing import seed_billing_demo
from demo.credentials import write_credentials
from demo.owners import seed_owners, seed_users
from demo.stock import seed_stock_demo


class Command(DatabaseErrorAsCommandError, BaseCommand):
    help = "Create demo owners, settings, users and domain data. Idempotent: existing rows are left alone."

    def handle(self, *args, **options) -> None:
        owners = seed_owners()
        admin = seed_users(owners, admin_password=settings.DEMO_ADMIN_PASSWORD)
        items = sum(seed_stock_demo(owner) for owner in owners)
        billing_rows = sum(seed_billing_demo(owner) for owner in owners)
        self.stdout.write(f"Demo owners: {', '.join(owner.slug for owner in owners)}.")
        self.stdout.write(f"Added {items} stock items and {billing_rows} subscriptions/invoices.")
        if admin.password is None:
            self.stdout.write("Superuser 'admin' already exists; its password is unchanged.")
        elif settings.DEMO_ADMIN_PASSWORD:
            self.stdout.write("Superuser 'admin' created with the password from DEMO_ADMIN_PASSWORD.")
        else:
            path = write_credentials(admin.username, admin.password)
            self.stdout.write(f"Superuser 'admin' created; its generated password is in {path} (yours only).")
