"""The database triggers that append a ``RunEvent`` whenever a run starts or finishes.

Triggers, not Python, because a run changes status in many places and processes (the runner, the
dispatcher's claim, the reaper, the admin's bulk actions, a SQL statement typed by an operator): a row
trigger sees every one of them, in the same transaction, so the metrics are right whichever process
serves them. The trigger only appends a row (nothing is locked or updated), so two workers finishing runs
of the same job never wait for each other.

- *started*: ``started_at`` went from empty to set; ``seconds`` is the lateness, start minus due time.
- *finished*: ``status`` entered a final status (or the run was inserted already final, such as a
  skipped run); ``seconds`` is the run's duration, empty when it never ran.

They are (re)installed after every ``migrate`` (``post_migrate``, see ``ops.apps``): a migration that
rebuilds the runs table (SQLite rebuilds a table for most column changes, dropping its triggers) gets
them back in the same command.
"""

from django.core.exceptions import ImproperlyConfigured
from django.db import connections

from jobs.models import JobRun
from ops.models import RunEvent

FUNCTION = "ops_record_run_event"
POSTGRES_TRIGGER = "ops_run_event"


def _names() -> dict[str, str]:
    runs = JobRun._meta
    return {
        "runs": runs.db_table,
        "events": RunEvent._meta.db_table,
        "final": ", ".join(f"'{status}'" for status in JobRun.FINISHED),
        "columns": "kind, job_name, owner_id, status, seconds",
        "started": RunEvent.Kind.STARTED,
        "finished": RunEvent.Kind.FINISHED,
    }


def _postgres_statements() -> list[str]:
    names = {**_names(), "function": FUNCTION, "trigger": POSTGRES_TRIGGER}
    return [
        """
        CREATE OR REPLACE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF NEW.started_at IS NOT NULL AND (TG_OP = 'INSERT' OR OLD.started_at IS NULL) THEN
                INSERT INTO {events} ({columns}) VALUES (
                    '{started}', NEW.job_name, NEW.owner_id, '',
                    EXTRACT(EPOCH FROM NEW.started_at - NEW.due_at));
            END IF;
            IF NEW.status IN ({final}) AND (TG_OP = 'INSERT' OR OLD.status NOT IN ({final})) THEN
                INSERT INTO {events} ({columns}) VALUES (
                    '{finished}', NEW.job_name, NEW.owner_id, NEW.status, EXTRACT(EPOCH FROM NEW.duration));
            END IF;
            RETURN NULL;
        END $$
        """.format(**names),  # noqa: S608 - identifiers and statuses come from model metadata, not input
        "DROP TRIGGER IF EXISTS {trigger} ON {runs}".format(**names),
        """
        CREATE TRIGGER {trigger} AFTER INSERT OR UPDATE OF status, started_at ON {runs}
        FOR EACH ROW EXECUTE FUNCTION {function}()
        """.format(**names),
    ]


def _sqlite_statements() -> list[str]:
    names = _names()
    runs, events, columns, final = names["runs"], names["events"], names["columns"], names["final"]
    # SQLite keeps a DurationField as microseconds and a datetime as ISO text.
    lateness = "(julianday(NEW.started_at) - julianday(NEW.due_at)) * 86400.0"
    insert = f"INSERT INTO {events} ({columns}) VALUES"
    started = f"{insert} ('{names['started']}', NEW.job_name, NEW.owner_id, '', {lateness});"
    finished = (
        f"{insert} ('{names['finished']}', NEW.job_name, NEW.owner_id, NEW.status, NEW.duration / 1e6);"
    )
    definitions = {
        "ops_run_started": (
            "AFTER UPDATE OF started_at",
            "NEW.started_at IS NOT NULL AND OLD.started_at IS NULL",
            started,
        ),
        "ops_run_finished": (
            "AFTER UPDATE OF status",
            f"NEW.status IN ({final}) AND OLD.status NOT IN ({final})",
            finished,
        ),
        "ops_run_inserted_started": ("AFTER INSERT", "NEW.started_at IS NOT NULL", started),
        "ops_run_inserted_finished": ("AFTER INSERT", f"NEW.status IN ({final})", finished),
    }
    statements = []
    for trigger, (event, condition, body) in definitions.items():
        statements.append(f"DROP TRIGGER IF EXISTS {trigger}")
        statements.append(
            f"CREATE TRIGGER {trigger} {event} ON {runs} FOR EACH ROW WHEN {condition} BEGIN {body} END"
        )
    return statements


def install_run_event_triggers(using: str) -> None:
    """Create (or replace) the triggers on database ``using``; identifiers come from model metadata."""
    connection = connections[using]
    if connection.vendor == "postgresql":
        statements = _postgres_statements()
    elif connection.vendor == "sqlite":
        statements = _sqlite_statements()
    else:
        raise ImproperlyConfigured(f"Run metrics need PostgreSQL or SQLite, not {connection.vendor}.")
    with connection.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)


def install_after_migrate(sender, *, using: str, **kwargs) -> None:
    """``post_migrate`` receiver: the triggers follow every ``migrate`` of the database."""
    install_run_event_triggers(using)
