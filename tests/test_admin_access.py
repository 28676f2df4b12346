"""Every admin, driven from the admin site's registry: what a member of owner A reaches through their role.

A member holds a membership of Acme and nothing else (no permissions, no groups). Role admin works on
Acme's rows as a superuser could (except creating and deleting owners); role viewer looks and is refused
every change; both get 404 for Globex's rows, and anonymous users are sent to the login page. An admin
registered later is covered without editing this file, or fails the classification tests until it is.
"""

import re
from dataclasses import dataclass

import pytest
from django.apps import apps
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.db.models import ForeignKey, Model
from django.test import RequestFactory
from django.urls import URLResolver, get_resolver, reverse

from tenants.models import Membership, Owner
from tenants.permissions import owner_scoped_models
from tenants.scoping import OwnerScopedAdminMixin, SuperuserOnlyAdminMixin
from tests.admin_rows import make_admin_rows
from tests.backups.builders import use_file_storage
from tests.builders import make_owner, make_staff_user, make_staff_user_with_every_permission, make_superuser

pytestmark = pytest.mark.django_db


def label(model: type[Model]) -> str:
    return model._meta.label_lower


REGISTRY = sorted(admin.site._registry.items(), key=lambda item: label(item[0]))
OWNER_SCOPED = [
    (model, model_admin) for model, model_admin in REGISTRY if isinstance(model_admin, OwnerScopedAdminMixin)
]
SUPERUSER_ONLY = [
    (model, model_admin)
    for model, model_admin in REGISTRY
    if isinstance(model_admin, SuperuserOnlyAdminMixin)
]
ROLES = [Membership.Role.ADMIN, Membership.Role.VIEWER]
STANDARD_VIEWS = ("changelist", "add", "history", "delete", "change")
# The admins' own URLs beyond the standard views: the method that acts, and what it needs.
CUSTOM_URLS = {
    "jobs_schedule_run_now": ("POST", "run"),
    "jobs_jobrun_cancel": ("POST", "run"),
    "jobs_jobrun_retry": ("POST", "run"),
    "backups_backup_download": ("GET", "view"),
    "backups_backup_restore": ("GET", "run"),
}
# The admins' own URLs that read no row (no object id): the query they are opened with, and what they need
# (view: any staff member of an owner; run: an admin of an owner, for that owner's rows only).
ROWLESS_URLS = {
    "jobs_schedule_cron_preview": ("?expression=0+3+*+*+*&timezone=UTC", "view"),
    "backups_backup_back_up_now": ("", "run"),
}
# What only a superuser does, even where an owner's admin could otherwise.
SUPERUSER_CALLS = {"tenants.owner": {"add", "delete"}}


def ids(cases) -> list[str]:
    return [label(case[0]) if isinstance(case, tuple) else str(case) for case in cases]


def url_name(model: type[Model], view: str) -> str:
    return f"{model._meta.app_label}_{model._meta.model_name}_{view}"


def custom_url_names(model: type[Model], model_admin, *, rowless: bool = False) -> list[str]:
    standard = {url_name(model, view) for view in STANDARD_VIEWS}
    return [
        pattern.name
        for pattern in model_admin.get_urls()
        if pattern.name
        and pattern.name not in standard
        and ("object_id" not in str(pattern.pattern)) == rowless
    ]


def superuser_request():
    """A request as a superuser sees the admin, for asking an admin what it offers (no database needed)."""
    request = RequestFactory().get("/")
    request.user = type("Superuser", (), {"is_active": True, "is_staff": True, "is_superuser": True})()
    request.user.has_perm = lambda *args: True
    return request


def action_names(model_admin) -> list[str]:
    return sorted(model_admin.get_actions(superuser_request()))


ACTIONS = [(model, name) for model, model_admin in OWNER_SCOPED for name in action_names(model_admin)]
CUSTOM = [
    (model, name) for model, model_admin in OWNER_SCOPED for name in custom_url_names(model, model_admin)
]


