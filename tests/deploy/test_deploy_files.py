"""deploy/ stays true: every Procfile process is run here as far as it can be, the systemd units pass
``systemd-analyze verify``, and the Dockerfile and compose file are parsed and checked against the Procfile
and the repository.

Not run here: ``docker build`` and ``docker compose up`` (no docker daemon on the test machines), and the
systemd units under a real systemd (they are verified, with their paths pointed at this checkout).
"""

import re
import shlex
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from dockerfile_parse import DockerfileParser

from tests.deploy.servers import BIN, ROOT, production_env

DEPLOY = ROOT / "deploy"
PROCESS_TYPES = {"release", "web", "worker", "backup-worker"}


@dataclass(frozen=True)
class Step:
    """One simple command of a Procfile line: its argv and the variables ``env`` sets for it."""

    argv: list[str]
    env: dict[str, str]


def procfile() -> dict[str, list[Step]]:
    processes = {}
    for line in (DEPLOY / "Procfile").read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        name, command = line.split(":", 1)
        processes[name.strip()] = [_step(part) for part in command.split("&&")]
    return processes


def _step(command: str) -> Step:
    argv = shlex.split(command)
    if argv[0] == "exec":
        argv = argv[1:]
    env = {}
    if argv[0] == "env":
        argv = argv[1:]
        while "=" in argv[0]:
            key, value = argv.pop(0).split("=", 1)
            env[key] = value
    return Step(argv=argv, env=env)


def test_the_procfile_names_the_production_processes():
    processes = procfile()
    assert set(processes) == PROCESS_TYPES
    assert processes["web"][-1].argv == ["gunicorn", "--config", "deploy/gunicorn.conf.py"]
    assert processes["backup-worker"] == [Step(["python", "manage.py", "qcluster", "--queue", "backups"], {})]


def runnable(step: Step) -> list[str]:
    """The step as it can run here: gunicorn checks its configuration, a qcluster starts and stops once."""
    program, *args = step.argv
    if program == "gunicorn":
        return [str(BIN / "gunicorn"), *args, "--check-config"]
    assert program == "python" and args[0] == "manage.py", step
    if args[1] == "qcluster":
        args = [*args, "--run-once"]
    return [str(BIN / "python"), *args]


@pytest.mark.e2e
def test_every_procfile_process_runs_here(tmp_path):
    env = production_env(tmp_path, DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}")
    processes = procfile()
    order = ["release", "web", "worker", "backup-worker"]  # release migrates the database the others use
    for name in order:
        for step in processes[name]:
            result = subprocess.run(
                runnable(step), cwd=ROOT, env={**env, **step.env}, capture_output=True, text=True, timeout=120
            )
            assert result.returncode == 0, f"{name}: {step.argv}\n{result.stdout}\n{result.stderr}"
    assert (tmp_path / "static" / "staticfiles.json").exists()


def systemd_units() -> list[Path]:
    return sorted((DEPLOY / "systemd").glob("*.service"))


def test_the_systemd_units_run_the_procfile_commands():
    commands = {" ".join(step.argv) for steps in procfile().values() for step in steps}
    for unit in systemd_units():
        for line in unit.read_text().splitlines():
            if line.startswith(("ExecStart=", "ExecStartPre=")):
                argv = line.split("=", 1)[1].split()
                argv[0] = Path(argv[0]).name  # /srv/scheduler/.venv/bin/python → python
                assert " ".join(argv) in commands, f"{unit.name}: {line}"
    backup_worker = (DEPLOY / "systemd" / "scheduler-backup-worker.service").read_text()
    assert "qcluster --queue backups" in backup_worker


