"""Typed per-owner settings: a key registry, resolved owner → global owner → Django setting → default.

Each key declares its type, default, validation and help text. Values are stored per owner as canonical
text in ``OwnerSetting``; reading goes through ``resolve()`` so every caller sees the same inheritance.
Other apps add their own keys with ``register()`` and listen to ``owner_setting_changed``.
"""

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import time
from typing import Any

from django.conf import settings as django_settings
from django.db import models, transaction
from django.dispatch import Signal

from tenants.models import GLOBAL_OWNER_ID, OwnerSetting

logger = logging.getLogger(__name__)

# Sent after commit whenever an owner's stored value changes: kwargs owner_id, key.
owner_setting_changed = Signal()

WEEKDAYS = (
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
)
_TIME_RE = re.compile(r"^(?P<hour>[01]?\d|2[0-3]):(?P<minute>[0-5]\d)$")
_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}


class SettingValueError(ValueError):
    """A value that does not fit its key's type or validation; the message is shown to the user."""


class UnknownSettingError(KeyError):
    def __str__(self) -> str:
        return f"Unknown setting {self.args[0]!r}; known settings: {', '.join(sorted(_REGISTRY))}."


class Source(models.TextChoices):
    OWNER = "own", "own value"
    GLOBAL = "global", "inherited from the global owner"
    SETTING = "setting", "Django setting / environment"
    DEFAULT = "default", "code default"


@dataclass(frozen=True)
class SettingDefinition:
    key: str
    kind: str  # "bool" | "int" | "time" | "choice"
    default: Any
    help_text: str
    choices: tuple[str, ...] = ()
    min_value: int | None = None
    group: str = field(default="", compare=False)

    def parse(self, raw: Any) -> Any:
        """Turn text (or an already typed value) into this key's type, or raise SettingValueError."""
        text = raw.strip() if isinstance(raw, str) else raw
        if self.kind == "bool":
            if isinstance(text, bool):
                return text
            if str(text).lower() in _TRUE:
                return True
            if str(text).lower() in _FALSE:
                return False
            raise SettingValueError(f"{raw!r} is not a yes/no value; use true or false.")
        if self.kind == "int":
            try:
                number = int(text)
            except (TypeError, ValueError):
                raise SettingValueError(f"{raw!r} is not a whole number.") from None
            if self.min_value is not None and number < self.min_value:
                raise SettingValueError(f"{number} is below the minimum of {self.min_value}.")
            return number
        if self.kind == "time":
            if isinstance(text, time):
                return text.replace(second=0, microsecond=0)
            match = _TIME_RE.match(str(text))
            if not match:
                raise SettingValueError(f"{raw!r} is not a time of day as HH:MM between 00:00 and 23:59.")
            return time(int(match["hour"]), int(match["minute"]))
        if self.kind == "choice":
            if str(text).lower() not in self.choices:
                raise SettingValueError(f"{raw!r} is not one of: {', '.join(self.choices)}.")
            return str(text).lower()
        raise AssertionError(f"unknown setting kind {self.kind!r}")

    def serialize(self, value: Any) -> str:
        if self.kind == "bool":
            return "true" if value else "false"
        if self.kind == "time":
            return value.strftime("%H:%M")
        return str(value)

    def describe_type(self) -> str:
        if self.kind == "choice":
            return " | ".join(self.choices)
        return {"bool": "true | false", "int": "whole number", "time": "HH:MM"}[self.kind]


@dataclass(frozen=True)
class ResolvedSetting:
    definition: SettingDefinition
    value: Any
    source: Source

    @property
    def key(self) -> str:
        return self.definition.key

    @property
    def display(self) -> str:
        return self.definition.serialize(self.value)


_REGISTRY: dict[str, SettingDefinition] = {}


def register(definition: SettingDefinition) -> SettingDefinition:
    if definition.key in _REGISTRY and _REGISTRY[definition.key] != definition:
        raise ValueError(f"Setting {definition.key} is registered twice with different definitions.")
    definition.parse(definition.default)  # a default that fails its own validation is a programming error
    _REGISTRY[definition.key] = definition
    return definition


def definition(key: str) -> SettingDefinition:
    try:
        return _REGISTRY[key.upper()]
    except KeyError:
        raise UnknownSettingError(key) from None


def definitions() -> list[SettingDefinition]:
    return sorted(_REGISTRY.values(), key=lambda item: (item.group, item.key))


def _fallback(item: SettingDefinition) -> ResolvedSetting:
    if hasattr(django_settings, item.key):
        return ResolvedSetting(item, item.parse(getattr(django_settings, item.key)), Source.SETTING)
    return ResolvedSetting(item, item.default, Source.DEFAULT)