def autocomplete_source(model: type[Model]) -> ForeignKey | None:
    """Some foreign key pointing at ``model``: the admin's autocomplete answers for such a field."""
    for source in sorted(apps.get_models(), key=label):
        for field in source._meta.concrete_fields:
            if isinstance(field, ForeignKey) and field.related_model is model:
                return field
    return None


AUTOCOMPLETE_SOURCES = [
    (model, autocomplete_source(model))
    for model, model_admin in OWNER_SCOPED
    if model_admin.search_fields and autocomplete_source(model) is not None
]


@dataclass
class World:
    acme: Owner
    globex: Owner
    mine: dict[str, Model]
    theirs: dict[str, Model]
    superuser: object

    def may(self, model: type[Model], role: str, permission: str, row: Model | None = None) -> bool:
        """What ``role`` may do on Acme's ``row``: viewers look; admins do what a superuser may."""
        if permission == "view":
            return True
        if role != Membership.Role.ADMIN or permission in SUPERUSER_CALLS.get(label(model), ()):
            return False
        request = RequestFactory().get("/")
        request.user = self.superuser
        model_admin = admin.site.get_model_admin(model)
        if permission == "add":
            return model_admin.has_add_permission(request)
        return getattr(model_admin, f"has_{permission}_permission")(request, row)


@pytest.fixture
def world(settings, tmp_path) -> World:
    use_file_storage(settings, tmp_path / "backups")
    acme, globex = make_owner("Acme"), make_owner("Globex")
    return World(acme, globex, make_admin_rows(acme), make_admin_rows(globex), make_superuser())


def log_in(client, world: World, role: str):
    client.force_login(make_staff_user(world.acme, role=role))
    return client


def everything(models: list[type[Model]] | None = None) -> dict[str, list[tuple]]:
    """Every row of every owner-scoped model, to show that a refused request changed nothing."""
    models = models or [scoped.model for scoped in owner_scoped_models()]
    return {label(model): list(model._default_manager.order_by("pk").values_list()) for model in models}


def refused(response) -> bool:
    return response.status_code == 403


# --- The registry: every admin is one of two kinds, and the tables below cover all of them -------------


def test_every_registered_admin_is_owner_scoped_or_for_superusers_only():
    neither = [
        label(model)
        for model, model_admin in REGISTRY
        if (model, model_admin) not in OWNER_SCOPED + SUPERUSER_ONLY
    ]
    assert neither == []
    assert OWNER_SCOPED and SUPERUSER_ONLY


def test_every_owner_scoped_admin_has_rows_to_be_tested_with(world):
    assert set(world.mine) == {label(model) for model, _ in OWNER_SCOPED}


def test_roles_grant_permissions_on_the_owner_scoped_admins_and_their_inlines_only():
    assert {label(scoped.model) for scoped in owner_scoped_models()} == {
        label(model) for model, _ in OWNER_SCOPED
    }


def test_every_custom_admin_url_is_listed_with_what_it_needs():
    assert {name for _, name in CUSTOM} == set(CUSTOM_URLS)
    rowless = {
        name
        for model, model_admin in OWNER_SCOPED
        for name in custom_url_names(model, model_admin, rowless=True)
    }
    assert rowless == set(ROWLESS_URLS)


def test_back_up_now_starts_backups_of_the_members_owner_only(client, world):
    from jobs.models import JobRun

    url = reverse("admin:backups_backup_back_up_now")
    log_in(client, world, Membership.Role.ADMIN)

    refused = client.post(url, {"owner": world.globex.pk})
    offered = client.get(f"{url}?owner={world.globex.pk}")
    assert refused.status_code == 200 and "owner" in refused.context["form"].errors
    assert not JobRun.objects.filter(owner=world.globex, job_name="backups.run").exists()
    assert [owner.pk for owner in offered.context["form"].fields["owner"].queryset] == [world.acme.pk]

    log_in(client, world, Membership.Role.VIEWER)
    assert client.post(url, {"owner": world.acme.pk}).status_code == 403
    assert not JobRun.objects.filter(job_name="backups.run").exists()


