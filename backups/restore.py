"""Restore a stored backup, streamed from storage into ``pg_restore``, SQLite or the tenant-export loader.

A restore never overwrites the configured live database by accident: a target with the live database's
host, port and name (or SQLite path) is refused unless ``force`` is given.

A full dump holds its own backup row as ``running`` (the dump was taken while it ran), and maybe other
unfinished ones: after restoring it, those rows are marked ``interrupted`` in the target, so the restored
database can be backed up at once and its reaper never deletes objects that belong to the source.
"""

import contextlib
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from django.core.files.storage import Storage
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.utils import load_backend
from django.utils import timezone

from backups.engines import (
    POSTGRES,
    SQLITE,
    TENANT_EXPORT,
    Artifact,
    Database,
    postgres,
    sqlite,
    tenant_export,
)
from backups.errors import InvalidTarget, RestoreFailed, RestoreRefused, VerificationFailed
from backups.models import Backup
from backups.storage import backup_storage, open_object
from backups.streaming import DigestingReader, decompressing_reader, iter_chunks


@dataclass
class RestoreReport:
    """What a restore did: where to, how many stored bytes it read, and per-model counts for exports."""

    engine: str
    target: str
    bytes_read: int
    sha256: str
    row_counts: dict[str, int] = field(default_factory=dict)
    # Backup rows of a full dump that were unfinished when it was taken, now ``interrupted`` in the target.
    interrupted_backups: int = 0


def describe_target(database: Database) -> str:
    """The target for messages and reports: never credentials, and never the live database's location."""
    if database.same_as(Database.live()):
        return "the live database"
    if database.vendor == "sqlite":
        return f"the SQLite file {database.name}"
    return f"database {database.name} on {database.host}:{database.port or 5432}"


def resolve_target(target_db_url: str | None, *, force: bool) -> Database:
    """The target database; ``InvalidTarget`` for a malformed URL, ``RestoreRefused`` for the live one
    without ``force``."""
    live = Database.live()
    try:
        target = Database.from_url(target_db_url) if target_db_url else live
    except ValueError as error:
        raise InvalidTarget(str(error)) from None
    if target.same_as(live) and not force:
        raise RestoreRefused(
            "Refusing to restore over the live database; name another target database, "
            "or force to overwrite it."
        )
    return target


@contextlib.contextmanager
def database_alias(target: Database) -> Iterator[str]:
    """A Django connection alias for ``target``: the default one, or a temporary alias for another one."""
    if target.same_as(Database.live()):
        yield DEFAULT_DB_ALIAS
        return
    alias = f"restore_{uuid.uuid4().hex[:8]}"
    config = {
        "ENGINE": "django.db.backends.postgresql"
        if target.vendor == "postgresql"
        else "django.db.backends.sqlite3",
        "NAME": target.name,
        "USER": target.user,
        "PASSWORD": target.password,
        "HOST": target.host,
        "PORT": str(target.port or ""),
        "OPTIONS": dict(target.options),
    }
    # configure_settings fills Django's defaults (TIME_ZONE, CONN_MAX_AGE, ...) and insists on a default.
    configured = connections.configure_settings(
        {DEFAULT_DB_ALIAS: dict(connections.settings[DEFAULT_DB_ALIAS]), alias: config}
    )[alias]
    # Registered for this thread only, not in DATABASES: nothing else ever sees the alias.
    connections[alias] = load_backend(configured["ENGINE"]).DatabaseWrapper(configured, alias)
    try:
        yield alias
    finally:
        connections[alias].close()
        del connections[alias]


def _check_digest(reader: DigestingReader, artifact: Artifact) -> None:
    reader.drain()
    if (reader.digest.size, reader.digest.sha256) != (artifact.size, artifact.sha256):
        raise VerificationFailed(
            f"The stored object {artifact.storage_key!r} does not match its recorded size and SHA-256."
        )


def restore_backup(
    *,
    artifact: Artifact,
    storage: Storage | None = None,
    target_db_url: str | None = None,
    force: bool = False,
    progress: Callable[[int], None] | None = None,
) -> RestoreReport:
    """Restores ``artifact`` into ``target_db_url`` (default: the live database, which needs ``force``).

    Full PostgreSQL dumps go through ``pg_restore --single-transaction --clean`` (the target database is
    created if missing); SQLite archives are integrity-checked, then copied in with SQLite's backup API;
    tenant exports replace that owner's rows in one transaction and leave other owners untouched.
    ``progress`` receives the number of stored bytes read so far. Raises ``RestoreRefused``,
    ``RestoreFailed``, ``VerificationFailed`` (object differs from its record) or ``StorageUnavailable``.
    """
    target = resolve_target(target_db_url, force=force)
    if artifact.engine == POSTGRES and target.vendor != "postgresql":
        raise RestoreFailed("A PostgreSQL dump can only be restored into a PostgreSQL database.")
    if artifact.engine == SQLITE and target.vendor != "sqlite":
        raise RestoreFailed("A SQLite backup can only be restored into a SQLite database.")
    storage = backup_storage(storage)
    counts: dict[str, int] = {}
    interrupted = 0
    with open_object(artifact.storage_key, storage) as stored:
        reader = DigestingReader(stored, progress)
        chunks = iter_chunks(decompressing_reader(artifact.codec, reader))
        if artifact.engine == POSTGRES:
            postgres.ensure_database(target)
            postgres.restore(chunks, target)
            # pg_restore commits when its archive ends; zstd's frame checksum guards the bytes before that.
            _check_digest(reader, artifact)
            interrupted = interrupt_restored_backups(target)
        elif artifact.engine == SQLITE:
            sqlite.restore(_checked(chunks, reader, artifact), target)
            interrupted = interrupt_restored_backups(target)
        elif artifact.engine == TENANT_EXPORT:
            with database_alias(target) as alias:
                counts = tenant_export.restore(_checked(chunks, reader, artifact), using=alias).counts
        else:
            raise RestoreFailed(f"Unknown backup engine {artifact.engine!r}.")
    return RestoreReport(
        engine=artifact.engine,
        target=describe_target(target),
        bytes_read=reader.digest.size,
        sha256=reader.digest.sha256,
        row_counts=counts,
        interrupted_backups=interrupted,
    )


def interrupt_restored_backups(target: Database) -> int:
    """Mark the backups that were unfinished in a restored full dump ``interrupted``; returns how many."""
    with database_alias(target) as alias:
        return Backup.interrupt_unfinished(
            using=alias,
            now=timezone.now(),
            reason="interrupted: the database was restored from a dump taken before this backup finished",
        )


def _checked(chunks: Iterator[bytes], reader: DigestingReader, artifact: Artifact) -> Iterator[bytes]:
    """``chunks``, then a size/SHA-256 check before the consumer sees the end (and commits)."""
    yield from chunks
    _check_digest(reader, artifact)
