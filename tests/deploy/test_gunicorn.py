"""gunicorn from deploy/gunicorn.conf.py, with DEBUG off and static files collected, as production runs.

The admin's login page and its CSS are served by the web process itself (WhiteNoise): hashed names with
far-future cache headers, gzip when asked. The probes answer by any Host header, and /readyz says 503
(while /healthz stays 200) when the database or the broker is gone, or no dispatcher beats.
"""

import json
import re

import pytest

from tests.deploy.servers import dead_port, dispatcher, gunicorn, manage, production_env
from tests.e2e.workers import wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

FAR_FUTURE = "max-age=315360000"


@pytest.fixture
def collected(tmp_path):
    """A production data directory whose static files were collected, as `make serve` does first."""
    env = production_env(tmp_path)
    result = manage("collectstatic", "--noinput", "-v", "0", env=env)
    assert result.returncode == 0, result.stderr
    return env


def test_the_admin_login_page_and_its_hashed_css_are_served_with_far_future_caching(collected, tmp_path):
    with gunicorn(collected, tmp_path / "gunicorn.log") as server:
        page = server.get("/admin/login/")
        assert page.status == 200, server.log.read_text()
        assert page.header("Content-Type") == "text/html; charset=utf-8"
        stylesheets = re.findall(rb'<link rel="stylesheet" href="([^"]+\.css)"', page.body)
        assert stylesheets, page.body[:2000]
        base = next(href.decode() for href in stylesheets if b"/admin/css/base." in href)
        assert re.fullmatch(r"/static/admin/css/base\.[0-9a-f]{12}\.css", base), base

        css = server.get(base)
        assert css.status == 200
        assert css.header("Content-Type").startswith("text/css")
        assert FAR_FUTURE in css.header("Cache-Control") and "immutable" in css.header("Cache-Control")
        assert b"body" in css.body

        compressed = server.get(base, **{"Accept-Encoding": "gzip"})
        assert compressed.header("Content-Encoding") == "gzip"
        assert len(compressed.body) < len(css.body)

        # The unhashed name still answers, but may change under the same URL: cached for a minute only.
        plain = server.get("/static/admin/css/base.css")
        assert plain.status == 200 and FAR_FUTURE not in plain.header("Cache-Control")


def test_probes_answer_by_any_host_and_readyz_is_200_once_a_dispatcher_beats(collected, tmp_path):
    with gunicorn(collected, tmp_path / "gunicorn.log") as server:
        live = server.get("/healthz", Host="10.1.2.3:8000")  # a pod address, not in ALLOWED_HOSTS
        assert live.status == 200 and json.loads(live.body) == {"status": "ok"}
        unready = server.get("/readyz", Host="10.1.2.3:8000")
        assert unready.status == 503 and json.loads(unready.body)["checks"]["dispatchers"]["alive"] == 0
        with dispatcher(collected, tmp_path / "dispatcher.log"):
            ready = wait_for(
                lambda: (reply := server.get("/readyz", Host="10.1.2.3:8000")).status == 200 and reply,
                timeout=60,
                message="a dispatcher beats and /readyz says 200",
            )
        assert json.loads(ready.body)["status"] == "ok"
        # Everything else still checks the host.
        assert server.get("/admin/login/", Host="10.1.2.3:8000").status == 400


def test_readyz_is_503_and_healthz_200_when_the_database_is_down(tmp_path):
    env = production_env(
        tmp_path, DATABASE_URL=f"postgres://scheduler:secret-pw@127.0.0.1:{dead_port()}/gone"
    )
    with gunicorn(env, tmp_path / "gunicorn.log") as server:
        assert server.get("/healthz").status == 200
        ready = server.get("/readyz")
        assert ready.status == 503
        report = json.loads(ready.body)
        assert report["status"] == "fail"
        assert report["checks"]["database"] == {"ok": False, "error": "unavailable (OperationalError)"}
        assert not report["checks"]["migrations"]["ok"]
        assert b"secret-pw" not in ready.body and b"127.0.0.1" not in ready.body


def test_readyz_is_503_when_the_redis_broker_is_down(collected, tmp_path):
    env = {**collected, "REDIS_URL": f"redis://:secret-pw@127.0.0.1:{dead_port()}/0"}
    with gunicorn(env, tmp_path / "gunicorn.log") as server:
        ready = server.get("/readyz")
        assert ready.status == 503
        report = json.loads(ready.body)
        assert report["checks"]["database"]["ok"] and report["checks"]["migrations"]["ok"]
        assert report["checks"]["broker"] == {
            "ok": False,
            "broker": "redis",
            "error": "unavailable (ConnectionError)",
        }
        assert b"secret-pw" not in ready.body
