"""``manage.py backup now|list|verify|restore|prune|sync-schedules``: a thin shell over backups.services.

Every failure a user can act on (missing bucket, refused credentials, pg_dump missing or too old, a live
database without --force) ends as one plain line on stderr and exit code 1.
"""

import json
import time
from collections.abc import Callable

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.template.defaultfilters import filesizeformat
from django.utils import timezone

from backups import services
from backups.engines import Database
from backups.errors import BackupError
from backups.models import Backup
from backups.retention import apply_retention
from backups.schedules import request_backup_run, sync_all_backup_schedules
from config.commands import DatabaseErrorAsCommandError
from tenants.lookup import OwnerNotFound, find_owner
from tenants.models import GLOBAL_OWNER_ID, Owner

LIST_LIMIT = 50


class Command(DatabaseErrorAsCommandError, BaseCommand):
    help = "Take, list, verify, restore and prune backups."
    # System checks belong to deploys (`check --deploy`, `migrate`); run from cron or by hand, this command
    # skips them: ~0.15 s and ~5 MiB less at every start (they import every URL and view).
    requires_system_checks = []

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")

        now = actions.add_parser("now", help="Back up one owner (default: the whole database, owner 0).")
        now.add_argument(
            "--owner", default=str(GLOBAL_OWNER_ID), help="Owner id or slug (0 = full database)."
        )
        now.add_argument("--wait", action="store_true", help="Run here and wait, instead of queueing a run.")
        now.add_argument("--codec", choices=("zstd", "gzip", "none"), default=services.DEFAULT_CODEC)

        listing = actions.add_parser("list", help=f"Show the newest {LIST_LIMIT} backups.")
        listing.add_argument("--owner", help="Only this owner's backups (id or slug).")
        listing.add_argument("--json", action="store_true", help="One JSON document instead of a table.")

        verify = actions.add_parser(
            "verify", help="Re-read a backup and check its size, checksum and archive."
        )
        verify.add_argument("backup_id", type=int)
        verify.add_argument("--restore", action="store_true", help="Also restore into a scratch database.")

        restore = actions.add_parser(
            "restore",
            help="Restore a backup into a database (default target: RESTORE_TARGET_DATABASE_URL).",
        )
        restore.add_argument("backup_id", type=int)
        restore.add_argument(
            "--target-db",
            metavar="URL",
            help="postgres://user@host:5432/name or sqlite:////path, without a password (the process list "
            "shows arguments): the PostgreSQL tools read it from PGPASSWORD or ~/.pgpass.",
        )
        restore.add_argument("--force", action="store_true", help="Allow overwriting the live database.")

        prune = actions.add_parser("prune", help="Apply the retention settings.")
        prune.add_argument("--owner", help="Only this owner, by id or slug (default: every owner).")
        prune.add_argument(
            "--dry-run", action="store_true", help="Show what would be pruned; change nothing."
        )

        actions.add_parser(
            "sync-schedules", help="Re-derive every owner's backup schedule from its settings."
        )

    def handle(self, *args, action: str, **options) -> None:
        handler = {
            "now": self.backup_now,
            "list": self.list_backups,
            "verify": self.verify,
            "restore": self.restore,
            "prune": self.prune,
            "sync-schedules": self.sync_schedules,
        }[action]
        try:
            handler(**options)
        except BackupError as error:
            raise CommandError(str(error)) from None

    # --- actions --------------------------------------------------------------------------------------

    def backup_now(self, *, owner: str, wait: bool, codec: str, **options) -> None:
        owner = self._owner(owner).pk
        if not wait:
            self._queue_run(owner)
            return
        outcome = services.take_backup(owner_id=owner, codec=codec, progress=self._progress("dumped"))
        self._end_progress()
        if outcome.skipped:
            raise CommandError(f"Nothing done: {outcome.reason}.")
        backup = outcome.backup
        self.stdout.write(
            f"Backup #{backup.pk} of owner {owner} {backup.status}: {filesizeformat(backup.size)} "
            f"in {backup.duration.total_seconds():.1f} s, sha256 {backup.sha256}"
        )
        if outcome.retention is not None and outcome.retention.pruned:
            self.stdout.write(f"Pruned {len(outcome.retention.pruned)} old backup(s).")
        for warning in outcome.warnings:
            self.stderr.write(f"warning: {warning}")

    def list_backups(self, *, owner: int | None, **options) -> None:
        backups = Backup.objects.order_by("-started_at", "-pk")
        if owner is not None:
            backups = backups.filter(owner_id=self._owner(owner).pk)
        rows = [_as_dict(backup) for backup in backups[:LIST_LIMIT]]
        if options["json"]:
            self.stdout.write(json.dumps(rows, indent=2))
            return
        if not rows:
            self.stdout.write("No backups.")
            return
        self.stdout.write(
            f"{'ID':>6}  {'OWNER':>5}  {'STATUS':<9}  {'STARTED (UTC)':<19}  {'SIZE':>10}  SHA-256"
        )
        for row in rows:
            size = filesizeformat(row["size"]) if row["size"] is not None else "-"
            self.stdout.write(
                f"{row['id']:>6}  {row['owner_id']:>5}  {row['status']:<9}  {row['started_at'][:19]:<19}  "
                f"{size:>10}  {row['sha256'][:16] or '-'}"
            )

    def verify(self, *, backup_id: int, restore: bool, **options) -> None:
        backup = self._backup(backup_id)
        report = services.verify_recorded_backup(backup, restore=restore)
        self.stdout.write(f"Backup #{backup.pk} verified.")
        for check in getattr(report, "checks", []):
            self.stdout.write(f"  {check}")

    def restore(self, *, backup_id: int, target_db: str | None, force: bool, **options) -> None:
        target_db = self._restore_target(target_db)
        backup = self._backup(backup_id)
        report = services.restore_recorded_backup(
            backup, target_db_url=target_db, force=force, progress=self._progress("restored")
        )
        self._end_progress()
        self.stdout.write(f"Backup #{backup.pk} {services.describe_restore(report)}.")

    def prune(self, *, owner: str | None, dry_run: bool, **options) -> None:
        owners = [self._owner(owner)] if owner is not None else list(Owner.objects.order_by("pk"))
        failures = []
        for each in owners:
            if not dry_run:
                services.reap_abandoned_backups(owner_id=each.pk)
            result = apply_retention(owner_id=each.pk, dry_run=dry_run)
            verb = "would prune" if dry_run else "pruned"
            self.stdout.write(
                f"Owner {each.pk} ({result.policy}): keep {len(result.kept)}, {verb} {len(result.pruned)}"
                + (f" {_ids(result.pruned)}" if result.pruned else "")
                + (
                    f", failed backups' leftovers {len(result.failed_objects_deleted)}"
                    if result.failed_objects_deleted
                    else ""
                )
            )
            failures.extend(result.errors)
        if failures:
            raise CommandError(f"{len(failures)} object(s) could not be deleted; first: {failures[0]}")

    def sync_schedules(self, **options) -> None:
        count = sync_all_backup_schedules()
        self.stdout.write(f"Backup schedules in sync for {count} owner(s).")

    # --- helpers --------------------------------------------------------------------------------------

    def _restore_target(self, target_db: str | None) -> str:
        """The target URL from ``--target-db`` (never with a password) or RESTORE_TARGET_DATABASE_URL."""
        if target_db is None:
            if not settings.RESTORE_TARGET_DATABASE_URL:
                raise CommandError(
                    "Name the target: --target-db postgres://user@host:5432/name (password in PGPASSWORD "
                    "or ~/.pgpass), or set RESTORE_TARGET_DATABASE_URL."
                )
            return settings.RESTORE_TARGET_DATABASE_URL
        try:
            password = Database.from_url(target_db).password
        except ValueError as invalid:
            raise CommandError(str(invalid)) from None
        if password:
            raise CommandError(
                "--target-db holds a password, which anyone on this machine can read in the process list; "
                "leave it out and set PGPASSWORD or use ~/.pgpass, or set RESTORE_TARGET_DATABASE_URL."
            )
        return target_db

    def _queue_run(self, owner_id: int) -> None:
        run = request_backup_run(owner_id=owner_id, now=timezone.now())
        self.stdout.write(
            f"Queued backup run #{run.pk} for owner {owner_id}; a worker (manage.py qcluster) will take it."
        )

    def _owner(self, reference: str | int) -> Owner:
        try:
            return find_owner(reference)
        except OwnerNotFound as missing:
            raise CommandError(str(missing)) from None

    def _backup(self, backup_id: int) -> Backup:
        try:
            return Backup.objects.get(pk=backup_id)
        except Backup.DoesNotExist:
            raise CommandError(f"There is no backup {backup_id}.") from None

    def _progress(self, verb: str) -> Callable[[int], None] | None:
        """A bytes/rate line rewritten in place, only when stdout is a terminal (never in logs or pipes)."""
        if not self.stdout.isatty():
            self._progress_shown = False
            return None
        started = time.monotonic()
        last_shown: float | None = None
        self._progress_shown = True

        def show(done: int) -> None:
            nonlocal last_shown
            elapsed = time.monotonic() - started
            if last_shown is not None and elapsed - last_shown < 0.25:
                return  # a few updates a second are readable; one per chunk would flood the terminal
            last_shown = elapsed
            rate = done / elapsed if elapsed else 0
            self.stdout.write(f"\r{verb} {filesizeformat(done)} at {filesizeformat(rate)}/s   ", ending="")
            self.stdout.flush()

        return show

    def _end_progress(self) -> None:
        if getattr(self, "_progress_shown", False):
            self.stdout.write("")


def _as_dict(backup: Backup) -> dict:
    return {
        "id": backup.pk,
        "owner_id": backup.owner_id,
        "scope": backup.scope,
        "status": backup.status,
        "started_at": backup.started_at.isoformat(),
        "finished_at": backup.finished_at.isoformat() if backup.finished_at else None,
        "duration_seconds": backup.duration.total_seconds() if backup.duration else None,
        "size": backup.size,
        "sha256": backup.sha256,
        "engine": backup.engine,
        "codec": backup.codec,
        "format": backup.format,
        "storage_key": backup.storage_key,
        "error": backup.error,
    }


def _ids(ids: list[int]) -> str:
    shown = ", ".join(f"#{pk}" for pk in ids[:10])
    return f"({shown}{', …' if len(ids) > 10 else ''})"
