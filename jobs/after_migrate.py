"""Default and managed schedules right after ``migrate``, the way Django creates permissions and content
types: a ``post_migrate`` receiver of the jobs app calls the same sync the dispatchers run at start-up.

``post_migrate`` is sent once every migration of every app has been applied, so every app's tables exist.
It is also sent after ``flush`` (a test database between transactional tests): then the global owner is
gone with the rest of the rows and there is nothing to attach schedules to, so the receiver does nothing.
"""

import sys

from django.core.management.base import OutputWrapper
from django.db import DEFAULT_DB_ALIAS
from django.utils import timezone

from jobs import health
from jobs.services import sync_default_schedules
from tenants.models import GLOBAL_OWNER_ID, Owner


def create_schedules_after_migrate(
    sender, *, using: str = DEFAULT_DB_ALIAS, verbosity: int = 1, **kwargs
) -> None:
    """Create every registered job's missing default schedule and every owner's managed schedules.

    Skipped when the database is not the default one, when the global owner is missing (a flushed
    database), and when the database was migrated to an older state than this code's (``migrate app 0003``:
    the models would not match the tables).
    """
    if using != DEFAULT_DB_ALIAS or not Owner.objects.filter(pk=GLOBAL_OWNER_ID).exists():
        return
    now = timezone.now()
    if not health.check_migrations(now).ok:
        return
    created = sync_default_schedules(now=now)
    if verbosity >= 1 and created:
        stdout = kwargs.get("stdout") or OutputWrapper(sys.stdout)
        stdout.write(f"  Created {len(created)} default schedule(s) of registered jobs.")
