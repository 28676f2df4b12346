"""gunicorn's configuration for the web process: ``gunicorn --config deploy/gunicorn.conf.py``.

Where to listen and how many workers come from gunicorn's own environment variables, so one file serves a
PaaS, a container and a systemd unit alike:
- ``PORT``: listen on 0.0.0.0:$PORT (unset: 127.0.0.1:8000);
- ``WEB_CONCURRENCY``: worker processes (default 1; two or three per core is usual);
- ``FORWARDED_ALLOW_IPS``: proxies trusted for X-Forwarded-* (default 127.0.0.1,::1);
- ``GUNICORN_CMD_ARGS``: any other command-line option, e.g. ``--bind unix:/run/scheduler/web.sock``.
Django's own settings come from the environment as always (config/settings.py, .env.example).
"""

from pathlib import Path

wsgi_app = "config.wsgi:application"
# The repository root, so the command works from any directory (systemd, a container's WORKDIR).
chdir = str(Path(__file__).resolve().parent.parent)

# Sync workers: each request is short (admin pages, probes, a metrics scrape); jobs run in the qclusters.
worker_class = "sync"
timeout = 60
graceful_timeout = 30
keepalive = 5
# Recycle a worker now and then, so a slow leak in any library cannot grow without bound.
max_requests = 2000
max_requests_jitter = 200
# The workers' heartbeat files: on tmpfs where there is one (a container's overlay disk can stall them).
worker_tmp_dir = "/dev/shm" if Path("/dev/shm").is_dir() else None  # noqa: S108 - gunicorn's documented choice
# gunicorn 27 opens a control socket under ~/.gunicorn by default; several instances would share it.
control_socket_disable = True

# Logs to stdout/stderr, key=value like the application's own (config/logging.py).
accesslog = "-"
errorlog = "-"
access_log_format = (
    'time="%(t)s" level=INFO logger=gunicorn.access method=%(m)s path="%(U)s" status=%(s)s '
    "bytes=%(B)s duration_ms=%(M)s remote=%(h)s"
)
