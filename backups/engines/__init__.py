"""What every engine shares: the stored ``Artifact`` and the ``Database`` it was taken from or goes to.

An engine module offers ``dump(...) -> Iterator[bytes]`` (raw bytes; the iterator only ends normally
once the dump is known to be complete), ``check_archive(chunks)`` and ``restore(chunks, target)``.
The pipeline adds compression, counting and storage around them.
"""

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import environ
from django.conf import settings

POSTGRES = "postgres"
SQLITE = "sqlite"
TENANT_EXPORT = "tenant_export"
ENGINES = (POSTGRES, SQLITE, TENANT_EXPORT)

FORMATS = {POSTGRES: "pg_dump-custom", SQLITE: "sqlite3", TENANT_EXPORT: "jsonl-manifest-v1"}


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
        engine = config["ENGINE"]
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
        """Parse ``postgres://user@host:port/name`` or ``sqlite:////absolute/path``."""
        try:
            config = environ.Env.db_url_config(url)
        except Exception:
            raise ValueError("The target database URL is not a postgres:// or sqlite:/// URL.") from None
        return cls.from_settings(config)

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