@pytest.mark.parametrize("name", sorted(ROWLESS_URLS))
def test_rowless_admin_urls_open_for_members_by_role_and_send_others_to_the_login_page(client, world, name):
    query, needs = ROWLESS_URLS[name]
    url = reverse(f"admin:{name}") + query
    customer = get_user_model().objects.create_user("customer")  # logged in, but not staff
    Membership.objects.create(user=customer, owner=world.acme, role=Membership.Role.ADMIN)

    anonymous = client.get(url)
    client.force_login(customer)
    not_staff = client.get(url)
    log_in(client, world, Membership.Role.VIEWER)
    viewer = client.get(url)
    log_in(client, world, Membership.Role.ADMIN)
    admin_member = client.get(url)

    assert anonymous.status_code == not_staff.status_code == 302
    assert "/admin/login/" in anonymous["Location"] and "/admin/login/" in not_staff["Location"]
    assert viewer.status_code == (200 if needs == "view" else 403)
    assert admin_member.status_code == 200
    assert "Globex" not in admin_member.text


def test_the_django_q2_and_account_admins_are_for_superusers_only():
    superuser_only = {label(model) for model, _ in SUPERUSER_ONLY}
    assert {
        "auth.user",
        "tenants.membership",
        "jobs.jobswitch",
        "django_q.schedule",
        "django_q.success",
    } <= superuser_only
    assert "auth.group" not in {label(model) for model, _ in REGISTRY}  # groups grant nothing here


