"""What every management command of ours shares: a dead or unmigrated database is one plain line, exit 1."""

from django.core.management.base import CommandError
from django.db import DatabaseError


class DatabaseErrorAsCommandError:
    """Mix into a BaseCommand: database errors become ``CommandError`` (one line, exit code 1)."""

    def execute(self, *args, **options):
        try:
            return super().execute(*args, **options)
        except DatabaseError as error:
            reason = (str(error).strip().splitlines() or [type(error).__name__])[0]
            raise CommandError(
                f"Database unavailable or not migrated ({reason}). "
                "Check DATABASE_URL, that the server is up, and run `manage.py migrate`."
            ) from None
