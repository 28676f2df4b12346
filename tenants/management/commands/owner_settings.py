import json

from django.core.management.base import BaseCommand, CommandError, CommandParser

from config.commands import DatabaseErrorAsCommandError
from tenants import owner_settings, setting_keys
from tenants.lookup import OwnerNotFound, find_owner


class Command(DatabaseErrorAsCommandError, BaseCommand):
    help = (
        "Read and change per-owner settings. OWNER is an id or slug (0 or 'global' is the global owner). "
        "`get OWNER [KEY]` shows the effective value and where it comes from; `set OWNER KEY VALUE` stores "
        "the owner's own value; `unset OWNER KEY` makes it inherit again."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True, metavar="get|set|unset")
        get = actions.add_parser("get", help="Show effective values (all keys, or one).")
        get.add_argument("owner")
        get.add_argument("key", nargs="?")
        get.add_argument("--json", action="store_true", help="Print JSON instead of text.")
        set_ = actions.add_parser("set", help="Store the owner's own value for a key.")
        set_.add_argument("owner")
        set_.add_argument("key")
        set_.add_argument("value")
        unset = actions.add_parser("unset", help="Remove the owner's own value so it inherits.")
        unset.add_argument("owner")
        unset.add_argument("key")

    def handle(self, *args, action: str, **options) -> None:
        try:
            owner = find_owner(options["owner"])
            if action == "get":
                self.show(owner.pk, options["key"], as_json=options["json"])
            elif action == "set":
                value = owner_settings.set_value(owner.pk, options["key"], options["value"])
                key = setting_keys.definition(options["key"]).key
                self.stdout.write(f"{key}={setting_keys.definition(key).serialize(value)} set for {owner}.")
            else:
                key = setting_keys.definition(options["key"]).key
                removed = owner_settings.unset(owner.pk, key)
                effective = owner_settings.resolve(owner.pk, key)
                prefix = "Removed" if removed else "No own value for"
                self.stdout.write(
                    f"{prefix} {key} on {owner}; now {effective.display} ({effective.source.label})."
                )
        except (OwnerNotFound, setting_keys.UnknownSettingError, setting_keys.SettingValueError) as error:
            raise CommandError(str(error)) from None

    def show(self, owner_id: int, key: str | None, *, as_json: bool) -> None:
        resolved = owner_settings.resolve_all(owner_id, [key] if key else None)
        if as_json:
            payload = {
                item.key: {"value": item.display, "source": item.source.value} for item in resolved.values()
            }
            self.stdout.write(json.dumps(payload, indent=2))
            return
        for item in resolved.values():
            self.stdout.write(f"{item.key}={item.display}  ({item.source.label})")
