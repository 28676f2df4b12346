"""Waking sleeping dispatchers early when schedules or runs change.

On PostgreSQL a change sends ``NOTIFY jobs_wakeup`` and every dispatcher LISTENs on its own connection, so
an edited schedule is live within milliseconds in every process. SQLite has no such channel: the
dispatcher's sleep is cut into short polls of an indexed query instead.
"""

import logging
import threading
import time
from datetime import datetime

import psycopg
from django.db import DEFAULT_DB_ALIAS, connections

logger = logging.getLogger(__name__)

CHANNEL = "jobs_wakeup"
# The longest a dispatcher sleeps before it looks at the schedules and waiting runs again, woken or not:
# work due later than this needs no wake-up (it bounds how soon SIGTERM and JOBS_ENABLED are noticed too).
LOOK_AGAIN_SECONDS = 1.0
# How long a dispatcher on SQLite (no LISTEN/NOTIFY) sleeps at most before looking again.
SQLITE_POLL_SECONDS = 0.5

# Wakes dispatchers running in this very process (tests, `jobs dispatch` next to the admin).
_local_wakeup = threading.Event()


def needs_wake_up(due_at: datetime, *, now: datetime) -> bool:
    """Whether work due at ``due_at`` would be late unless the dispatchers are woken for it now."""
    return (due_at - now).total_seconds() < LOOK_AGAIN_SECONDS


def wake_dispatchers(using: str = DEFAULT_DB_ALIAS) -> None:
    """Tell every dispatcher to look at the schedules again now."""
    _local_wakeup.set()
    connection = connections[using]
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_notify(%s, '')", [CHANNEL])


class WakeupListener:
    """Blocks until woken or until a timeout, whichever comes first."""

    def __init__(self, using: str = DEFAULT_DB_ALIAS) -> None:
        self.using = using
        self._connection: psycopg.Connection | None = None

    @property
    def listens(self) -> bool:
        return connections[self.using].vendor == "postgresql"

    def wait(self, timeout: float) -> bool:
        """Sleep up to ``timeout`` seconds; True when woken by a change."""
        timeout = max(timeout, 0.0)
        if _local_wakeup.is_set():
            _local_wakeup.clear()
            return True
        if not self.listens:
            woken = _local_wakeup.wait(min(timeout, SQLITE_POLL_SECONDS))
            _local_wakeup.clear()
            return woken
        try:
            connection = self._connect()
            woken = False
            for _notice in connection.notifies(timeout=timeout, stop_after=1):
                woken = True
            # Several changes in a burst need one look, not one each.
            for _notice in connection.notifies(timeout=0.0):
                pass
            return woken
        except psycopg.Error:
            logger.warning("event=wakeup_listener_lost action=reconnect")
            self.close()
            time.sleep(min(timeout, 1.0))
            return True

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def _connect(self) -> psycopg.Connection:
        if self._connection is None or self._connection.closed:
            params = connections[self.using].get_connection_params()
            for django_only in ("cursor_factory", "context", "prepare_threshold", "server_side_binding"):
                params.pop(django_only, None)
            self._connection = psycopg.connect(**params, autocommit=True)
            self._connection.execute(f"LISTEN {CHANNEL}")
        return self._connection