def resolve_all(owner_id: int, keys: Iterable[str] | None = None) -> dict[str, ResolvedSetting]:
    """Effective values for one owner (all keys, or the ones named), in one query."""
    wanted = [definition(key) for key in keys] if keys is not None else definitions()
    rows = OwnerSetting.objects.filter(
        owner_id__in={owner_id, GLOBAL_OWNER_ID}, key__in=[item.key for item in wanted]
    ).values_list("owner_id", "key", "value")
    stored = {(row_owner, key): value for row_owner, key, value in rows}
    resolved = {}
    for item in wanted:
        for row_owner, source in (
            (owner_id, Source.OWNER),
            (GLOBAL_OWNER_ID, Source.GLOBAL),
        ):
            value = _parse_stored(item, row_owner, stored.get((row_owner, item.key)))
            if value is not None:
                resolved[item.key] = ResolvedSetting(item, value, source)
                break
        else:
            resolved[item.key] = _fallback(item)
    return resolved


def _parse_stored(item: SettingDefinition, owner_id: int, text: str | None) -> Any:
    if text is None:
        return None
    try:
        return item.parse(text)
    except SettingValueError:
        # A value stored under older rules must not break every reader: skip it, loudly.
        logger.warning(
            "ignoring invalid stored setting",
            extra={"owner_id": owner_id, "key": item.key},
        )
        return None


def resolve(owner_id: int, key: str) -> ResolvedSetting:
    return resolve_all(owner_id, [key])[definition(key).key]


def get(owner_id: int, key: str) -> Any:
    """The effective, typed value of one key for one owner."""
    return resolve(owner_id, key).value


def set_value(owner_id: int, key: str, raw: Any) -> Any:
    """Validate and store an owner's own value; returns the typed value. Raises SettingValueError."""
    item = definition(key)
    value = item.parse(raw)
    with transaction.atomic():
        OwnerSetting.objects.update_or_create(
            owner_id=owner_id, key=item.key, defaults={"value": item.serialize(value)}
        )
    return value


def unset(owner_id: int, key: str) -> bool:
    """Remove an owner's own value so it inherits again; returns whether there was one."""
    item = definition(key)
    with transaction.atomic():
        deleted, _ = OwnerSetting.objects.filter(owner_id=owner_id, key=item.key).delete()
    return bool(deleted)


def announce_stored_change(sender: type, instance: OwnerSetting, **kwargs: Any) -> None:
    """post_save/post_delete receiver: tell listeners (e.g. the backup schedule sync) after commit."""
    owner_id, key = instance.owner_id, instance.key
    transaction.on_commit(lambda: owner_setting_changed.send(sender=OwnerSetting, owner_id=owner_id, key=key))


# --- The keys the product ships with ---------------------------------------------------------------------

register(
    SettingDefinition(
        "BACKUP_SCHEDULE_ENABLED",
        "bool",
        True,
        "Run this owner's backup on a schedule.",
        group="backup",
    )
)
register(
    SettingDefinition(
        "BACKUP_SCHEDULE_TIME",
        "time",
        time(21, 0),
        "Time of day for the scheduled backup, HH:MM in the owner's time zone.",
        group="backup",
    )
)
register(
    SettingDefinition(
        "BACKUP_SCHEDULE_FREQUENCY",
        "choice",
        "daily",
        "How often the scheduled backup runs.",
        choices=("daily", "weekly"),
        group="backup",
    )
)
register(
    SettingDefinition(
        "BACKUP_SCHEDULE_WEEKDAY",
        "choice",
        "sunday",
        "Day of the week for weekly backups.",
        choices=WEEKDAYS,
        group="backup",
    )
)
register(
    SettingDefinition(
        "BACKUP_RETENTION_KEEP_LAST",
        "int",
        7,
        "Always keep this many newest good backups.",
        min_value=1,
        group="backup",
    )
)
register(
    SettingDefinition(
        "BACKUP_RETENTION_KEEP_DAILY",
        "int",
        7,
        "Keep the newest good backup of this many days.",
        min_value=0,
        group="backup",
    )
)
register(
    SettingDefinition(
        "BACKUP_RETENTION_KEEP_WEEKLY",
        "int",
        4,
        "Keep the newest good backup of this many weeks.",
        min_value=0,
        group="backup",
    )
)
register(
    SettingDefinition(
        "BACKUP_RETENTION_KEEP_MONTHLY",
        "int",
        6,
        "Keep the newest good backup of this many months.",
        min_value=0,
        group="backup",
    )
)