# --- Owner-scoped admins ---------------------------------------------------------------------------


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(("model", "model_admin"), OWNER_SCOPED, ids=ids(OWNER_SCOPED))
def test_the_list_shows_the_members_owner_and_nothing_of_another(client, world, model, model_admin, role):
    log_in(client, world, role)
    mine, theirs = world.mine[label(model)], world.theirs[label(model)]

    page = client.get(reverse(f"admin:{url_name(model, 'changelist')}"))

    assert page.status_code == 200
    assert reverse(f"admin:{url_name(model, 'change')}", args=[mine.pk]) in page.text
    assert reverse(f"admin:{url_name(model, 'change')}", args=[theirs.pk]) not in page.text
    assert "Globex" not in page.text


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(("model", "model_admin"), OWNER_SCOPED, ids=ids(OWNER_SCOPED))
def test_filtering_the_list_by_another_owners_id_shows_none_of_its_rows(
    client, world, model, model_admin, role
):
    log_in(client, world, role)
    theirs = world.theirs[label(model)]
    lookups = ("id__exact", "pk") if model is Owner else ("owner_id", "owner__id__exact")

    for query in ({lookup: world.globex.pk} for lookup in lookups):
        page = client.get(reverse(f"admin:{url_name(model, 'changelist')}"), query, follow=True)
        assert page.status_code in (200, 400)
        assert reverse(f"admin:{url_name(model, 'change')}", args=[theirs.pk]) not in page.text
        assert "Globex" not in page.text


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(("model", "model_admin"), OWNER_SCOPED, ids=ids(OWNER_SCOPED))
def test_the_change_page_opens_for_own_rows_changes_by_role_and_is_404_for_another_owner(
    client, world, model, model_admin, role
):
    log_in(client, world, role)
    mine, theirs = world.mine[label(model)], world.theirs[label(model)]
    own_url = reverse(f"admin:{url_name(model, 'change')}", args=[mine.pk])
    their_url = reverse(f"admin:{url_name(model, 'change')}", args=[theirs.pk])
    before = everything()

    assert client.get(own_url).status_code == 200
    assert client.get(their_url).status_code == 404
    assert client.post(their_url, {}).status_code == 404
    posted = client.post(own_url, {})

    if world.may(model, role, "change", mine):
        assert posted.status_code in (200, 302)
    else:
        assert refused(posted)
        assert everything() == before


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(("model", "model_admin"), OWNER_SCOPED, ids=ids(OWNER_SCOPED))
def test_the_add_page_follows_the_role(client, world, model, model_admin, role):
    log_in(client, world, role)
    url = reverse(f"admin:{url_name(model, 'add')}")
    before = everything()

    page, posted = client.get(url), client.post(url, {})

    if world.may(model, role, "add"):
        assert page.status_code == 200
        assert "Globex" not in page.text  # owner and related-row choices are Acme's only
    else:
        assert refused(page) and refused(posted)
        assert everything() == before


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(("model", "model_admin"), OWNER_SCOPED, ids=ids(OWNER_SCOPED))
def test_the_delete_page_follows_the_role_and_is_404_for_another_owner(
    client, world, model, model_admin, role
):
    log_in(client, world, role)
    mine, theirs = world.mine[label(model)], world.theirs[label(model)]
    own_url = reverse(f"admin:{url_name(model, 'delete')}", args=[mine.pk])
    their_url = reverse(f"admin:{url_name(model, 'delete')}", args=[theirs.pk])
    before = everything()

    assert client.get(their_url).status_code == 404
    assert client.post(their_url, {"post": "yes"}).status_code == 404
    page = client.get(own_url)

    if world.may(model, role, "delete", mine):
        assert page.status_code == 200
        assert "Globex" not in page.text  # the list of what would go with it
    else:
        assert refused(page)
        assert refused(client.post(own_url, {"post": "yes"}))
    assert everything() == before


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(("model", "model_admin"), OWNER_SCOPED, ids=ids(OWNER_SCOPED))
def test_the_history_opens_for_own_rows_and_is_404_for_another_owner(client, world, model, model_admin, role):
    log_in(client, world, role)

    own = client.get(reverse(f"admin:{url_name(model, 'history')}", args=[world.mine[label(model)].pk]))
    theirs = client.get(reverse(f"admin:{url_name(model, 'history')}", args=[world.theirs[label(model)].pk]))

    assert (own.status_code, theirs.status_code) == (200, 404)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(("model", "name"), CUSTOM, ids=[name for _, name in CUSTOM])
def test_custom_urls_follow_the_role_and_are_404_for_another_owner(client, world, model, name, role):
    log_in(client, world, role)
    method, needs = CUSTOM_URLS[name]
    send = client.post if method == "POST" else client.get
    mine, theirs = world.mine[label(model)], world.theirs[label(model)]
    before = everything()

    assert client.get(reverse(f"admin:{name}", args=[theirs.pk])).status_code == 404
    assert client.post(reverse(f"admin:{name}", args=[theirs.pk])).status_code == 404
    response = send(reverse(f"admin:{name}", args=[mine.pk]))

    if needs == "view" or world.may(model, role, needs, mine):
        assert response.status_code in (200, 302)
    else:
        assert refused(response)
        assert everything() == before


