"""Errors the backup engines raise. Each message is one plain line a user can act on, free of secrets."""

import re

from django.conf import settings

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


def without_server_details(text: str) -> str:
    """``text`` fit for a web page: the server's directories, database file and host and storage
    location replaced by ``…`` (the full text belongs in the server's log, not in front of a tenant)."""
    for detail in sorted(_server_details(), key=len, reverse=True):
        text = text.replace(detail, "…")
    return scrub(text)


def _server_details() -> set[str]:
    details = {str(settings.BASE_DIR), str(settings.DATA_DIR)}
    for database in settings.DATABASES.values():
        if str(database.get("NAME", "")).startswith("/"):
            details.add(str(database["NAME"]))
        details.add(str(database.get("HOST") or ""))
    for storage in settings.STORAGES.values():
        options = storage.get("OPTIONS", {})
        if str(options.get("location") or "").startswith("/"):  # a directory; an S3 prefix is no secret
            details.add(str(options["location"]))
        details.update(str(options.get(key) or "") for key in ("bucket_name", "endpoint_url"))
    # Empty or tiny pieces would eat ordinary words; paths, hosts and buckets are longer.
    return {detail for detail in details if len(detail) >= 4}


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
    """The restore would overwrite the live database and ``force`` was not given, or is not allowed."""


class InvalidTarget(RestoreRefused):
    """The target database URL is malformed: wrong scheme, no host, a bad port or database name."""
