"""A tenant member with a membership and nothing else walks their whole admin in a real browser.

Both roles. From the index, the dashboard and the restore page (reached by a POST), the walk follows every
admin link a page offers, query strings included (filters, sorting, search, paging, date drill-downs), at
most ``QUERY_VARIANTS`` distinct queries per page; submits each list's "Delete selected" action (admins) to
its confirmation page; and asks the JSON endpoints a page calls (autocomplete of every searchable model,
the cron preview). Every page must answer 200 and show nothing of the other tenant: neither its name, its
slug, its contact address nor any of its rows, all of which carry "globex" (case does not matter).
"""

import re
from urllib.parse import urlencode

import pytest

from tenants.models import Membership
from tests.admin_rows import make_admin_rows
from tests.backups.builders import use_file_storage
from tests.builders import make_owner, make_staff_user
from tests.test_admin_access import AUTOCOMPLETE_SOURCES

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

MAX_PAGES = 400
QUERY_VARIANTS = 4
OTHER_TENANT = re.compile("globex", re.IGNORECASE)


def admin_links(page) -> set[str]:
    """The admin URLs a page links to (with their query strings), downloads and logout left out."""
    hrefs = page.eval_on_selector_all("a[href]", "links => links.map(link => link.getAttribute('href'))")
    links = set()
    for href in hrefs:
        url = href.split("#")[0]
        if url.startswith("?"):
            url = page.url.split("://", 1)[1].split("/", 1)[1].split("?")[0] + url
            url = "/" + url.lstrip("/")
        if url.startswith("/admin/") and "/download/" not in url and "/logout/" not in url:
            links.add(url)
    return links


class Walk:
    def __init__(self, browsing) -> None:
        self.browsing = browsing
        self.statuses: dict[str, int] = {}
        self.variants: dict[str, int] = {}

    def wanted(self, url: str) -> bool:
        path, _, query = url.partition("?")
        if url in self.statuses:
            return False
        return not query or self.variants.get(path, 0) < QUERY_VARIANTS

    def visit(self, url: str) -> str:
        path, _, query = url.partition("?")
        if query:
            self.variants[path] = self.variants.get(path, 0) + 1
        response = self.browsing.open(url)
        self.statuses[url] = response.status
        content = self.browsing.page.content()
        leak = OTHER_TENANT.search(content)
        assert leak is None, f"{url} shows the other tenant: …{content[leak.start() - 80 : leak.end() + 80]}…"
        return content

    def run(self, start: list[str]) -> None:
        waiting = list(start)
        while waiting and len(self.statuses) < MAX_PAGES:
            url = waiting.pop(0)
            if not self.wanted(url):
                continue
            content = self.visit(url)
            if 'name="action"' in content and "?" not in url:
                self.confirm_delete_selected(url)
            waiting.extend(sorted(link for link in admin_links(self.browsing.page) if self.wanted(link)))

    def confirm_delete_selected(self, url: str) -> None:
        """Select every row of the list and ask to delete them: the confirmation page; nothing is deleted."""
        page = self.browsing.page
        offered = page.locator("select[name=action] option[value=delete_selected]").count()
        if not offered or page.locator("#action-toggle").count() == 0:
            return
        page.check("#action-toggle")
        page.select_option("select[name=action]", "delete_selected")
        with page.expect_navigation() as navigation:
            page.click("button[name=index]")
        confirmation = page.content()
        # The confirmation page, or the list again saying why nothing may be deleted (managed schedules).
        self.statuses[f"{url} (delete selected)"] = navigation.value.status
        assert OTHER_TENANT.search(confirmation) is None, (
            f"{url}: the delete confirmation shows the other tenant"
        )


@pytest.mark.parametrize("role", [Membership.Role.ADMIN, Membership.Role.VIEWER])
def test_a_member_with_only_a_membership_walks_their_whole_admin_without_meeting_another_tenant(
    browsing, settings, tmp_path, role
):
    use_file_storage(settings, tmp_path / "backups")
    acme, globex = make_owner("Acme"), make_owner("Globex")
    backup = make_admin_rows(acme)["backups.backup"]
    make_admin_rows(globex)
    make_staff_user(acme, role=role, username="alice")  # a membership, no permissions, no groups

    browsing.log_in("alice")
    walk = Walk(browsing)
    # The restore page is reached through an action (a POST), so the walk starts there too.
    walk.run(["/admin/", "/admin/ops/dashboard/", f"/admin/backups/backup/{backup.pk}/restore/"])
    for _model, source in AUTOCOMPLETE_SOURCES:
        query = {"app_label": source.model._meta.app_label, "model_name": source.model._meta.model_name}
        walk.visit(f"/admin/autocomplete/?{urlencode({**query, 'field_name': source.name, 'term': ''})}")
    walk.visit(
        "/admin/jobs/schedule/cron-preview/?" + urlencode({"expression": "0 3 * * *", "timezone": "UTC"})
    )

    print(f"{role}: {len(walk.statuses)} pages and endpoints")
    assert len(walk.statuses) < MAX_PAGES, "the walk did not finish; raise MAX_PAGES"
    refused = {url: status for url, status in walk.statuses.items() if status != 200}
    if role == Membership.Role.ADMIN:
        assert refused == {}
        assert any(url.endswith("(delete selected)") for url in walk.statuses)
    else:
        # A viewer meets no change form, add page or action: only the restore page, which is for admins.
        assert refused == {f"/admin/backups/backup/{backup.pk}/restore/": 403}
    visited_models = {url.split("/")[3] for url in walk.statuses if url.count("/") >= 4}
    assert {"schedule", "jobrun", "backup", "owner", "stockitem", "invoice", "notification"} <= visited_models
    assert any("?" in url for url in walk.statuses)  # filters, sorting and the like were followed
    assert not any(part in url for url in walk.statuses for part in ("/auth/", "/django_q/", "/membership/"))
    assert browsing.external_requests == []
