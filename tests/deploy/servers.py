"""Real processes started the way production starts them: gunicorn from deploy/gunicorn.conf.py, and
``manage.py`` commands in a production-like environment (DEBUG off, a secret key, a data dir of their own).
"""

import http.client
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.db import connection

ROOT = Path(settings.BASE_DIR)
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def dead_port() -> int:
    """A loopback port nothing listens on (bound and released again just now)."""
    return free_port()


def current_database_url() -> str:
    """The URL of the database this test runs on, for a subprocess (a transactional test's rows are seen)."""
    database = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{database['NAME']}"
    return f"postgres://{database['USER']}@{database['HOST']}:{database['PORT']}/{database['NAME']}"


def production_env(data_dir: Path, **overrides: str) -> dict[str, str]:
    """The environment of a production process: DEBUG off, its own secret key and data directory."""
    inherited = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("JOBS_", "Q_", "DATABASE_", "REDIS_", "METRICS_", "GUNICORN_", "PORT"))
    }
    return {
        **inherited,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DEBUG": "false",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "scheduler.test,localhost,127.0.0.1",
        "DATA_DIR": str(data_dir),
        "DATABASE_URL": current_database_url(),
        **overrides,
    }


def manage(*args: str, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes

    def header(self, name: str) -> str:
        return self.headers.get(name.lower(), "")


@dataclass
class Server:
    port: int
    process: subprocess.Popen
    log: Path

    def get(self, path: str, **headers: str) -> Response:
        client = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            client.request("GET", path, headers={"Host": "scheduler.test", **headers})
            reply = client.getresponse()
            return Response(
                status=reply.status,
                headers={name.lower(): value for name, value in reply.getheaders()},
                body=reply.read(),
            )
        finally:
            client.close()


@contextmanager
def gunicorn(env: dict[str, str], log: Path) -> Iterator[Server]:
    """gunicorn as deploy/Procfile's web line starts it, bound to a free loopback port; stopped after."""
    port = free_port()
    process = subprocess.Popen(
        [BIN / "gunicorn", "--config", "deploy/gunicorn.conf.py"],
        cwd=ROOT,
        env={**env, "GUNICORN_CMD_ARGS": f"--bind 127.0.0.1:{port} --workers 1"},
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    server = Server(port=port, process=process, log=log)
    try:
        _wait_until_listening(server)
        yield server
    finally:
        _stop(process)


@contextmanager
def dispatcher(env: dict[str, str], log: Path) -> Iterator[subprocess.Popen]:
    """``manage.py jobs dispatch`` (a standalone dispatcher) running while the block runs; SIGTERM after."""
    process = subprocess.Popen(
        [sys.executable, "manage.py", "jobs", "dispatch"],
        cwd=ROOT,
        env=env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        yield process
    finally:
        _stop(process)


def _stop(process: subprocess.Popen) -> None:
    """SIGTERM, as a process manager stops a service; its whole session is killed after 30 s."""
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def _wait_until_listening(server: Server, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise AssertionError(
                f"gunicorn exited with {server.process.returncode}:\n{server.log.read_text()}"
            )
        try:
            with socket.create_connection(("127.0.0.1", server.port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"gunicorn did not listen within {timeout} s:\n{server.log.read_text()}")
