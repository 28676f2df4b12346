"""PostgreSQL: ``pg_dump -Fc -Z0`` streamed out, ``pg_restore`` streamed in, scratch databases for checks.

pg_dump's own compression is left off (``-Z0``) because the pipeline compresses with multi-threaded zstd,
which is several times faster and smaller. Connection details and the password reach the client tools
only through PG* environment variables; argv holds no secret.
"""

import contextlib
import logging
import os
import subprocess
import threading
import uuid
from collections import deque
from collections.abc import Iterable, Iterator
from shutil import which

import psycopg
from psycopg import sql

from backups.engines import Database
from backups.errors import BackupError, DumpFailed, RestoreFailed, VerificationFailed, scrub
from backups.streaming import CHUNK_SIZE

logger = logging.getLogger(__name__)

STDERR_TAIL_LINES = 20
# Inherited PG* variables could silently point a tool at another server or service file. PGPASSWORD (and
# PGPASSFILE, ~/.pgpass) stay: they are how a password reaches a target named without one, and a password
# we know replaces an inherited one.
_LIBPQ_VARIABLES = ("PGHOST", "PGHOSTADDR", "PGPORT", "PGDATABASE", "PGUSER", "PGSERVICE")


def _binary(tool: str, error: type[BackupError] = DumpFailed) -> str:
    path = which(tool)
    if path is None:
        raise error(f"{tool} is not installed (not found on PATH); install the PostgreSQL client tools.")
    return path


def _child_environment(database: Database) -> dict[str, str]:
    # The child needs PATH, locale and the like from our own environment; libpq settings come only from us.
    environment = {key: value for key, value in os.environ.items() if key not in _LIBPQ_VARIABLES}
    environment.update(database.libpq_environment())
    return environment


class _StderrTail:
    """Collects the last lines a child writes to stderr, on a thread so a chatty child never blocks."""

    def __init__(self, stream) -> None:
        self._lines: deque[bytes] = deque(maxlen=STDERR_TAIL_LINES)
        self._thread = threading.Thread(target=self._collect, args=(stream,), daemon=True)
        self._thread.start()

    def _collect(self, stream) -> None:
        for line in stream:
            self._lines.append(line)

    def text(self, database: Database) -> str:
        self._thread.join(timeout=5)
        raw = b"".join(self._lines).decode("utf-8", "replace").strip()
        return scrub(" ".join(raw.split()), database.secrets())


def _explain(tool: str, returncode: int, stderr: str) -> str:
    if "server version mismatch" in stderr:
        return f"{tool} is older than the PostgreSQL server; install a matching client version ({stderr})"
    if not stderr:
        return f"{tool} exited with code {returncode}"
    return f"{tool} exited with code {returncode}: {stderr[-500:]}"


def _start(
    argv: list[str], database: Database, *, stdin: int, stdout: int
) -> tuple[subprocess.Popen, _StderrTail]:
    """Start a PostgreSQL tool, the database's credentials in its environment (never argv); stderr is kept."""
    child = subprocess.Popen(
        argv, stdin=stdin, stdout=stdout, stderr=subprocess.PIPE, env=_child_environment(database)
    )
    return child, _StderrTail(child.stderr)


def _stop(child: subprocess.Popen) -> None:
    if child.poll() is None:
        child.kill()
    child.wait()


def dump(database: Database, *, chunk_size: int = CHUNK_SIZE) -> Iterator[bytes]:
    """The raw ``pg_dump -Fc -Z0`` archive of ``database`` in chunks.

    The iterator ends normally only after pg_dump exited 0; a non-zero exit raises ``DumpFailed``
    (with pg_dump's stderr tail, secrets scrubbed) instead of ending, and closing the iterator early
    kills the child. So a consumer that commits only after exhausting it never stores half a dump.
    """
    # Looked up now, not on first iteration, so a missing tool fails before any upload starts.
    argv = [_binary("pg_dump"), "--format=custom", "--compress=0", "--no-password"]
    return _dump_stream(argv, database, chunk_size)


def _dump_stream(argv: list[str], database: Database, chunk_size: int) -> Iterator[bytes]:
    child, stderr = _start(argv, database, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE)
    finished = False
    try:
        while chunk := child.stdout.read(chunk_size):
            yield chunk
        returncode = child.wait()
        if returncode != 0:
            raise DumpFailed(_explain("pg_dump", returncode, stderr.text(database)))
        finished = True
    finally:
        if not finished:
            _stop(child)
        child.stdout.close()


