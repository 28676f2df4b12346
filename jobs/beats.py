"""A heartbeat thread: calls ``beat()`` every few seconds while a block of work runs.

Used for the rows that say a process is alive (``EngineProcess``, a ``Backup`` taken outside a run). The
thread has its own database connection, closed when it stops; a failing beat is logged and tried again at
the next period, so a database blip does not end the work. ``beat()`` returning False (the row says the
work is over, e.g. it was reaped) stops the thread and calls ``on_refused``.
"""

import logging
import threading
from collections.abc import Callable

from django.db import DatabaseError, connection

logger = logging.getLogger(__name__)


class PeriodicBeat:
    """``with PeriodicBeat(beat, every=10, name="..."):`` beats from a daemon thread until the block ends."""

    def __init__(
        self,
        beat: Callable[[], bool],
        *,
        every: float,
        name: str,
        on_refused: Callable[[], None] = lambda: None,
    ) -> None:
        self._beat = beat
        self.every = every
        self.name = name
        self._on_refused = on_refused
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)

    def __enter__(self) -> "PeriodicBeat":
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def _loop(self) -> None:
        try:
            while not self._stop.wait(self.every):
                try:
                    if not self._beat():
                        self._on_refused()
                        return
                except DatabaseError:
                    logger.warning("event=beat_failed beat=%s action=retry", self.name)
                    connection.close()
        finally:
            connection.close()  # this thread's own connection
