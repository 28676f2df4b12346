"""What the apps above add to an owner's page in the admin, without the owners knowing them.

``tenants`` sits below the apps that keep per-owner things (backups, for one), so it cannot ask them; they
register a section here from their ``AppConfig.ready`` and the owner admin shows every section at the top
of the owner's page, in registration order. A section renders read-only HTML for the viewer; links (to a
confirmation page, never a nested form) are how it offers actions.
"""

from collections.abc import Callable
from dataclasses import dataclass

from django.http import HttpRequest
from django.utils.safestring import SafeString

from tenants.models import Owner


@dataclass(frozen=True)
class OwnerPageSection:
    title: str
    # render(request, owner) -> safe HTML; the request says who looks (what they may do, their zone).
    render: Callable[[HttpRequest, Owner], SafeString]


_SECTIONS: dict[str, OwnerPageSection] = {}


def add_owner_page_section(title: str, render: Callable[[HttpRequest, Owner], SafeString]) -> None:
    """Show ``render(request, owner)`` under ``title`` on every owner's page (a second call replaces it)."""
    _SECTIONS[title] = OwnerPageSection(title, render)


def owner_page_sections() -> list[OwnerPageSection]:
    return list(_SECTIONS.values())