@pytest.mark.parametrize(("model", "action"), ACTIONS, ids=[f"{label(m)}:{a}" for m, a in ACTIONS])
def test_actions_are_not_offered_to_viewers_and_touch_no_row_of_another_owner(client, world, model, action):
    changelist = reverse(f"admin:{url_name(model, 'changelist')}")
    mine, theirs = world.mine[label(model)], world.theirs[label(model)]
    before = everything()

    needs = set(
        getattr(
            admin.site.get_model_admin(model).get_actions(superuser_request())[action][0],
            "allowed_permissions",
            (),
        )
    )

    log_in(client, world, Membership.Role.VIEWER)
    offered = client.get(changelist).text
    client.post(changelist, {"action": action, "_selected_action": [mine.pk], "post": "yes"})
    assert needs - {"view"}, f"{action} declares no permission beyond view: say which one it needs"
    assert f'value="{action}"' not in offered
    assert everything() == before

    member = make_staff_user(world.acme)
    client.force_login(member)
    client.post(changelist, {"action": action, "_selected_action": [theirs.pk], "post": "yes"})
    assert everything() == before
    # The same member only views a third owner: selecting its row with one of theirs acts on neither.
    initech = make_owner("Initech")
    viewed = make_admin_rows(initech)[label(model)]
    Membership.objects.create(user=member, owner=initech, role=Membership.Role.VIEWER)
    before = everything()
    client.post(changelist, {"action": action, "_selected_action": [viewed.pk], "post": "yes"})
    assert everything() == before
    acted = client.post(changelist, {"action": action, "_selected_action": [mine.pk]})
    assert acted.status_code in (200, 302)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(
    ("model", "source"),
    AUTOCOMPLETE_SOURCES,
    ids=[f"{label(m)}<-{f.model._meta.label_lower}.{f.name}" for m, f in AUTOCOMPLETE_SOURCES],
)
def test_autocomplete_offers_the_members_rows_only(client, world, model, source, role):
    log_in(client, world, role)
    query = {
        "app_label": source.model._meta.app_label,
        "model_name": source.model._meta.model_name,
        "field_name": source.name,
        "term": "",
    }

    response = client.get(reverse("admin:autocomplete"), query)

    offered = {int(result["id"]) for result in response.json()["results"]}
    assert world.mine[label(model)].pk in offered
    assert world.theirs[label(model)].pk not in offered


@pytest.mark.parametrize(("model", "model_admin"), OWNER_SCOPED, ids=ids(OWNER_SCOPED))
def test_anonymous_users_are_sent_to_the_login_page(client, world, model, model_admin):
    mine = world.mine[label(model)]
    urls = [reverse(f"admin:{url_name(model, view)}") for view in ("changelist", "add")]
    urls += [
        reverse(f"admin:{url_name(model, view)}", args=[mine.pk]) for view in ("change", "delete", "history")
    ]
    urls += [reverse(f"admin:{name}", args=[mine.pk]) for name in custom_url_names(model, model_admin)]
    before = everything()

    for url in urls:
        for response in (client.get(url), client.post(url, {"post": "yes"})):
            assert response.status_code == 302, url
            assert response["Location"].startswith(reverse("admin:login")), url
    assert everything() == before


# --- Superuser-only admins -------------------------------------------------------------------------

KINDS_OF_STAFF = ["admin", "viewer", "staff holding every permission"]


def staff_of_kind(world: World, kind: str):
    if kind == "staff holding every permission":
        return make_staff_user_with_every_permission(world.acme)
    return make_staff_user(
        world.acme, role=Membership.Role.ADMIN if kind == "admin" else Membership.Role.VIEWER
    )


def some_pk(model: type[Model], user) -> str:
    """A row of the model to try: the member's own user or membership, any other row, or an unused id."""
    if label(model) == "auth.user":
        return str(user.pk)
    if label(model) == "tenants.membership":
        return str(user.memberships.first().pk if user.memberships.exists() else 1)
    first = model._default_manager.order_by("pk").first()
    return str(first.pk) if first else "1"


@pytest.mark.parametrize("kind", KINDS_OF_STAFF)
@pytest.mark.parametrize(("model", "model_admin"), SUPERUSER_ONLY, ids=ids(SUPERUSER_ONLY))
def test_superuser_only_admins_refuse_every_member_whatever_they_hold(
    client, world, model, model_admin, kind
):
    user = staff_of_kind(world, kind)
    client.force_login(user)
    pk = some_pk(model, user)
    urls = [reverse(f"admin:{url_name(model, view)}") for view in ("changelist", "add")]
    urls += [reverse(f"admin:{url_name(model, view)}", args=[pk]) for view in ("change", "delete", "history")]
    urls += [reverse(f"admin:{name}", args=[pk]) for name in custom_url_names(model, model_admin)]
    before = everything([model])

    for url in urls:
        assert client.get(url).status_code in (403, 404), url
        assert client.post(url, {"post": "yes", "is_superuser": "on"}).status_code in (403, 404), url
    assert everything([model]) == before


