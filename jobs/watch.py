"""The worker-wide watch: one thread per worker process, kept across runs, that looks after the run in hand.

Every JOBS_HEARTBEAT_SECONDS (and soon after each ``ctx.heartbeat()``) it stamps the run's heartbeat with
one conditional UPDATE, on its own connection. That UPDATE also answers whether the run should go on: it
changes no row once someone asked to cancel the run (or the reaper already marked it lost), and the watch
then requests the job's ``Cancellation``. A cooperative job stops at its next ``ctx.raise_if_cancelled()``
(and its cleanup is left to finish); one that does not check is interrupted with ``RunCancelled`` one
heartbeat later. When the qcluster's grace period after SIGTERM is over (``jobs.shutdown``), the watch
cancels the run the same way.

One thread with one database connection per worker process, instead of one per run: a run costs no
thread start and no new connection.
"""

import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from django.conf import settings
from django.db import DatabaseError, connection
from django.utils import timezone

from jobs import shutdown
from jobs.context import Cancellation
from jobs.models import JobRun

logger = logging.getLogger(__name__)

# How often the thread looks at the shutdown state and pending interruptions (beats are less frequent).
TICK_SECONDS = 0.1


@dataclass
class Watched:
    run: JobRun
    cancellation: Cancellation
    interrupt: Callable[[], None]
    last_beat: float = field(default_factory=time.monotonic)
    beat_requested: bool = False
    cancel_seen: float | None = None
    interrupted: bool = False


class RunWatch:
    """The watcher of one worker process; use ``watch()`` to get it."""

    def __init__(self, *, clock: Callable = timezone.now) -> None:
        self.clock = clock
        self._lock = threading.Lock()
        self._current: Watched | None = None
        self._thread = threading.Thread(target=self._loop, name="run-watch", daemon=True)
        self._thread.start()

    @contextmanager
    def watching(
        self, run: JobRun, cancellation: Cancellation, interrupt: Callable[[], None]
    ) -> Iterator[Watched]:
        """Look after ``run`` while the block runs; ``interrupt`` stops a job ignoring its cancellation."""
        watched = Watched(run=run, cancellation=cancellation, interrupt=interrupt)
        with self._lock:
            self._current = watched
        try:
            yield watched
        finally:
            with self._lock:
                self._current = None

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def request_beat(self) -> None:
        """``ctx.heartbeat()``: the job proved it is progressing; the watch beats at its next tick.

        The beat is written on the watch's own connection: the job's may be inside a read-only
        transaction (a tenant export's snapshot) or a long one of its own.
        """
        with self._lock:
            if self._current is not None:
                self._current.beat_requested = True

    def _loop(self) -> None:
        previous = None
        try:
            while True:
                time.sleep(TICK_SECONDS)
                with self._lock:
                    watched = self._current
                try:
                    if watched is not None:
                        self._look_after(watched)
                    elif previous is not None:
                        self._after_run()
                except Exception:
                    # The watch outlives one bad look (a bug, a dead database); without it no run here beats.
                    logger.exception("event=run_watch_failed action=continue")
                previous = watched
        finally:
            connection.close()

    def _after_run(self) -> None:
        # Like the worker after its task: keep the connection only within CONN_MAX_AGE (workers in
        # production set it; with 0 the connection closes after each run).
        if connection.close_at is not None and time.monotonic() >= connection.close_at:
            connection.close()

    def _look_after(self, watched: Watched) -> None:
        every = settings.JOBS_HEARTBEAT_SECONDS
        now = time.monotonic()
        if shutdown.cancelling():
            watched.cancellation.request(shutdown.grace_reason())
        if watched.beat_requested or now - watched.last_beat >= every:
            watched.last_beat, watched.beat_requested = now, False
            if not self._beat(watched.run):
                # Cancellation requested on the row (its reason is stored there), or reaped meanwhile.
                watched.cancellation.request()
        if not watched.cancellation.requested or watched.cancellation.heeded or watched.interrupted:
            return  # nothing asked, or the job is stopping (its cleanup, e.g. an aborted upload, runs)
        if watched.cancel_seen is None:
            watched.cancel_seen = now
            logger.info("event=run_cancel_seen run=%s", watched.run.pk)
        elif now - watched.cancel_seen >= every:
            with self._lock:
                if self._current is watched:
                    logger.warning("event=run_interrupted run=%s reason=cancel_ignored", watched.run.pk)
                    watched.interrupted = True
                    watched.interrupt()

    def _beat(self, run: JobRun) -> bool:
        """Beat; False only when the row says the run is to stop (asked to cancel, or ended elsewhere).

        A row this connection cannot see at all (its runner's transaction has not committed it) is no
        reason to stop the job: only the refused beat of a visible row is.
        """
        try:
            return run.beat(now=self.clock()) or not JobRun.objects.filter(pk=run.pk).exists()
        except DatabaseError:
            logger.warning("event=heartbeat_failed run=%s action=retry", run.pk)
            connection.close()
            return True


_watch: RunWatch | None = None
_watch_pid: int | None = None
_watch_lock = threading.Lock()


def watch() -> RunWatch:
    """This process's watcher, started on first use (a forked worker starts its own: threads do not fork)."""
    global _watch, _watch_pid
    with _watch_lock:
        if _watch is None or _watch_pid != os.getpid() or not _watch.alive:
            _watch, _watch_pid = RunWatch(), os.getpid()
        return _watch
