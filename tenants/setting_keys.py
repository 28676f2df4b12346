"""The registry of per-owner setting keys: each key's type, default, validation and help text.

Every app registers its own keys at start-up (``backups/owner_settings.py``, ``inventory/owner_settings.py``,
``billing/owner_settings.py``, imported from their ``AppConfig.ready``). Values and where they come from
are ``tenants.owner_settings``'s business; this module only knows what a key is.
"""

import re
from dataclasses import dataclass, field
from datetime import time
from typing import Any

_TIME_RE = re.compile(r"^(?P<hour>[01]?\d|2[0-3]):(?P<minute>[0-5]\d)$")
_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}


class SettingValueError(ValueError):
    """A value that does not fit its key's type or validation; the message is shown to the user."""


class UnknownSettingError(KeyError):
    def __str__(self) -> str:
        return f"Unknown setting {self.args[0]!r}; known settings: {', '.join(sorted(_REGISTRY))}."


@dataclass(frozen=True)
class SettingDefinition:
    key: str
    kind: str  # "bool" | "int" | "time" | "choice"
    default: Any
    help_text: str
    choices: tuple[str, ...] = ()
    min_value: int | None = None
    max_value: int | None = None
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
            if self.max_value is not None and number > self.max_value:
                raise SettingValueError(f"{number} is above the maximum of {self.max_value}.")
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
        if self.kind == "int" and (self.min_value is not None or self.max_value is not None):
            low = "" if self.min_value is None else f" from {self.min_value}"
            high = "" if self.max_value is None else f" up to {self.max_value}"
            return f"whole number{low}{high}"
        return {"bool": "true | false", "int": "whole number", "time": "HH:MM"}[self.kind]


_REGISTRY: dict[str, SettingDefinition] = {}


def register(definition: SettingDefinition) -> SettingDefinition:
    """Add a key to the registry (again with the same definition is fine); returns the definition."""
    if definition.key in _REGISTRY and _REGISTRY[definition.key] != definition:
        raise ValueError(f"Setting {definition.key} is registered twice with different definitions.")
    definition.parse(definition.default)  # a default that fails its own validation is a programming error
    _REGISTRY[definition.key] = definition
    return definition


def definition(key: str) -> SettingDefinition:
    """The registered definition of ``key`` (any case); UnknownSettingError naming the known keys."""
    try:
        return _REGISTRY[key.upper()]
    except KeyError:
        raise UnknownSettingError(key) from None


def definitions() -> list[SettingDefinition]:
    """Every registered key, by group and name."""
    return sorted(_REGISTRY.values(), key=lambda item: (item.group, item.key))
