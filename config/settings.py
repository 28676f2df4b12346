"""Settings, read from the environment only (12-factor). See .env.example for every variable.

With no variables set this is the embedded default: SQLite in WAL mode, the django-q2 ORM broker and
backups on the local file system under DATA_DIR. Production sets DATABASE_URL, REDIS_URL and
BACKUP_STORAGE_URL.
"""

import tomllib
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import environ
from django.core.exceptions import ImproperlyConfigured

from config.environment import EnvironmentLookup

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DATA_DIR = Path(env.str("DATA_DIR", default=str(BASE_DIR / "var"))).resolve()
DATA_DIR.mkdir(parents=True, exist_ok=True)  # the embedded default keeps its database and files here

DEBUG = env.bool("DEBUG", default=False)
# The fallback key only exists so a fresh clone runs; `check --deploy` flags it, production sets its own.
SECRET_KEY = env.str("SECRET_KEY", default="django-insecure-local-development-key-change-me-0123456789")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    # Our apps come first: jobs overrides django-q2's `qcluster` command to run the dispatcher inside it.
    "tenants",
    "jobs",
    "backups",
    "notifications",
    "inventory",
    "billing",
    "ops",
    "demo",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_q",
]

MIDDLEWARE = [
    # Health probes and the metrics scrape are answered before host validation and the HTTPS redirect:
    # orchestrators and Prometheus call them by a pod's address over plain HTTP (see ops/probes.py).
    "ops.probes.ProbesMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # The admin's static files, served by the web process itself (hashed names, far-future caching).
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Staff see (and type) times in their own zone: their owner's, or the one they chose.
    "tenants.viewer_zone.ViewerTimezoneMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------------------

SQLITE_PATH = DATA_DIR / "db.sqlite3"
DATABASES = {"default": env.db_url("DATABASE_URL", default=f"sqlite:///{SQLITE_PATH}")}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=0)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql" and env.bool(
    "DATABASE_PREPARED_STATEMENTS", default=True
):
    # The run's hot path (the flip and the finish, jobs/conditional_updates.py) runs as prepared statements:
    # parsed and planned once per connection, not on every run. Django's own queries bind client-side and
    # are never prepared. Turn off behind a transaction-pooling PgBouncer older than 1.21.
    DATABASES["default"].setdefault("OPTIONS", {})["prepare_threshold"] = 0
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the web server, the dispatcher and django-q2's workers read while one of them writes;
    # IMMEDIATE transactions and a busy timeout turn "database is locked" into a short wait.
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
    DATABASES["default"]["TEST"] = {"NAME": str(DATA_DIR / "test-db.sqlite3")}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Auth, i18n, static ---------------------------------------------------------------------------------

# Logs in like Django's ModelBackend; a staff user's permissions come from their memberships' roles only
# (tenants/permissions.py): no per-user permissions or groups to set up, and none that could grant more.
AUTHENTICATION_BACKENDS = ["tenants.permissions.MembershipBackend"]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
# `manage.py collectstatic` writes hashed, compressed copies here; WhiteNoise serves them.
STATIC_ROOT = DATA_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)  # WhiteNoise looks here at start-up, collected or not

# --- Security (production turns these on through the environment) -------------------------------------

SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=False)
SESSION_COOKIE_SECURE = env.bool("SECURE_COOKIES", default=False)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = SECURE_HSTS_SECONDS > 0
SECURE_HSTS_PRELOAD = SECURE_HSTS_SECONDS > 0
if env.bool("BEHIND_TLS_PROXY", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# --- E-mail ---------------------------------------------------------------------------------------------

EMAIL_CONFIG = env.email_url("EMAIL_URL", default="consolemail://")
globals().update(EMAIL_CONFIG)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="scheduler@localhost")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
EMAIL_FILE_PATH = env.str("EMAIL_FILE_PATH", default=str(DATA_DIR / "mail"))

# --- Storage --------------------------------------------------------------------------------------------


