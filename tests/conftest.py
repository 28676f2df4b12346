import pytest
from django.db import connection

from tests.builders import make_owner, make_staff_user


def pytest_collection_modifyitems(config, items):
    """Tests marked ``postgres`` need PostgreSQL's real behaviour (locks, pg_dump); elsewhere they skip."""
    from django.conf import settings

    if settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
        return
    skip = pytest.mark.skip(reason="needs PostgreSQL: run with DATABASE_URL=postgres://…")
    for item in items:
        if "postgres" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """The test database as migrate leaves it, minus the default and managed schedules its post_migrate
    receiver creates (jobs/after_migrate.py, tested on a fresh database of its own): every test makes the
    schedules it is about, and a flush between transactional tests leaves none either."""
    from jobs.models import Schedule

    with django_db_blocker.unblock():
        Schedule.objects.all().delete()


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    """PBKDF2's million rounds cost over half a second per test user here; no test needs strong hashes."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def global_owner(request):
    """Owner 0 comes from a data migration, and a transactional test's flush removes it: put it back."""
    marker = request.node.get_closest_marker("django_db")
    if marker is None:
        return None
    transactional = marker.kwargs.get("transaction", False) or (marker.args and marker.args[0])
    request.getfixturevalue("transactional_db" if transactional else "db")
    from tenants.models import GLOBAL_OWNER_ID, Owner

    if not Owner.objects.filter(pk=GLOBAL_OWNER_ID).exists():
        # Like the data migration: no post_save, so no listener (e.g. backup schedules) reacts to it.
        Owner.objects.bulk_create([Owner(pk=GLOBAL_OWNER_ID, name="Global", slug="global", timezone="UTC")])
    return Owner.objects.get(pk=GLOBAL_OWNER_ID)


@pytest.fixture
def on_postgres() -> bool:
    return connection.vendor == "postgresql"


@pytest.fixture
def owner(db):
    return make_owner("Acme", timezone="Europe/London", contact_email="ops@acme.test")


@pytest.fixture
def other_owner(db):
    return make_owner("Globex", timezone="America/New_York", contact_email="ops@globex.test")


@pytest.fixture
def member(owner):
    """A staff user who administers ``owner`` only."""
    return make_staff_user(owner)


@pytest.fixture
def outsider(other_owner):
    """A staff user who administers ``other_owner`` only: must never see ``owner``'s rows."""
    return make_staff_user(other_owner)
