from datetime import UTC, datetime

import pytest


@pytest.fixture
def now() -> datetime:
    """A fixed instant every outbox test starts from: Monday 2 March 2026, 09:00 UTC."""
    return datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
