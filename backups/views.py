"""Downloading a backup: a presigned S3 URL, or a signed, expiring link served here for the file system.

Both are minted only for a user who may see the backup's owner, last at most five minutes, and the signed
link is bound to the user it was made for; the view checks the user's access again when it is opened.
"""

from django.contrib.admin.views.decorators import staff_member_required
from django.core import signing
from django.core.files.storage import Storage, storages
from django.http import FileResponse, Http404, HttpRequest
from django.shortcuts import get_object_or_404
from django.urls import reverse

from backups.engines import POSTGRES, SQLITE, TENANT_EXPORT
from backups.models import Backup
from backups.storage import store_for
from tenants.scoping import scope_queryset

DOWNLOAD_LINK_MAX_AGE_SECONDS = 300
_SALT = "backups.download"


def download_filename(backup: Backup) -> str:
    """``<owner>-<time>-backup-<id>.dump.zst``: the ending says which tools open it (pg_restore, zstd)."""
    kind = {POSTGRES: ".dump", SQLITE: ".sqlite3", TENANT_EXPORT: ".jsonl"}.get(backup.engine, "")
    compressed = {"zstd": ".zst", "gzip": ".gz"}.get(backup.codec, "")
    return f"owner-{backup.owner_id}-{backup.storage_key.rsplit('/', 1)[-1]}{kind}{compressed}"


def download_url(backup: Backup, user) -> str:
    """A short-lived URL for ``backup``'s object: presigned on S3, a signed link to ``download`` otherwise."""
    presigned = store_for(_storage_of(backup)).download_url(
        backup.storage_key, filename=download_filename(backup), expire_seconds=DOWNLOAD_LINK_MAX_AGE_SECONDS
    )
    if presigned is not None:
        return presigned
    token = signing.TimestampSigner(salt=_SALT).sign_object({"backup": backup.pk, "user": user.pk})
    return reverse("backups:download", args=[token])


@staff_member_required
def download(request: HttpRequest, token: str) -> FileResponse:
    """Serve the file of a fresh signed link made for this user, if they may still see the backup's owner."""
    try:
        signer = signing.TimestampSigner(salt=_SALT)
        claims = signer.unsign_object(token, max_age=DOWNLOAD_LINK_MAX_AGE_SECONDS)
    except signing.BadSignature:
        raise Http404("This download link is invalid or has expired.") from None
    if claims.get("user") != request.user.pk:
        raise Http404("This download link was made for someone else.")
    visible = scope_queryset(Backup.objects.all(), request.user, "owner")
    backup = get_object_or_404(
        visible, pk=claims.get("backup"), status__in=[Backup.Status.SUCCEEDED, Backup.Status.VERIFIED]
    )
    storage = _storage_of(backup)
    if not storage.exists(backup.storage_key):
        raise Http404("The stored object of this backup is gone.")
    return FileResponse(
        storage.open(backup.storage_key, "rb"), as_attachment=True, filename=download_filename(backup)
    )


def _storage_of(backup: Backup) -> Storage:
    return storages[backup.storage_name]
