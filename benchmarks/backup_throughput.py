"""Backup throughput: our streamed pg_dump → zstd → storage pipeline against plain tools, in one run.

    .venv/bin/python benchmarks/backup_throughput.py                 # ~1 GB database (generated once)
    .venv/bin/python benchmarks/backup_throughput.py --size 200MB    # quicker
    .venv/bin/python benchmarks/backup_throughput.py --size 1GB --regenerate --repeat 3

It generates a PostgreSQL database of about --size in its own database (``bench_backup_<size>``, kept for
later runs, migrated so the ``backup`` command can record its rows there) with a realistic mix of text,
numeric and JSON rows, then measures, each as its own process:

    plain → FS  pg_dump -Fc -Z0 | zstd -3 > file (the same compression, by the command-line tools)
    plain → S3  pg_dump -Fc -Z0 | zstd -3 | aws s3 cp - s3://… (moto_server over HTTP)
    ours → S3   create_backup() into the same moto_server bucket: dump + upload
    ours → FS   create_backup() into a FileSystemStorage directory: dump + upload
    command     manage.py backup now --wait (S3 and FS): the whole command, start-up to exit, with the
                verification that re-reads the object and the retention that follows
    start-up    manage.py backup list: what any backup command costs before it does anything
    baseline    pg_dump -Fc to a local file (pg_dump's built-in gzip); floor: pg_dump -Fc -Z0 > /dev/null
    restore     pg_restore from the baseline file; ours: restore_backup() streamed from the FS object

and prints time, ratio to the plain tools on the same storage, output size, peak RSS of our process
(getrusage inside the child; for the command, of its whole process tree) and temporary disk (bytes the
process tree wrote to the block layer, from /proc/<pid>/io, minus the output file itself). Our processes
import only what a production install (requirements.txt) has. Targets: dump + upload within 1.3x of the
plain tools on the same storage; the whole command's peak RSS ≤ 100 MiB; no temporary disk.
"""

import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MIB = 1024 * 1024
SIZE_UNITS = {"KB": 1024, "MB": MIB, "GB": 1024 * MIB}
TARGET_PLAIN_RATIO, TARGET_RSS = 1.3, 100 * MIB
BASELINE = "pg_dump -Fc → file (baseline)"
FLOOR = "pg_dump -Fc -Z0 → /dev/null (floor)"
PLAIN_FS = "plain pg_dump -Z0 | zstd -3 → file"
PLAIN_S3 = "plain pg_dump -Z0 | zstd -3 | aws s3 cp"
OURS_S3 = "ours pg_dump -Z0 | zstd → S3 (moto)"
OURS_FS = "ours pg_dump -Z0 | zstd → file system"
COMMAND_S3 = "manage.py backup now --wait → S3"
COMMAND_FS = "manage.py backup now --wait → FS"
STARTUP = "manage.py backup list (start-up)"
RESTORE_BASE = "pg_restore ← baseline file"
OURS_RESTORE = "ours storage | zstd -d | pg_restore"

SENTENCE = re.compile(r"[A-Za-z][A-Za-z ,.;:'()-]{30,200}")


def english_sentences() -> list[str]:
    """Real English prose for text columns: the comments and docstrings of the installed Django.

    Random words from a small vocabulary would compress unlike any real data; these lines have natural
    word frequencies, so gzip and zstd are compared on text that behaves like customer notes.
    """
    import django

    found = []
    for path in sorted(Path(django.__file__).parent.rglob("*.py")):
        for line in path.read_text(encoding="utf-8", errors="ignore").splitlines():
            text = line.strip().lstrip("#").strip().strip('"')
            if len(text.split()) >= 6 and SENTENCE.fullmatch(text):
                found.append(text.replace("\\", " "))
    return found


def parse_size(text: str) -> int:
    match = re.fullmatch(r"(\d+(?:\.\d+)?)\s*(KB|MB|GB)", text.strip().upper())
    if not match:
        raise argparse.ArgumentTypeError("size like 200MB or 1GB")
    return int(float(match.group(1)) * SIZE_UNITS[match.group(2)])


