"""What a running job sees (``JobContext``) and what it raises to tell the engine how its run ended.

A job never writes run rows. It returns a summary (the run succeeds), raises any exception (it fails), or
raises one of the engine's own:

    raise RunSkipped("backup #12 of owner 3 is still running", recheck_after=timedelta(hours=1))
    ctx.raise_if_cancelled()        # inside long loops: RunCancelled once someone cancelled the run

``RunCancelled`` and ``RunTimedOut`` are ``BaseException`` subclasses, so a job's own ``except Exception``
cannot swallow them; cleanup in ``finally`` / ``with`` blocks still runs.
"""

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any


class RunSkipped(Exception):
    """Raised by a job that decided to do nothing this time; its run ends ``skipped`` with ``reason``.

    With ``recheck_after``, a run that stands for one of its schedule's slots (trigger ``scheduled``) gets
    one follow-up attempt that much later, unless the schedule's next regular slot comes first. Manual,
    start-up and retry runs never get one. ``result`` is stored as the run's summary.
    """

    def __init__(self, reason: str, *, recheck_after: timedelta | None = None, result: Any = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.recheck_after = recheck_after
        self.result = result


class RunCancelled(BaseException):
    """Raised inside a job whose run was cancelled (by a person, the ``replace`` policy or a shutdown).

    ``ctx.raise_if_cancelled()`` raises it at a point the job chose; a job that never checks gets it
    from the engine one heartbeat after the request. Its run ends ``cancelled``.
    """


class RunTimedOut(BaseException):
    """Raised inside a job that passed its timeout; its run ends ``timed_out``."""


class Cancellation:
    """A run's cancellation signal: requested once (by the engine), read by the job.

    Thread-safe: the engine's watcher thread requests it while the job reads it in its own thread.
    """

    def __init__(self) -> None:
        self._event = threading.Event()
        self._lock = threading.Lock()
        self.reason = ""
        # Set once the job reacted (raise_if_cancelled raised): its cleanup is never interrupted.
        self.heeded = False

    @property
    def requested(self) -> bool:
        return self._event.is_set()

    def request(self, reason: str = "") -> bool:
        """Ask the job to stop; True the first time, False if it was already asked."""
        with self._lock:
            if self._event.is_set():
                return False
            self.reason = reason
            self._event.set()
        return True

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the run is cancelled or ``timeout`` passes; True if it was cancelled."""
        return self._event.wait(timeout)


@dataclass(frozen=True)
class JobContext:
    """What a running job knows about its run."""

    run_id: int
    job_name: str
    owner_id: int
    schedule_id: int | None
    slot: datetime
    attempt: int
    logger: logging.Logger
    # Called by long jobs between steps to prove they are progressing (the engine also beats on its own);
    # cheap: the worker's watch writes the beat on its own connection and notices a cancellation then.
    heartbeat: Callable[[], None] = field(default=lambda: None, repr=False)
    cancellation: Cancellation = field(default_factory=Cancellation, repr=False)

    @property
    def cancelled(self) -> bool:
        """True once the run was cancelled: stop soon, e.g. with ``raise_if_cancelled()``."""
        return self.cancellation.requested

    def raise_if_cancelled(self) -> None:
        """Raise ``RunCancelled`` if the run was cancelled; call it between the steps of a long loop."""
        if self.cancellation.requested:
            self.cancellation.heeded = True
            raise RunCancelled(self.cancellation.reason)