@pytest.mark.parametrize("kind", KINDS_OF_STAFF)
def test_the_index_and_app_pages_list_the_members_admins_and_hide_the_rest(client, world, kind):
    client.force_login(staff_of_kind(world, kind))

    index = client.get(reverse("admin:index")).text
    app_pages = {
        model._meta.app_label: client.get(reverse("admin:app_list", args=[model._meta.app_label]))
        for model, _ in REGISTRY
    }

    for model, _ in OWNER_SCOPED:
        assert reverse(f"admin:{url_name(model, 'changelist')}") in index
    for model, _ in SUPERUSER_ONLY:
        changelist = reverse(f"admin:{url_name(model, 'changelist')}")
        assert changelist not in index
        page = app_pages[model._meta.app_label]
        assert page.status_code == 404 or changelist not in page.text


def test_a_superuser_still_reaches_every_admin(client, world):
    client.force_login(world.superuser)

    for model, _ in REGISTRY:
        assert client.get(reverse(f"admin:{url_name(model, 'changelist')}")).status_code == 200, label(model)


def test_django_q2s_schedule_admin_is_read_only_and_says_why(client, world):
    from django_q.models import Schedule as QSchedule

    unused = QSchedule.objects.create(func="math.floor", name="left over")
    client.force_login(world.superuser)

    listing = client.get(reverse("admin:django_q_schedule_changelist"))
    page = client.get(reverse("admin:django_q_schedule_change", args=[unused.pk]))

    assert "these rows never run" in listing.text and "these rows never run" in page.text
    assert client.get(reverse("admin:django_q_schedule_add")).status_code == 403
    assert client.get(reverse("admin:django_q_schedule_delete", args=[unused.pk])).status_code == 403
    assert 'name="_save"' not in page.text


def test_anonymous_users_reach_no_admin_page(client, world):
    for model, _ in REGISTRY:
        response = client.get(reverse(f"admin:{url_name(model, 'changelist')}"))
        assert response.status_code == 302 and response["Location"].startswith(reverse("admin:login"))


# --- Every other URL of the site -------------------------------------------------------------------

# URLs anyone may open without logging in, on purpose.
# Probes answer without a login (no secrets in them); /metrics wants its bearer token instead (tests/ops).
PUBLIC_URLS: set[str] = {"/healthz", "/readyz", "/metrics"}


def site_urls(patterns=None, prefix: str = "/") -> list[str]:
    """Every URL outside the admin site's own (covered above), with "1" for each parameter."""
    found = []
    for pattern in get_resolver().url_patterns if patterns is None else patterns:
        route = prefix + re.sub(r"<[^>]+>", "1", str(pattern.pattern))
        if isinstance(pattern, URLResolver):
            if pattern.app_name != "admin":
                found += site_urls(pattern.url_patterns, route)
        else:
            found.append(route)
    return found


def test_every_other_url_sends_anonymous_and_non_staff_users_to_the_login_page(client, world):
    urls = [url for url in site_urls() if url not in PUBLIC_URLS]
    customer = get_user_model().objects.create_user("customer")  # logged in, but not staff
    Membership.objects.create(user=customer, owner=world.acme, role=Membership.Role.ADMIN)

    assert "/admin/ops/dashboard/" in urls and "/backups/download/1/" in urls
    assert {"/admin/ops/dashboard/live/", "/admin/ops/timezone/"} <= set(urls)
    for user in (None, customer):
        if user is not None:
            client.force_login(user)
        for url in urls:
            response = client.get(url)
            assert response.status_code == 302, url
            assert response["Location"].startswith(reverse("admin:login")), url
