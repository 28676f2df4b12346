"""Per-owner settings of the backups app: when each owner's backup runs and how many are kept.

Added to the tenants registry at start-up (``BackupsConfig.ready``). ``backups.schedules`` derives each
owner's managed backup schedule from the schedule keys; ``backups.retention`` reads the retention keys.
"""

from datetime import time

from tenants.setting_keys import SettingDefinition, register

WEEKDAYS = (
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
)

SCHEDULE_ENABLED = register(
    SettingDefinition(
        "BACKUP_SCHEDULE_ENABLED",
        "bool",
        True,
        "Run this owner's backup on a schedule.",
        group="backup",
    )
)
SCHEDULE_TIME = register(
    SettingDefinition(
        "BACKUP_SCHEDULE_TIME",
        "time",
        time(21, 0),
        "Time of day for the scheduled backup, HH:MM in the owner's time zone.",
        group="backup",
    )
)
SCHEDULE_FREQUENCY = register(
    SettingDefinition(
        "BACKUP_SCHEDULE_FREQUENCY",
        "choice",
        "daily",
        "How often the scheduled backup runs.",
        choices=("daily", "weekly"),
        group="backup",
    )
)
SCHEDULE_WEEKDAY = register(
    SettingDefinition(
        "BACKUP_SCHEDULE_WEEKDAY",
        "choice",
        "sunday",
        "Day of the week for weekly backups.",
        choices=WEEKDAYS,
        group="backup",
    )
)
# Owners sharing a BACKUP_SCHEDULE_TIME (every owner that never changed it) would otherwise start their
# backups in the same second. 30 minutes by default: 10,000 owners at 21:00 become ~6 starts a second
# instead of one burst of 10,000 claims and broker pushes, and every backup still starts within half an
# hour after the time its owner chose, never before it (docs/operations.md, "Jitter and spread").
SCHEDULE_SPREAD = register(
    SettingDefinition(
        "BACKUP_SCHEDULE_SPREAD",
        "int",
        30,
        "Minutes after the backup time within which this owner's backup starts, at a fixed point of its "
        "own, so owners sharing a time do not all start at once. 0: exactly at the backup time.",
        min_value=0,
        max_value=720,
        group="backup",
    )
)
RETENTION_KEEP_LAST = register(
    SettingDefinition(
        "BACKUP_RETENTION_KEEP_LAST",
        "int",
        7,
        "Always keep this many newest good backups.",
        min_value=1,
        max_value=1_000,
        group="backup",
    )
)
RETENTION_KEEP_DAILY = register(
    SettingDefinition(
        "BACKUP_RETENTION_KEEP_DAILY",
        "int",
        7,
        "Keep the newest good backup of this many days.",
        min_value=0,
        max_value=3_660,
        group="backup",
    )
)
RETENTION_KEEP_WEEKLY = register(
    SettingDefinition(
        "BACKUP_RETENTION_KEEP_WEEKLY",
        "int",
        4,
        "Keep the newest good backup of this many weeks.",
        min_value=0,
        max_value=520,
        group="backup",
    )
)
RETENTION_KEEP_MONTHLY = register(
    SettingDefinition(
        "BACKUP_RETENTION_KEEP_MONTHLY",
        "int",
        6,
        "Keep the newest good backup of this many months.",
        min_value=0,
        max_value=120,
        group="backup",
    )
)

# The keys a change of which re-derives the owner's backup schedule.
SCHEDULE_KEYS = (
    SCHEDULE_ENABLED.key,
    SCHEDULE_TIME.key,
    SCHEDULE_FREQUENCY.key,
    SCHEDULE_WEEKDAY.key,
    SCHEDULE_SPREAD.key,
)
