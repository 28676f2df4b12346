"""A PostgreSQL and a Redis of the test's own (initdb + pg_ctl, redis-server), on spare ports, so a test can
stop and restart them without disturbing the machine's shared servers or anyone else's tests."""

import os
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg
import redis


class ServiceUnavailable(RuntimeError):
    """A server binary or account this machine lacks; the message says which."""


def _postgres_bin() -> Path:
    if shutil.which("pg_config"):
        configured = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True).stdout.strip()
        if configured and (Path(configured) / "initdb").exists():
            return Path(configured)
    initdb = shutil.which("initdb")
    if initdb is None:
        raise ServiceUnavailable("PostgreSQL's server binaries (initdb, pg_ctl) are not installed")
    return Path(initdb).resolve().parent


@dataclass
class OwnPostgres:
    """A PostgreSQL cluster in a temporary directory, run by the ``postgres`` account: initdb refuses root."""

    listen: list[str]
    port: int
    directory: Path
    bin: Path

    @classmethod
    def create(cls, *, listen: list[str], port: int) -> "OwnPostgres":
        if subprocess.run(["id", "postgres"], capture_output=True).returncode != 0:
            raise ServiceUnavailable("there is no `postgres` account to run a PostgreSQL server as")
        # Outside pytest's tmp_path, whose parents only root may enter.
        directory = Path(tempfile.mkdtemp(prefix="scaleout-pg-"))
        directory.chmod(0o755)
        shutil.chown(directory, "postgres", "postgres")
        server = cls(listen=listen, port=port, directory=directory, bin=_postgres_bin())
        server._as_postgres(
            "initdb", "-D", str(server.data), "-U", "postgres", "-A", "trust", "--no-sync", "-E", "UTF8"
        )
        with (server.data / "pg_hba.conf").open("a") as hba:
            hba.writelines(
                f"host all all {address}/24 trust\n" for address in listen if address != "127.0.0.1"
            )
        return server

    @property
    def data(self) -> Path:
        return self.directory / "data"

    @property
    def log(self) -> Path:
        return self.directory / "server.log"

    def url(self, host: str, database: str) -> str:
        return f"postgres://postgres@{host}:{self.port}/{database}"

    def start(self) -> None:
        options = (
            f"-p {self.port} -c listen_addresses='{','.join(self.listen)}' "
            f"-c unix_socket_directories='{self.directory}' -c fsync=off -c max_connections=200"
        )
        self._as_postgres("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "start")

    def stop(self) -> None:
        """Fast shutdown: open sessions are cut off, committed work is kept (what a restart does)."""
        self._as_postgres("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")

    def create_database(self, name: str) -> None:
        with psycopg.connect(self.url("127.0.0.1", "postgres"), autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')

    def destroy(self) -> None:
        if (self.data / "postmaster.pid").exists():
            subprocess.run(
                [
                    "runuser",
                    "-u",
                    "postgres",
                    "--",
                    str(self.bin / "pg_ctl"),
                    "-D",
                    str(self.data),
                    "-m",
                    "immediate",
                    "stop",
                ],
                capture_output=True,
                timeout=60,
            )
        shutil.rmtree(self.directory, ignore_errors=True)

    def _as_postgres(self, program: str, *args: str) -> None:
        result = subprocess.run(
            ["runuser", "-u", "postgres", "--", str(self.bin / program), *args],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=self.directory,
        )
        if result.returncode != 0:
            log = self.log.read_text() if self.log.exists() else ""
            raise RuntimeError(f"{program} failed: {result.stdout}{result.stderr}\n{log}")


@dataclass
class OwnRedis:
    """A redis-server without persistence: a restart loses every queued task, as a crash would."""

    listen: list[str]
    port: int
    log: Path
    process: subprocess.Popen | None = None

    def start(self) -> None:
        if shutil.which("redis-server") is None:
            raise ServiceUnavailable("redis-server is not installed")
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", *self.listen, "--protected-mode", "no",
             "--save", "", "--appendonly", "no"],
            stdout=self.log.open("a"),
            stderr=subprocess.STDOUT,
        )  # fmt: skip
        client = redis.Redis(host="127.0.0.1", port=self.port, socket_connect_timeout=1)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                client.ping()
                return
            except redis.ConnectionError:
                time.sleep(0.1)
        raise RuntimeError(f"redis-server did not answer on port {self.port}:\n{self.log.read_text()}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.kill(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.process = None
