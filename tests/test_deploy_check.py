"""`check --deploy` under the production settings of .env.example, after the static files are collected."""

import pytest

from tests.deploy.servers import manage, production_env

PRODUCTION = {
    "ALLOWED_HOSTS": "scheduler.example.com",
    "REDIS_URL": "redis://127.0.0.1:6379/0",
    "BACKUP_STORAGE_URL": "s3://backups-bucket/scheduler",
    "SECURE_SSL_REDIRECT": "true",
    "SECURE_COOKIES": "true",
    "SECURE_HSTS_SECONDS": "31536000",
    "METRICS_TOKEN": "a-long-random-token",
}


@pytest.fixture
def environment(tmp_path):
    return production_env(tmp_path, **PRODUCTION)


def test_production_like_environment_passes_the_deploy_check(environment):
    assert manage("collectstatic", "--noinput", "-v", "0", env=environment).returncode == 0
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=environment)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_the_deploy_check_warns_when_static_files_were_not_collected(environment):
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=environment)
    assert result.returncode == 1
    assert "ops.W001" in result.stderr and "collectstatic" in result.stderr
