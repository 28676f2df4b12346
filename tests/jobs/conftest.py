import pytest

from tests.jobs import sample_jobs


@pytest.fixture(autouse=True)
def clean_sample_calls():
    sample_jobs.CALLS.clear()
    sample_jobs.HOOKED.clear()
    sample_jobs.STARTED.clear()
    yield
