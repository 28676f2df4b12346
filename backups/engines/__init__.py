"""What every engine shares: the stored ``Artifact`` and the ``Database`` it was taken from or goes to.

An engine module offers ``dump(...) -> Iterator[bytes]`` (raw bytes; the iterator only ends normally
once the dump is known to be complete), ``check_archive(chunks)`` and ``restore(chunks, target)``.
The pipeline adds compression, counting and storage around them.
"""

import ipaddress
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import SplitResult, parse_qs, unquote, urlsplit

from django.conf import settings

POSTGRES = "postgres"
SQLITE = "sqlite"
TENANT_EXPORT = "tenant_export"
ENGINES = (POSTGRES, SQLITE, TENANT_EXPORT)

FORMATS = {POSTGRES: "pg_dump-custom", SQLITE: "sqlite3", TENANT_EXPORT: "jsonl-manifest-v1"}

_POSTGRES_SCHEMES = ("postgres", "postgresql", "pgsql")
_POSTGRES_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_$-]{0,62}")
_HOST_NAME = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*")
_SSL_MODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")


def _is_host(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return bool(_HOST_NAME.fullmatch(host))
    return True


@dataclass
class Artifact:
    """A completed backup object: where it is, what it holds and how to check it byte for byte."""

    storage_key: str
    size: int
    sha256: str
    engine: str
    codec: str
    format: str


@dataclass(frozen=True)
class Database:
    """Connection parameters of one database; ``password`` never appears in repr, argv or messages."""

    vendor: str  # "postgresql" or "sqlite"
    name: str
    host: str = ""
    port: int | None = None
    user: str = ""
    password: str = field(default="", repr=False)
    options: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)

    @classmethod
    def from_settings(cls, config: dict[str, Any]) -> "Database":
        engine = config.get("ENGINE") or ""
        if engine.endswith("postgresql"):
            vendor = "postgresql"
        elif engine.endswith("sqlite3"):
            vendor = "sqlite"
        else:
            raise ValueError(f"Backups support PostgreSQL and SQLite, not {engine}.")
        port = config.get("PORT")
        return cls(
            vendor=vendor,
            name=str(config["NAME"]),
            host=config.get("HOST") or "",
            port=int(port) if port else None,
            user=config.get("USER") or "",
            password=config.get("PASSWORD") or "",
            options=dict(config.get("OPTIONS") or {}),
        )

    @classmethod
    def from_url(cls, url: str) -> "Database":
        """Parse and check ``postgres://user@host:port/name`` or ``sqlite:////absolute/path``.

        Raises ``ValueError`` with one line saying what is wrong (scheme, host, port, database name or
        path); the message never repeats the URL, so a password in it is not echoed.
        """
        parts = urlsplit(url.strip())
        try:
            port = parts.port
        except ValueError:
            raise ValueError("The port of the target database URL is not a number from 1 to 65535.") from None
        if parts.scheme in _POSTGRES_SCHEMES:
            return cls._postgres_from(parts, port)
        if parts.scheme == "sqlite":
            return cls._sqlite_from(parts)
        raise ValueError("A target database URL starts with postgres:// or sqlite:/// (nothing else).")

    @classmethod
    def _postgres_from(cls, parts: SplitResult, port: int | None) -> "Database":
        host = parts.hostname or ""
        if not host:
            raise ValueError("Name the database server: postgres://user@host:5432/name.")
        if not _is_host(host):
            raise ValueError("The host of the target database URL is not a host name or an IP address.")
        if port == 0:
            raise ValueError("The port of the target database URL is not a number from 1 to 65535.")
        name = unquote(parts.path[1:])
        if not name:
            raise ValueError("Name the database: postgres://user@host:5432/name.")
        if not _POSTGRES_NAME.fullmatch(name):
            raise ValueError(
                "The database name may hold letters, digits, _ $ and - (at most 63), nothing else."
            )
        options = {}
        for key, values in parse_qs(parts.query, keep_blank_values=True).items():
            if key != "sslmode" or values[-1] not in _SSL_MODES:
                raise ValueError(f"The only option understood is sslmode={'|'.join(_SSL_MODES)}.")
            options["sslmode"] = values[-1]
        return cls(
            vendor="postgresql",
            name=name,
            host=host,
            port=port,
            user=unquote(parts.username or ""),
            password=unquote(parts.password or ""),
            options=options,
        )

    @classmethod
    def _sqlite_from(cls, parts: SplitResult) -> "Database":
        path = unquote(parts.path)[1:]  # sqlite:////srv/x.sqlite3 → /srv/x.sqlite3
        if parts.netloc or parts.query or not path.startswith("/"):
            raise ValueError(
                "A SQLite target is an absolute path with four slashes: sqlite:////srv/copy.sqlite3."
            )
        target = Path(path)
        if not target.parent.is_dir():
            raise ValueError("The directory of the SQLite target does not exist.")
        if target.exists() and not target.is_file():
            raise ValueError("The SQLite target exists and is not a file.")
        return cls(vendor="sqlite", name=str(target))

    @classmethod
    def live(cls) -> "Database":
        """The configured default database, which backups read and restores must not overwrite lightly."""
        return cls.from_settings(settings.DATABASES["default"])

    @property
    def engine(self) -> str:
        return POSTGRES if self.vendor == "postgresql" else SQLITE

    def same_as(self, other: "Database") -> bool:
        """True when both point at one database (loopback spellings and the default port count as one)."""
        if self.vendor != other.vendor:
            return False
        if self.vendor == "sqlite":
            return Path(self.name).resolve() == Path(other.name).resolve()
        loopback = {"", "localhost", "127.0.0.1", "::1"}

        def host(value: str) -> str:
            return "localhost" if value in loopback or value.startswith("/") else value.lower()

        return (host(self.host), self.port or 5432, self.name) == (
            host(other.host),
            other.port or 5432,
            other.name,
        )

    def with_name(self, name: str) -> "Database":
        return Database(self.vendor, name, self.host, self.port, self.user, self.password, self.options)

    def libpq_environment(self) -> dict[str, str]:
        """PG* variables for pg_dump/pg_restore: connection details travel here, never in argv."""
        variables = {"PGDATABASE": self.name, "PGCONNECT_TIMEOUT": "10", "PGAPPNAME": "backups"}
        if self.host:
            variables["PGHOST"] = self.host
        if self.port:
            variables["PGPORT"] = str(self.port)
        if self.user:
            variables["PGUSER"] = self.user
        if self.password:
            variables["PGPASSWORD"] = self.password
        if self.options.get("sslmode"):
            variables["PGSSLMODE"] = str(self.options["sslmode"])
        return variables

    def psycopg_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"dbname": self.name, "connect_timeout": 10}
        for key, value in (("host", self.host), ("port", self.port), ("user", self.user)):
            if value:
                kwargs[key] = value
        if self.password:
            kwargs["password"] = self.password
        if self.options.get("sslmode"):
            kwargs["sslmode"] = self.options["sslmode"]
        return kwargs

    def secrets(self) -> tuple[str, ...]:
        return (self.password,) if self.password else ()
