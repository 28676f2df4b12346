"""SQLite (the embedded default): a consistent online copy with ``VACUUM INTO``, streamed out compressed.

Why ``VACUUM INTO`` rather than the backup API: it reads one snapshot inside a single read transaction
(writers in WAL mode carry on), writes a compacted copy without free pages, and works on a read-only
connection. SQLite can only write a database to a file, so the copy needs temporary disk of the size of
the live data (never more): it is created next to the database, unlinked as soon as it is open for
reading (a crash cannot leave it behind once streaming starts) and read once into the pipeline.
"""

import contextlib
import os
import sqlite3
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from backups.engines import Database
from backups.errors import DumpFailed, RestoreFailed, VerificationFailed
from backups.streaming import CHUNK_SIZE

TEMP_PREFIX = ".backup-"


def dump(database: Database, *, chunk_size: int = CHUNK_SIZE) -> Iterator[bytes]:
    """The bytes of a consistent, compacted copy of the SQLite database at ``database.name``."""
    source = Path(database.name)
    if not source.is_file():
        raise DumpFailed(f"The SQLite database {source} does not exist.")
    return _dump_stream(source, chunk_size)


def _dump_stream(source: Path, chunk_size: int) -> Iterator[bytes]:
    handle, temp_name = tempfile.mkstemp(prefix=TEMP_PREFIX, suffix=".sqlite3", dir=source.parent)
    os.close(handle)
    temp = Path(temp_name)
    try:
        connection = sqlite3.connect(f"{source.as_uri()}?mode=ro", uri=True, timeout=30)
        try:
            connection.execute("VACUUM INTO ?", [str(temp)])
        except sqlite3.Error as error:
            raise DumpFailed(f"SQLite could not copy {source.name}: {error}") from None
        finally:
            connection.close()
        copy = temp.open("rb", buffering=0)
    finally:
        temp.unlink(missing_ok=True)
    with copy:
        while chunk := copy.read(chunk_size):
            yield chunk


@contextlib.contextmanager
def materialized(chunks: Iterable[bytes], directory: Path) -> Iterator[Path]:
    """The archive written to a temporary file in ``directory``, removed on exit."""
    directory.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(prefix=TEMP_PREFIX, suffix=".sqlite3", dir=directory)
    path = Path(name)
    try:
        with os.fdopen(handle, "wb") as file:
            for chunk in chunks:
                file.write(chunk)
        yield path
    finally:
        path.unlink(missing_ok=True)


def integrity_problems(path: Path) -> list[str]:
    """``PRAGMA integrity_check`` of the file at ``path``: an empty list means it is sound."""
    try:
        connection = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)
        try:
            rows = connection.execute("PRAGMA integrity_check").fetchall()
        finally:
            connection.close()
    except sqlite3.DatabaseError as error:
        return [str(error)]
    problems = [row[0] for row in rows]
    return [] if problems == ["ok"] else problems


def table_row_counts(path: Path) -> dict[str, int]:
    """Exact row counts of every user table in the SQLite file at ``path``."""
    connection = sqlite3.connect(f"{Path(path).as_uri()}?mode=ro", uri=True, timeout=30)
    try:
        tables = [
            row[0]
            for row in connection.execute(
                "SELECT name FROM sqlite_master"
                " WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name"
            )
        ]
        quoted = {table: '"' + table.replace('"', '""') + '"' for table in tables}
        return {
            table: connection.execute(f"SELECT count(*) FROM {quoted[table]}").fetchone()[0]  # noqa: S608
            for table in tables
        }
    finally:
        connection.close()


def check_archive(path: Path) -> None:
    problems = integrity_problems(path)
    if problems:
        raise VerificationFailed(f"SQLite integrity check failed: {'; '.join(problems[:3])}")


def restore(chunks: Iterable[bytes], target: Database) -> None:
    """Replaces the SQLite database at ``target.name`` with the archive, through SQLite's backup API.

    The archive is checked before anything is touched; the backup API then copies it page by page under
    SQLite's own locking, so open connections to the target see either the old or the new database.
    """
    target_path = Path(target.name)
    with materialized(chunks, target_path.parent) as copy:
        problems = integrity_problems(copy)
        if problems:
            raise RestoreFailed(f"The SQLite archive is damaged: {'; '.join(problems[:3])}")
        source = sqlite3.connect(f"{copy.as_uri()}?mode=ro", uri=True)
        destination = sqlite3.connect(target_path, timeout=30)
        try:
            source.backup(destination)
        except sqlite3.Error as error:
            raise RestoreFailed(f"SQLite could not restore into {target_path}: {error}") from None
        finally:
            destination.close()
            source.close()
