"""Errors the backup engines raise. Each message is one plain line a user can act on, free of secrets."""

import re

# libpq connection strings and URLs carry passwords in these shapes; they never leave this package.
_SECRET_PATTERNS = (
    re.compile(r"(?i)(password\s*=\s*)('[^']*'|\S+)"),
    re.compile(r"(?i)(://[^:/@\s]*:)([^@\s]*)(@)"),
    re.compile(r"(?i)(PGPASSWORD\s*=\s*)(\S+)"),
)


def scrub(text: str, secrets: tuple[str, ...] = ()) -> str:
    """``text`` with every known secret and every password-looking fragment replaced by ``***``."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    for pattern in _SECRET_PATTERNS:
        text = pattern.sub(
            lambda match: match.group(1) + "***" + (match.group(3) if match.lastindex == 3 else ""), text
        )
    return text


class BackupError(Exception):
    """Base class: a backup, verification or restore that could not be done, with the reason in one line."""


class StorageUnavailable(BackupError):
    """The storage cannot be used: missing bucket, bad credentials, unreachable endpoint, unwritable path."""


class ObjectMissing(StorageUnavailable):
    """The storage answers, but the backup object is not there (deleted, pruned or never completed)."""


class DumpFailed(BackupError):
    """The database dump did not complete: tool missing, version mismatch, or a non-zero exit."""


class VerificationFailed(BackupError):
    """A stored backup does not match what was recorded, or its archive is damaged."""


class RestoreFailed(BackupError):
    """A restore started but could not complete; the target is left as the tool left it (or rolled back)."""


class RestoreRefused(BackupError):
    """The restore would overwrite the live database and ``force`` was not given."""