def _feed(child: subprocess.Popen, chunks: Iterable[bytes]) -> bool:
    """Writes ``chunks`` to the child's stdin; False if the child stopped reading first."""
    try:
        for chunk in chunks:
            child.stdin.write(chunk)
        child.stdin.close()
    except BrokenPipeError:
        with contextlib.suppress(BrokenPipeError):
            child.stdin.close()
        return False
    return True


def check_archive(chunks: Iterable[bytes], database: Database) -> int:
    """Runs ``pg_restore --list`` on the archive; returns its number of TOC entries.

    pg_restore reads only the table of contents and may exit before the end: the caller keeps reading
    the object to finish its checksum.
    """
    child, stderr = _start(
        [_binary("pg_restore", VerificationFailed), "--list"],
        database,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    listing: list[bytes] = []
    reader = threading.Thread(target=lambda: listing.extend(child.stdout), daemon=True)
    reader.start()
    try:
        _feed(child, chunks)
        returncode = child.wait()
        reader.join()
    finally:
        _stop(child)
    if returncode != 0:
        raise VerificationFailed(_explain("pg_restore --list", returncode, stderr.text(database)))
    entries = [line for line in listing if line.strip() and not line.startswith(b";")]
    if not entries:
        raise VerificationFailed("pg_restore --list found no entries in the archive.")
    return len(entries)


def ensure_database(target: Database) -> bool:
    """Creates ``target`` (empty) on its server if it does not exist; True if it was created."""
    try:
        with psycopg.connect(**target.with_name("postgres").psycopg_kwargs(), autocommit=True) as admin:
            exists = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [target.name]).fetchone()
            if exists:
                return False
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(target.name)))
    except psycopg.Error as error:
        message = scrub(" ".join(str(error).split()), target.secrets())
        raise RestoreFailed(f"Cannot prepare database {target.name}: {message}") from None
    return True


def drop_database(target: Database) -> None:
    """Drops ``target`` if it exists; a failure is logged, not raised (it only ever cleans up)."""
    try:
        with psycopg.connect(**target.with_name("postgres").psycopg_kwargs(), autocommit=True) as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(target.name))
            )
    except psycopg.Error:
        logger.warning("scratch database not dropped", extra={"database": target.name}, exc_info=False)


def scratch_database(source: Database) -> Database:
    """A fresh, empty database on ``source``'s server, for restore checks; drop it with drop_database."""
    scratch = source.with_name(f"backup_check_{uuid.uuid4().hex[:12]}")
    try:
        ensure_database(scratch)
    except RestoreFailed as error:
        raise VerificationFailed(f"No scratch database for the restore check: {error}") from None
    return scratch


def restore(chunks: Iterable[bytes], target: Database, *, clean: bool = True) -> None:
    """Streams a ``pg_dump -Fc`` archive into ``pg_restore`` against ``target``, in one transaction.

    ``clean`` drops the archive's objects first (``--clean --if-exists``), so a restore over an existing
    database replaces them; any error rolls the whole restore back and raises ``RestoreFailed``.
    """
    argv = [
        _binary("pg_restore", RestoreFailed),
        "--no-password",
        "--no-owner",
        "--no-privileges",
        "--exit-on-error",
        "--single-transaction",
        f"--dbname={target.name}",
    ]
    if clean:
        argv += ["--clean", "--if-exists"]
    child, stderr = _start(argv, target, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL)
    try:
        _feed(child, chunks)
        returncode = child.wait()
    finally:
        _stop(child)
    if returncode != 0:
        raise RestoreFailed(_explain("pg_restore", returncode, stderr.text(target)))


def table_row_counts(database: Database) -> dict[str, int]:
    """Exact row counts of every table outside the system schemas, keyed ``schema.table``."""
    counts: dict[str, int] = {}
    try:
        with psycopg.connect(**database.psycopg_kwargs()) as connection:
            tables = connection.execute(
                "SELECT table_schema, table_name FROM information_schema.tables"
                " WHERE table_type = 'BASE TABLE'"
                " AND table_schema NOT IN ('pg_catalog', 'information_schema')"
                " ORDER BY 1, 2"
            ).fetchall()
            for schema, table in tables:
                query = sql.SQL("SELECT count(*) FROM {}.{}").format(
                    sql.Identifier(schema), sql.Identifier(table)
                )
                counts[f"{schema}.{table}"] = connection.execute(query).fetchone()[0]
    except psycopg.Error as error:
        raise VerificationFailed(f"Cannot count rows: {scrub(str(error), database.secrets())}") from None
    return counts