def test_the_systemd_units_pass_systemd_analyze_verify(tmp_path):
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed here: the units are not verified")
    environment_file = tmp_path / "scheduler.env"
    environment_file.write_text("DEBUG=false\n")
    paths = []
    for unit in systemd_units():
        text = unit.read_text().replace("/srv/scheduler", str(ROOT))
        text = text.replace("/etc/scheduler/scheduler.env", str(environment_file))
        name = unit.name.replace("@.service", "@1.service")  # a template is verified as an instance
        (tmp_path / name).write_text(text)
        paths.append(f"./{name}")
    result = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", *paths], cwd=tmp_path, capture_output=True, text=True
    )
    # verify exits 0 on unknown keys and bad values, but says so: any output is a finding.
    assert result.returncode == 0 and not result.stdout.strip() and not result.stderr.strip(), result.stderr


def test_the_dockerfile_builds_from_this_repository_and_starts_the_web_process():
    dockerfile = DockerfileParser(path=str(DEPLOY / "Dockerfile"))
    assert re.fullmatch(r"python:3\.11[-.\w]*", dockerfile.baseimage), dockerfile.baseimage
    instructions = dockerfile.structure
    for instruction in instructions:
        if instruction["instruction"] == "COPY":
            *sources, _target = shlex.split(instruction["value"])
            for source in sources:
                assert (ROOT / source).exists(), f"COPY {source}: not in the repository"
    runs = " ".join(item["value"] for item in instructions if item["instruction"] == "RUN")
    assert "pip install --no-cache-dir -r requirements.txt" in runs
    assert "manage.py collectstatic --noinput" in runs
    assert "postgresql-client" in runs  # pg_dump and pg_restore for the database backups
    assert dockerfile.envs["DATA_DIR"] and dockerfile.envs["PORT"] == "8000"
    assert json_cmd(dockerfile) == procfile()["web"][-1].argv
    ignored = (DEPLOY / "Dockerfile.dockerignore").read_text().split()
    assert {".git", ".venv", "var", ".env"} <= set(ignored)


def json_cmd(dockerfile: DockerfileParser) -> list[str]:
    [cmd] = [item["value"] for item in dockerfile.structure if item["instruction"] == "CMD"]
    return yaml.safe_load(cmd)  # the exec form is a JSON list


def compose() -> dict:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text())


def test_the_compose_file_runs_the_procfile_processes_next_to_postgresql_and_redis():
    services = compose()["services"]
    assert set(services) == {"db", "redis", "migrate", "web", "worker", "backup-worker"}
    assert services["db"]["image"].startswith("postgres:") and services["redis"]["image"].startswith("redis:")
    processes = procfile()
    assert services["migrate"]["command"] == processes["release"][-1].argv
    assert services["web"]["command"] == processes["web"][-1].argv  # static files are in the image
    assert services["worker"]["command"] == processes["worker"][-1].argv
    assert services["backup-worker"]["command"] == processes["backup-worker"][-1].argv
    for name in ("migrate", "web", "worker", "backup-worker"):
        build = services[name]["build"]
        assert (DEPLOY / build["context"] / build["dockerfile"]).resolve() == (DEPLOY / "Dockerfile")
        for dependency in services[name]["depends_on"]:
            assert dependency in services
    for name in ("db", "redis", "web", "worker", "backup-worker"):
        assert services[name]["healthcheck"]["test"][0] == "CMD"


def test_the_compose_environment_is_documented_in_env_example():
    documented = set(re.findall(r"^# ?([A-Z][A-Z0-9_]+)=", (ROOT / ".env.example").read_text(), re.MULTILINE))
    for name, service in compose()["services"].items():
        if "build" in service:
            assert set(service["environment"]) <= documented, name


@pytest.mark.e2e
def test_the_compose_health_checks_are_commands_that_exist(tmp_path):
    env = production_env(tmp_path)
    for name, service in compose()["services"].items():
        test = service.get("healthcheck", {}).get("test", [])
        if test[1:3] == ["python", "manage.py"]:
            result = subprocess.run(
                [str(BIN / "python"), *test[2:], "--help"], cwd=ROOT, env=env, capture_output=True, text=True
            )
            assert result.returncode == 0, f"{name}: {result.stderr}"
