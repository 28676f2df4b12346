"""Where ``make run`` finds the demo superuser's password: ``DATA_DIR/demo-credentials.txt``, readable by
its owner only, written once when ``seed_demo`` generates the password (never printed in a log)."""

import os
from pathlib import Path

from django.conf import settings


def credentials_file() -> Path:
    return Path(settings.DATA_DIR) / "demo-credentials.txt"


def write_credentials(username: str, password: str) -> Path:
    """Write ``username`` and ``password`` to the credentials file (mode 0600); returns its path."""
    path = credentials_file()
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(f"user: {username}\npassword: {password}\n")
    path.chmod(0o600)  # an older file kept its mode through O_TRUNC
    return path


def read_password() -> str | None:
    """The password the credentials file holds, or None without a file."""
    try:
        lines = credentials_file().read_text().splitlines()
    except FileNotFoundError:
        return None
    for line in lines:
        if line.startswith("password: "):
            return line.removeprefix("password: ")
    return None
