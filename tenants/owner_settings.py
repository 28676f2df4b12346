"""Per-owner setting values: stored per owner, resolved owner → global owner → Django setting → environment →
code default.

Values are stored as canonical text in ``OwnerSetting``; reading goes through ``resolve()`` so every caller
sees the same inheritance. What a key is (type, default, validation) is the registry's
(``tenants.setting_keys``), where each app registers its own keys. Stored changes are announced with
``owner_setting_changed``.
"""

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.conf import settings as django_settings
from django.db import models, transaction
from django.dispatch import Signal

from tenants.models import GLOBAL_OWNER_ID, OwnerSetting
from tenants.setting_keys import SettingDefinition, SettingValueError, definition, definitions

logger = logging.getLogger(__name__)

# Sent after commit whenever an owner's stored value changes: kwargs owner_id, key.
owner_setting_changed = Signal()


class Source(models.TextChoices):
    OWNER = "own", "own value"
    GLOBAL = "global", "inherited from the global owner"
    SETTING = "setting", "Django setting / environment"
    DEFAULT = "default", "code default"


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


def _fallback(item: SettingDefinition) -> ResolvedSetting:
    """Nothing stored: the key's Django setting, else its environment variable, else its code default."""
    if hasattr(django_settings, item.key):
        configured = getattr(django_settings, item.key)
    else:
        configured = django_settings.OWNER_SETTING_ENVIRONMENT.get(item.key)
    if configured is None:
        return ResolvedSetting(item, item.default, Source.DEFAULT)
    return ResolvedSetting(item, item.parse(configured), Source.SETTING)


def resolve_all(owner_id: int, keys: Iterable[str] | None = None) -> dict[str, ResolvedSetting]:
    """Effective values for one owner (all keys, or the ones named), in one query."""
    return _resolve(owner_id, keys, own=True)


def inherited_all(owner_id: int, keys: Iterable[str] | None = None) -> dict[str, ResolvedSetting]:
    """What each key would be for the owner without an own value of its own (one query): the global
    owner's value for other owners, the Django setting / environment / code default for the global one."""
    return _resolve(owner_id, keys, own=False)


def _resolve(owner_id: int, keys: Iterable[str] | None, *, own: bool) -> dict[str, ResolvedSetting]:
    wanted = [definition(key) for key in keys] if keys is not None else definitions()
    rows = OwnerSetting.objects.filter(
        owner_id__in={owner_id, GLOBAL_OWNER_ID}, key__in=[item.key for item in wanted]
    ).values_list("owner_id", "key", "value")
    stored = {(row_owner, key): value for row_owner, key, value in rows}
    sources = [(owner_id, Source.OWNER), (GLOBAL_OWNER_ID, Source.GLOBAL)]
    if not own:
        sources = [] if owner_id == GLOBAL_OWNER_ID else sources[1:]
    resolved = {}
    for item in wanted:
        for row_owner, source in sources:
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
