"""Environment variables asked for by name, for settings whose names are not known when settings load."""

from collections.abc import Mapping


class EnvironmentLookup:
    """Answers ``get(name)`` from the environment, and nothing else.

    It cannot be listed or printed, so a dump of the settings (the debug page, ``diffsettings``) shows no
    environment value through it, secrets included.
    """

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._environ = environ

    def get(self, name: str) -> str | None:
        return self._environ.get(name)

    def __repr__(self) -> str:
        return "<environment variables, asked for by name>"
