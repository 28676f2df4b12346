"""Structured, greppable log lines on stdout: ``ts=… level=… logger=… msg="…" key=value``."""

import logging
import sys
from datetime import UTC, datetime

# Attributes every LogRecord has; anything else was passed through ``extra=`` and is printed as key=value.
_RECORD_ATTRIBUTES = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}


def _quote(value: object) -> str:
    text = str(value)
    if text and not any(ch in text for ch in ' "=\n'):
        return text
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


class KeyValueFormatter(logging.Formatter):
    """One line per record in logfmt, so ``grep run_id=42`` finds everything about a run."""

    def format(self, record: logging.LogRecord) -> str:
        ts = datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds")
        fields = {
            "ts": ts.replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        fields.update((key, value) for key, value in vars(record).items() if key not in _RECORD_ATTRIBUTES)
        if record.exc_info:
            fields["exc"] = self.formatException(record.exc_info)
        return " ".join(f"{key}={_quote(value)}" for key, value in fields.items())


class RequestFields(logging.Filter):
    """Django's request records as ``status_code=403 path=/admin/… user_id=7``, refusals without traceback.

    Django attaches the request object (its repr says little) and, for a 403 or 404 raised as an
    exception, that exception with its traceback. A refusal or a missing page is an answer, not a fault:
    one line is enough, and a traceback per probe would bury real errors. 5xx keep their traceback.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        request = getattr(record, "request", None)
        if request is not None and hasattr(request, "path"):
            record.path = request.path
            user = getattr(request, "user", None)  # absent when the failure came before authentication
            record.user_id = user.pk if user is not None and user.is_authenticated else "-"
            del record.request
        status = getattr(record, "status_code", None)
        if isinstance(status, int) and status < 500:
            record.exc_info = None
            record.exc_text = None
        return True


class StdoutHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stdout`` is at the time, not the one seen at start-up.

    Test runners and daemonising tools swap ``sys.stdout``; a handler that kept the old one would write to a
    closed file.
    """

    def __init__(self) -> None:
        super().__init__(sys.stdout)

    @property
    def stream(self):
        return sys.stdout

    @stream.setter
    def stream(self, value) -> None:
        pass
