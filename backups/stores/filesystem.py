"""Backup objects as files: written to a hidden ``.<name>.<random>.partial`` file next to the final path and
linked to the final name when complete (``link`` fails instead of overwriting an existing backup)."""

import os
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from django.core.files.storage import FileSystemStorage

from backups.errors import BackupError
from backups.stores.base import BackupStore, PartialObject
from backups.streaming import CHUNK_SIZE

PARTIAL_SUFFIX = ".partial"


class FileWriter:
    def __init__(self, storage: FileSystemStorage, key: str) -> None:
        self.final = Path(storage.path(key))
        self.final.parent.mkdir(parents=True, exist_ok=True)
        if self.final.exists():
            raise BackupError(f"A backup object named {key!r} already exists; refusing to overwrite it.")
        self.temp = self.final.with_name(f".{self.final.name}.{uuid.uuid4().hex[:12]}{PARTIAL_SUFFIX}")
        mode = storage.file_permissions_mode or 0o600
        self._file = open(  # noqa: SIM115, PTH123 - a descriptor opened with O_EXCL; closed in commit/abort
            os.open(self.temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode), "wb", buffering=CHUNK_SIZE
        )

    def write(self, data: bytes) -> None:
        self._file.write(data)

    def commit(self) -> None:
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        try:
            os.link(self.temp, self.final)
        except FileExistsError:
            raise BackupError(f"A backup object named {self.final.name!r} appeared meanwhile.") from None
        finally:
            self.temp.unlink(missing_ok=True)
        directory = os.open(self.final.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)

    def abort(self) -> None:
        self._file.close()
        self.temp.unlink(missing_ok=True)


class FileSystemStore(BackupStore):
    storage: FileSystemStorage

    def writer(self, key: str) -> FileWriter:
        return FileWriter(self.storage, key)

    def open(self, key: str) -> Any:
        try:
            return Path(self.storage.path(key)).open("rb", buffering=0)
        except FileNotFoundError:
            raise self.missing(key) from None

    def partial_objects(self) -> list[PartialObject]:
        root = Path(self.storage.location)
        if not root.exists():
            return []
        return [
            PartialObject(str(path.relative_to(root)), datetime.fromtimestamp(path.stat().st_mtime, tz=UTC))
            for path in root.rglob(f".*{PARTIAL_SUFFIX}")
        ]

    def is_partial_of(self, partial: PartialObject, key: str) -> bool:
        directory, _, name = key.rpartition("/")
        partial_directory, _, partial_name = partial.key.rpartition("/")
        return partial_directory == directory and partial_name.startswith(f".{name}.")

    def discard(self, partial: PartialObject) -> None:
        Path(self.storage.path(partial.key)).unlink(missing_ok=True)