def _backup_storage(url: str) -> dict:
    """Map BACKUP_STORAGE_URL (``file:///path`` or ``s3://bucket/prefix``) onto a STORAGES entry."""
    parts = urlsplit(url)
    if parts.scheme in ("", "file"):
        return {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": parts.path or str(DATA_DIR / "backups"), "file_permissions_mode": 0o600},
        }
    if parts.scheme == "s3":
        if not parts.netloc:
            raise ImproperlyConfigured("BACKUP_STORAGE_URL must name a bucket: s3://bucket/prefix")
        query = {key: values[-1] for key, values in parse_qs(parts.query).items()}
        options = {
            "bucket_name": parts.netloc,
            "location": parts.path.strip("/"),
            "endpoint_url": env.str("BACKUP_S3_ENDPOINT_URL", default=query.get("endpoint_url")) or None,
            "region_name": env.str("BACKUP_S3_REGION", default=query.get("region")) or None,
            "access_key": env.str("BACKUP_S3_ACCESS_KEY_ID", default="") or None,
            "secret_key": env.str("BACKUP_S3_SECRET_ACCESS_KEY", default="") or None,
            "default_acl": None,
            "file_overwrite": False,
            "querystring_expire": 300,
            "signature_version": "s3v4",
            "addressing_style": env.str("BACKUP_S3_ADDRESSING_STYLE", default="") or None,
            "object_parameters": {},
        }
        sse = env.str("BACKUP_S3_SSE", default="")
        if sse:
            options["object_parameters"]["ServerSideEncryption"] = sse
            kms_key = env.str("BACKUP_S3_KMS_KEY_ID", default="")
            if kms_key:
                options["object_parameters"]["SSEKMSKeyId"] = kms_key
        return {"BACKEND": "storages.backends.s3.S3Storage", "OPTIONS": options}
    raise ImproperlyConfigured(f"BACKUP_STORAGE_URL scheme {parts.scheme!r} is not file:// or s3://")


STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    # Hashed and compressed by collectstatic; before it has run (development, tests) names stay unhashed.
    "staticfiles": {"BACKEND": "config.staticfiles.CollectedStaticFilesStorage"},
    "backups": _backup_storage(env.str("BACKUP_STORAGE_URL", default=f"file://{DATA_DIR / 'backups'}")),
}
MEDIA_ROOT = DATA_DIR / "media"

# Where `manage.py backup restore` restores to when no --target-db is given. A URL with a password
# belongs here (the environment), never on the command line, where the process list shows it.
RESTORE_TARGET_DATABASE_URL = env.str("RESTORE_TARGET_DATABASE_URL", default="")

# The running code's version, recorded by every engine process (EngineProcess.version): pyproject's version
# unless the deployment names its build (a git sha, an image tag).
_PYPROJECT = BASE_DIR / "pyproject.toml"
APP_VERSION = env.str(
    "APP_VERSION",
    default=tomllib.loads(_PYPROJECT.read_text())["project"]["version"] if _PYPROJECT.is_file() else "",
)

# --- Scheduling engine and django-q2 --------------------------------------------------------------------

# Global switch: when off, workers still run but the dispatcher enqueues nothing.
JOBS_ENABLED = env.bool("JOBS_ENABLED", default=True)
# The longest any run may take; django-q2's broker re-delivers a task after `retry` seconds, so `retry`
# stays above it and the runner's queued → running flip guards against the re-delivery anyway.
JOBS_MAX_TIMEOUT = env.int("JOBS_MAX_TIMEOUT", default=6 * 3600)
if JOBS_MAX_TIMEOUT < 60:
    # A run's soft deadline is JOBS_MAX_TIMEOUT minus 30 s at most (jobs/timeouts.py).
    raise ImproperlyConfigured("JOBS_MAX_TIMEOUT must be at least 60 seconds.")
# Each worker beats its running run, and each qcluster its own row, this often (seconds, may be fractional).
# A qcluster silent for 1.5 periods is gone and its runs are lost; a run whose own heartbeat is silent for
# JOBS_LOST_AFTER_SECONDS is lost whatever its process says (the backstop).
JOBS_HEARTBEAT_SECONDS = env.float("JOBS_HEARTBEAT_SECONDS", default=10)
JOBS_LOST_AFTER_SECONDS = env.int("JOBS_LOST_AFTER_SECONDS", default=60)
# On SIGTERM a qcluster takes no new runs and gives its running ones this long to finish, then cancels them.
# Keep the process manager's stop timeout above it plus a heartbeat plus ~10 s.
JOBS_SHUTDOWN_GRACE_SECONDS = env.float("JOBS_SHUTDOWN_GRACE_SECONDS", default=20)
JOBS_RUN_HISTORY_DAYS = env.int("JOBS_RUN_HISTORY_DAYS", default=90)
# A schedule may not fire more often than this (seconds); a job may declare a longer minimum of its own.
JOBS_MIN_INTERVAL_SECONDS = env.int("JOBS_MIN_INTERVAL_SECONDS", default=1)
if JOBS_MIN_INTERVAL_SECONDS < 1:
    raise ImproperlyConfigured("JOBS_MIN_INTERVAL_SECONDS must be at least 1 second.")