def human(size: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(size) < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return str(size)


# --- Database generation ---------------------------------------------------------------------------------


def psql(server: dict, database: str, sql: str) -> str:
    result = subprocess.run(
        ["psql", "-X", "-q", "-t", "-A", "-v", "ON_ERROR_STOP=1", "-c", sql],
        env=libpq_env(server, database),
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise SystemExit(f"psql failed: {result.stderr.strip()}")
    return result.stdout.strip()


def libpq_env(server: dict, database: str) -> dict[str, str]:
    env = {**os.environ, "PGHOST": server["host"], "PGPORT": str(server["port"]), "PGUSER": server["user"]}
    env["PGDATABASE"] = database
    if server["password"]:
        env["PGPASSWORD"] = server["password"]
    return env


def database_size(server: dict, database: str) -> int:
    return int(psql(server, database, "SELECT pg_database_size(current_database())"))


def generate(server: dict, database: str, target: int) -> None:
    """Fills ``database`` with orders, events and readings until it is about ``target`` bytes."""
    sentences = english_sentences()
    psql(server, database, "CREATE TABLE phrases (i int PRIMARY KEY, text text)")
    rows = "".join(f"{number}\t{text}\n" for number, text in enumerate(sentences))
    subprocess.run(
        ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-c", "\\copy phrases FROM STDIN"],
        env=libpq_env(server, database),
        input=rows,
        text=True,
        check=True,
    )
    count = len(sentences)
    psql(
        server,
        database,
        """
        CREATE TABLE customers (id bigserial PRIMARY KEY, name text, email text, country char(2),
                                created_at timestamptz, credit numeric(12, 2));
        CREATE TABLE orders (id bigserial PRIMARY KEY, customer_id bigint, placed_at timestamptz,
                             status text, total numeric(12, 2), currency char(3), note text, items jsonb);
        CREATE TABLE events (id bigserial PRIMARY KEY, occurred_at timestamptz, kind text,
                             payload jsonb, message text);
        CREATE TABLE readings (sensor_id int, taken_at timestamptz, value double precision,
                               quality smallint);
        """,
    )
    batch = 0
    while database_size(server, database) < target:
        start = batch * 100_000
        psql(
            server,
            database,
            f"""
            INSERT INTO customers (name, email, country, created_at, credit)
              SELECT 'Customer ' || g, 'user' || g || '@example.test',
                     (ARRAY['DE','FR','US','GB','NL','JP'])[1 + g % 6],
                     now() - (g % 1000) * interval '1 hour', round((random() * 5000)::numeric, 2)
              FROM generate_series({start}, {start} + 9999) g;
            INSERT INTO orders (customer_id, placed_at, status, total, currency, note, items)
              SELECT g % 50000, now() - (g % 5000) * interval '7 minutes',
                     (ARRAY['pending','paid','shipped','refunded'])[1 + g % 4],
                     round((random() * 900)::numeric, 2), 'EUR',
                     p.text || ' ref ' || substr(md5(random()::text), 1, 12),
                     jsonb_build_array(
                       jsonb_build_object('sku', 'SKU-' || (g % 977), 'qty', 1 + g % 5,
                                          'price', round((random() * 90)::numeric, 2)),
                       jsonb_build_object('sku', 'SKU-' || (g % 331), 'qty', 1 + g % 3,
                                          'price', round((random() * 40)::numeric, 2)))
              FROM generate_series({start}, {start} + 99999) g
              JOIN phrases p ON p.i = (g::bigint * 7919) % {count};
            INSERT INTO events (occurred_at, kind, payload, message)
              SELECT now() - g * interval '1 second', (ARRAY['login','view','purchase','error'])[1 + g % 4],
                     jsonb_build_object('user', g % 100000, 'ip', '10.' || g % 255 || '.' || g % 7 || '.1',
                                        'session', md5(random()::text), 'latency_ms', (random() * 400)::int),
                     p.text
              FROM generate_series({start}, {start} + 99999) g
              JOIN phrases p ON p.i = (g::bigint * 104729) % {count};
            INSERT INTO readings
              SELECT g % 2000, now() - g * interval '10 seconds', random() * 100, (g % 3)::smallint
              FROM generate_series({start}, {start} + 99999) g;
            """,
        )
        batch += 1
    psql(
        server,
        database,
        "CREATE INDEX ON orders (customer_id); CREATE INDEX ON events (occurred_at); "
        "CREATE INDEX ON readings (sensor_id, taken_at);",
    )
    psql(server, database, "VACUUM ANALYZE")


def ensure_database(server: dict, name: str, size: int, regenerate: bool) -> None:
    exists = psql(server, "postgres", f"SELECT 1 FROM pg_database WHERE datname = '{name}'") == "1"
    if exists and not regenerate:
        print(f"using existing {name}: {human(database_size(server, name))}")
        return
    psql(server, "postgres", f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    psql(server, "postgres", f'CREATE DATABASE "{name}"')
    started = time.perf_counter()
    generate(server, name, size)
    print(f"generated {name}: {human(database_size(server, name))} in {time.perf_counter() - started:.0f} s")


# --- Measuring processes ---------------------------------------------------------------------------------


def write_bytes_of(pid: int) -> int:
    with Path(f"/proc/{pid}/io").open() as io_file:
        return next(int(line.split()[1]) for line in io_file if line.startswith("write_bytes:"))


def current_rss() -> int:
    with Path("/proc/self/status").open() as status:
        return next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmRSS:"))


def run_measured(argv: list[str], env: dict[str, str], stdout=subprocess.DEVNULL) -> dict:
    """Runs ``argv``; returns seconds, peak RSS of the process tree and its block-layer writes."""
    started = time.perf_counter()
    child = subprocess.Popen(argv, env=env, stdout=stdout, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - started
    child.returncode = os.waitstatus_to_exitcode(status)
    stderr = child.stderr.read().decode()
    child.stderr.close()
    if child.returncode != 0:
        raise SystemExit(f"{argv[0]} failed ({child.returncode}): {stderr[-2000:]}")
    return {"seconds": seconds, "rss": usage.ru_maxrss * 1024, "stderr": stderr}


def run_command(env: dict[str, str], *args: str) -> dict:
    """``manage.py <args>`` in a production-like process; seconds, peak RSS of its tree, its output."""
    argv = [sys.executable, str(Path(__file__).resolve()), "--child", "command", *args]
    with tempfile.TemporaryFile() as output, tempfile.TemporaryFile() as errors:
        started = time.perf_counter()
        child = subprocess.Popen(argv, env=env, cwd=ROOT, stdout=output, stderr=errors)
        # wait4's peak RSS is the largest of the command's process and the children it waited for
        # (pg_dump, pg_restore): the whole command's peak.
        _, status, usage = os.wait4(child.pid, 0)
        seconds = time.perf_counter() - started
        output.seek(0)
        errors.seek(0)
        stdout, stderr = output.read().decode(), errors.read().decode()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"manage.py {' '.join(args)} failed: {stderr[-3000:]}")
    return {"seconds": seconds, "rss": usage.ru_maxrss * 1024, "stdout": stdout}


def run_child(mode: str, env: dict[str, str], *args: str) -> dict:
    """Runs this script in ``--child`` mode (our code in a fresh process) and returns its JSON report."""
    argv = [sys.executable, str(Path(__file__).resolve()), "--child", mode, *args]
    result = subprocess.run(argv, env=env, capture_output=True, text=True, cwd=ROOT, check=False)
    if result.returncode != 0:
        raise SystemExit(f"child {mode} failed: {result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def runtime_distributions() -> set[str]:
    """What a production install has: requirements.txt and, transitively, everything those require."""
    from importlib import metadata

    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    lines = (ROOT / "requirements.txt").read_text().splitlines()
    pending = [Requirement(line) for line in (line.split("#")[0].strip() for line in lines) if line]
    found: set[str] = set()
    while pending:
        wanted = pending.pop()
        name = canonicalize_name(wanted.name)
        if name in found:
            continue
        found.add(name)
        try:
            requires = metadata.requires(wanted.name) or []
        except metadata.PackageNotFoundError:
            continue
        for text in requires:
            needed = Requirement(text)
            extras = [{"extra": extra} for extra in (*wanted.extras, "")]
            if needed.marker is None or any(needed.marker.evaluate(extra) for extra in extras):
                pending.append(needed)
    return found


class _ProductionImports:
    """Refuses top-level modules that only test tools brought into this venv, as a production host would.

    moto (a test dependency) installs ``cryptography``, and django-storages imports it eagerly for
    CloudFront URL signing, which backups never use: ~8 MiB of RSS that `manage.py backup now` on a
    production install (requirements.txt only) does not carry, and that is not the backup's.
    """

    def __init__(self) -> None:
        from importlib import metadata

        from packaging.utils import canonicalize_name

        runtime = runtime_distributions()
        self.hidden = {
            module
            for module, owners in metadata.packages_distributions().items()
            if not any(canonicalize_name(owner) in runtime for owner in owners)
        }

    def find_spec(self, name: str, path=None, target=None):
        if path is None and name in self.hidden:
            raise ModuleNotFoundError(f"{name} is not part of a production install", name=name)
        return None


def child_main(mode: str, args: list[str]) -> None:
    """Inside the measured process: set up Django, run one operation, report time, RSS and disk writes.

    Mode ``command`` runs ``manage.py <args>`` as a production host would, measured from outside.
    """
    import resource

    sys.meta_path.insert(0, _ProductionImports())
    if mode == "command":
        from django.core.management import execute_from_command_line

        sys.path.insert(0, str(ROOT))
        execute_from_command_line(["manage.py", *args])
        return
    import django

    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    django.setup()
    from django.core.files.storage import storages

    from backups.pipeline import Artifact, create_backup, restore_backup
    from backups.storage import store_for

    store = store_for(storages["backups"])
    if hasattr(store, "client"):
        store.client  # noqa: B018 - load boto3's models (S3) before the baseline
    idle_rss = current_rss()
    writes_before = write_bytes_of(os.getpid())
    started = time.perf_counter()
    if mode == "backup":
        (key,) = args
        artifact = create_backup(owner_id=0, storage_key=key)
        result = {"artifact": artifact.__dict__, "output": artifact.size}
    else:
        artifact_json, target = args
        restore_backup(artifact=Artifact(**json.loads(artifact_json)), target_db_url=target)
        result = {"output": 0}
    seconds = time.perf_counter() - started
    result.update(
        seconds=seconds,
        rss=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        idle_rss=idle_rss,
        child_rss=resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024,
        written=write_bytes_of(os.getpid()) - writes_before,
    )
    print(json.dumps(result))


def start_moto(work: Path) -> tuple[subprocess.Popen, str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    moto = subprocess.Popen(
        [str(Path(sys.executable).with_name("moto_server")), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    for _ in range(300):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.1)
    endpoint = f"http://127.0.0.1:{port}"
    import boto3

    boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="bench",
        aws_secret_access_key="bench",  # noqa: S106 - moto accepts any key
    ).create_bucket(Bucket="bench")
    return moto, endpoint


# --- Main ------------------------------------------------------------------------------------------------


def main() -> None:
    if sys.argv[1:2] == ["--child"]:  # a measured process (its arguments may look like options: --wait)
        child_main(sys.argv[2], sys.argv[3:])
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--size", type=parse_size, default=parse_size("1GB"), help="database size, e.g. 200MB"
    )
    parser.add_argument(
        "--server", default="postgres://postgres@127.0.0.1:5432", help="PostgreSQL server URL"
    )
    parser.add_argument("--regenerate", action="store_true", help="drop and generate the database again")
    parser.add_argument(
        "--work-dir", type=Path, default=None, help="where dump files go (default: a temp dir)"
    )
    parser.add_argument("--repeat", type=int, default=2, help="rounds; each run's fastest time is kept")
    options = parser.parse_args()

    match = re.fullmatch(r"postgres(?:ql)?://([^:@/]+)(?::([^@/]*))?@([^:/]+)(?::(\d+))?/?", options.server)
    if not match:
        raise SystemExit("--server must look like postgres://user[:password]@host[:port]")
    server = {
        "user": match.group(1),
        "password": match.group(2) or "",
        "host": match.group(3),
        "port": int(match.group(4) or 5432),
    }
    name = f"bench_backup_{options.size // MIB}mb"
    ensure_database(server, name, options.size, options.regenerate)
    work = options.work_dir or Path(tempfile.mkdtemp(prefix="backup-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    credentials = f"{server['user']}:{server['password']}@" if server["password"] else f"{server['user']}@"
    base_url = f"postgres://{credentials}{server['host']}:{server['port']}"
    dump_env = libpq_env(server, name)
    django_env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATA_DIR": str(work / "data"),
        "DATABASE_URL": f"{base_url}/{name}",
        "LOG_LEVEL": "WARNING",
    }
    fs_env = {**django_env, "BACKUP_STORAGE_URL": f"file://{work / 'storage'}"}
    # The backup command records its rows in the database it backs up.
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=fs_env, check=True)
    restore_flags = ["--no-owner", "--no-privileges", "--exit-on-error", "--single-transaction"]
    base_target, our_target = f"{name}_restore_base", f"{name}_restore_ours"
    baseline_file = work / "baseline.dump"
    best: dict[str, dict] = {}

    def keep(label: str, row: dict) -> None:
        # Fastest time of the rounds (the others were slowed by whatever else ran); largest RSS.
        previous = best.get(label)
        if previous is None or row["seconds"] < previous["seconds"]:
            row["rss"] = max(row["rss"], previous["rss"]) if previous else row["rss"]
            best[label] = row
        else:
            previous["rss"] = max(previous["rss"], row["rss"])

    moto, endpoint = start_moto(work)
    s3_env = {
        **django_env,
        "BACKUP_STORAGE_URL": f"s3://bench/backups?endpoint_url={endpoint}&region=us-east-1",
        "BACKUP_S3_ACCESS_KEY_ID": "bench",
        "BACKUP_S3_SECRET_ACCESS_KEY": "bench",
    }
    aws_env = {**dump_env, "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench"}
    plain_file = work / "plain.dump.zst"
    plain_to_file = f"pg_dump -Fc -Z0 | zstd -3 -q -c > {plain_file}"
    try:
        for round_number in range(1, options.repeat + 1):
            print(f"round {round_number}/{options.repeat}: baseline pg_dump -Fc → file …", flush=True)
            baseline_file.unlink(missing_ok=True)
            row = run_measured(["pg_dump", "-Fc", "-f", str(baseline_file)], dump_env)
            keep(BASELINE, {**row, "output": baseline_file.stat().st_size, "temp": 0})
            print(f"round {round_number}: floor pg_dump -Fc -Z0 → /dev/null …", flush=True)
            with Path(os.devnull).open("wb") as devnull:
                row = run_measured(["pg_dump", "-Fc", "-Z0"], dump_env, stdout=devnull)
            keep(FLOOR, {**row, "output": 0, "temp": 0})
            print(f"round {round_number}: plain pg_dump -Z0 | zstd -3 → file …", flush=True)
            plain_file.unlink(missing_ok=True)
            row = run_measured(["bash", "-o", "pipefail", "-c", plain_to_file], dump_env)
            keep(PLAIN_FS, {**row, "output": plain_file.stat().st_size, "temp": 0})
            print(f"round {round_number}: plain pg_dump -Z0 | zstd -3 | aws s3 cp → S3 (moto) …", flush=True)
            plain_to_s3 = (
                f"pg_dump -Fc -Z0 | zstd -3 -q -c | aws s3 cp - s3://bench/plain/{uuid.uuid4().hex}.zst "
                f"--endpoint-url {endpoint} --region us-east-1 --only-show-errors"
            )
            row = run_measured(["bash", "-o", "pipefail", "-c", plain_to_s3], aws_env)
            keep(PLAIN_S3, {**row, "output": 0, "temp": 0})
            print(f"round {round_number}: ours → S3 (moto) …", flush=True)
            row = run_child("backup", s3_env, f"bench/{uuid.uuid4().hex}.dump.zst")
            keep(OURS_S3, {**row, "temp": row["written"]})
            print(f"round {round_number}: ours → file system …", flush=True)
            row = run_child("backup", fs_env, f"bench/{uuid.uuid4().hex}.dump.zst")
            keep(OURS_FS, {**row, "temp": max(0, row["written"] - row["output"])})
            fs_artifact = row["artifact"]
            for label, env in ((COMMAND_S3, s3_env), (COMMAND_FS, fs_env)):
                print(f"round {round_number}: {label} …", flush=True)
                row = run_command(env, "backup", "now", "--wait")
                dumped = re.search(r"in ([\d.]+) s", row["stdout"])
                keep(label, {**row, "output": 0, "temp": 0, "dump_seconds": float(dumped.group(1))})
            print(f"round {round_number}: {STARTUP} …", flush=True)
            keep(STARTUP, {**run_command(fs_env, "backup", "list"), "output": 0, "temp": 0})
            for target in (base_target, our_target):
                psql(server, "postgres", f'DROP DATABASE IF EXISTS "{target}" WITH (FORCE)')
                psql(server, "postgres", f'CREATE DATABASE "{target}"')
            print(f"round {round_number}: pg_restore ← baseline file …", flush=True)
            row = run_measured(
                ["pg_restore", *restore_flags, "-d", base_target, str(baseline_file)], dump_env
            )
            keep(RESTORE_BASE, {**row, "output": 0, "temp": 0})
            print(f"round {round_number}: our streamed restore ← file system …", flush=True)
            row = run_child("restore", fs_env, json.dumps(fs_artifact), f"{base_url}/{our_target}")
            keep(OURS_RESTORE, {**row, "temp": row["written"]})
    finally:
        moto.terminate()
        moto.wait()
        for target in (base_target, our_target):
            psql(server, "postgres", f'DROP DATABASE IF EXISTS "{target}" WITH (FORCE)')
        if options.work_dir is None:
            shutil.rmtree(work, ignore_errors=True)

    report(name, server, best, options.repeat)
    # Imported here, not at the top: the measured child processes run this file too and stay lean.
    from history import record_run

    record_run(
        "backup_throughput",
        options={"size": options.size, "repeat": options.repeat, "regenerate": options.regenerate},
        results={
            "database": name,
            "database_bytes": database_size(server, name),
            "runs": {
                label: {
                    key: value for key, value in row.items() if key not in ("artifact", "stdout", "stderr")
                }
                for label, row in best.items()
            },
        },
    )


def verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def report(name: str, server: dict, best: dict[str, dict], repeat: int) -> None:
    baseline, floor = best[BASELINE], best[FLOOR]
    print()
    print(
        f"database {name}: {human(database_size(server, name))}, cores: {os.cpu_count()}, fastest of {repeat}"
    )
    header = (
        f"{'run':40} {'time':>8} {'baseline/t':>10} {'t/floor':>8} {'output':>11} {'our peak RSS':>13} "
        f"{'(idle)':>10} {'tool RSS':>10} {'temp disk':>10}"
    )
    print(header)
    print("-" * len(header))
    for label, row in best.items():
        ours = label.startswith(("ours", "manage.py"))
        idle = human(row["idle_rss"]) if "idle_rss" in row else "-"
        tool = human(row["child_rss"]) if "child_rss" in row else "-" if ours else human(row["rss"])
        print(
            f"{label:40} {row['seconds']:7.2f}s {baseline['seconds'] / row['seconds']:9.2f}x "
            f"{row['seconds'] / floor['seconds']:7.2f}x {human(row['output']) if row['output'] else '-':>11} "
            f"{human(row['rss']) if ours else '-':>13} {idle:>10} {tool:>10} {human(row['temp']):>10}"
        )
    print()
    print("our peak RSS: the whole Python process (Django, every app, boto3), importing only what a")
    print("production install (requirements.txt) has; (idle): the same process just before the operation,")
    print("so peak minus idle is what streaming costs; for manage.py, the peak of its whole process tree.")
    print("tool: pg_dump/pg_restore.")
    print(f"load average at the end: {' '.join(f'{value:.1f}' for value in os.getloadavg())}")
    print()
    for label, ours, plain in (
        ("S3", best[OURS_S3], best[PLAIN_S3]),
        ("file system", best[OURS_FS], best[PLAIN_FS]),
    ):
        ratio, vs_floor = ours["seconds"] / plain["seconds"], ours["seconds"] / floor["seconds"]
        print(
            f"dump + upload → {label}: {ours['seconds']:.2f} s, {ratio:.2f}x the plain tools' "
            f"{plain['seconds']:.2f} s (≤ {TARGET_PLAIN_RATIO}: {verdict(ratio <= TARGET_PLAIN_RATIO)}), "
            f"{vs_floor:.2f}x the floor, size {ours['output'] / baseline['output']:.2f}x pg_dump -Fc, "
            f"temp disk {human(ours['temp'])}"
        )
    for label in (COMMAND_S3, COMMAND_FS):
        row = best[label]
        print(
            f"{label}: {row['seconds']:.2f} s in all (dump + upload {row['dump_seconds']:.1f} s, then "
            f"verification and retention), peak RSS {human(row['rss'])} (≤ 100 MiB: "
            f"{verdict(row['rss'] <= TARGET_RSS)})"
        )
    startup = best[STARTUP]
    print(
        f"start-up of a backup command (backup list): {startup['seconds']:.2f} s, "
        f"peak RSS {human(startup['rss'])}"
    )
    restore, restore_base = best[OURS_RESTORE], best[RESTORE_BASE]
    print(
        f"restore: {restore_base['seconds'] / restore['seconds']:.2f}x the speed of pg_restore from a "
        f"local file, peak RSS {human(restore['rss'])} (≤ 100 MiB: {verdict(restore['rss'] <= TARGET_RSS)}; "
        f"streaming adds {human(restore['rss'] - restore['idle_rss'])}), temp disk {human(restore['temp'])}"
    )


if __name__ == "__main__":
    main()