# A schedule's keyword arguments are copied into every run: at most this many bytes of JSON.
JOBS_MAX_KWARGS_BYTES = env.int("JOBS_MAX_KWARGS_BYTES", default=64 * 1024)
# Fire-ahead: a dispatcher prepares a claim before its slot, commits it just before the slot and hands its
# runs to the workers at the slot (jobs/dispatcher.py). How early follows the claims it measured, for that
# many schedules due at once (jobs/fire_ahead.py), between these two bounds. Off on SQLite, whose one
# writer lock would be held meanwhile.
_FIRE_AHEAD = not DATABASES["default"]["ENGINE"].endswith("sqlite3")
JOBS_DISPATCH_LEAD_MS = env.int("JOBS_DISPATCH_LEAD_MS", default=200 if _FIRE_AHEAD else 0)
JOBS_DISPATCH_LEAD_MAX_MS = env.int("JOBS_DISPATCH_LEAD_MAX_MS", default=2000 if _FIRE_AHEAD else 0)

REDIS_URL = env.str("REDIS_URL", default="")
Q_CLUSTER = {
    "name": env.str("Q_CLUSTER_NAME", default="scheduler"),
    "workers": env.int("Q_WORKERS", default=2),
    "timeout": JOBS_MAX_TIMEOUT,
    "retry": JOBS_MAX_TIMEOUT + 300,
    "max_attempts": 1,
    "ack_failures": True,
    "catch_up": False,
    # Our dispatcher decides what is due; django-q2's own 30-second scheduler stays off.
    "scheduler": False,
    "save_limit": env.int("Q_SAVE_LIMIT", default=1000),
    "poll": env.float("Q_POLL", default=0.1),
    # The section django-q2's own pages (tasks, failures, queue) get in the admin index: superusers only.
    "label": "Workers (django-q2)",
    # Where each qcluster publishes its state (alive, workers) for the ops dashboard; see CACHES.
    "cache": "cluster_stats",
}
# The ORM broker publishes cluster state through a Django cache, so that cache must be shared between the
# qcluster processes and the web process: files under DATA_DIR (no database writes every guard cycle).
# The Redis broker keeps cluster state in Redis itself and ignores this.
CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    "cluster_stats": {
        "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
        "LOCATION": str(DATA_DIR / "cluster-stats"),
    },
}
if REDIS_URL:
    Q_CLUSTER["redis"] = REDIS_URL
else:
    Q_CLUSTER["orm"] = "default"
    # A cluster takes up to one task per worker in one statement, oldest first, skipping the rows another
    # cluster is taking (jobs/djangoq.py); django-q2's own ORM broker locks the rows it read one by one.
    Q_CLUSTER["broker_class"] = "jobs.djangoq.BatchORM"
    Q_CLUSTER["bulk"] = Q_CLUSTER["workers"]

# --- Health and metrics ----------------------------------------------------------------------------------

# /metrics answers only requests carrying "Authorization: Bearer <METRICS_TOKEN>"; unset, it answers 404.
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")

# --- Per-owner setting defaults -------------------------------------------------------------------------

# An environment variable named like a registered owner-setting key (BACKUP_SCHEDULE_TIME, …) replaces that
# key's code default; resolution order: owner → global owner → Django setting of that name → this → code
# default. Each app registers its own keys, and the resolver asks for exactly those at resolve time, so no
# list of names is kept here (tenants/owner_settings.py).
OWNER_SETTING_ENVIRONMENT = EnvironmentLookup(env.ENVIRON)

# --- Demo data -----------------------------------------------------------------------------------------

# `manage.py seed_demo` gives the demo superuser this password, or prints a random one once.
DEMO_ADMIN_PASSWORD = env.str("DEMO_ADMIN_PASSWORD", default="")

# --- Logging --------------------------------------------------------------------------------------------

LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"kv": {"()": "config.logging.KeyValueFormatter"}},
    # django.request records: 403/404 as one line with status, path and user id (no traceback).
    "filters": {"request_fields": {"()": "config.logging.RequestFields"}},
    "handlers": {
        "stdout": {
            "class": "config.logging.StdoutHandler",
            "formatter": "kv",
            "filters": ["request_fields"],
        }
    },
    "root": {"handlers": ["stdout"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "INFO"},
        "django-q": {"level": env.str("Q_LOG_LEVEL", default="WARNING")},
        "botocore": {"level": "WARNING"},
    },
}
