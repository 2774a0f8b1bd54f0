"""Several replicas behind nginx (deploy/run-replicas.sh): health and the app page through the balancer,
cookie affinity (every request of a browser reaches one replica, the websocket included), a browser
session rendering the Overview through it, and a replica killed mid-request: its sessions move to
another replica and the page renders again.

Skipped where nginx is not installed (Debian: apt-get install -y nginx; .ci/run installs it)."""

from __future__ import annotations

import base64
import collections
import os
import signal
import socket
import time
import urllib.request
from pathlib import Path

import pytest

from benchmarks.load import access_log, balancer, nginx_path

from .conftest import ARTIFACTS, browser_helpers

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(nginx_path() is None, reason="nginx is not installed (apt-get install -y nginx)"),
]
EXCEPTION = '[data-testid="stException"]'


@pytest.fixture(scope="module")
def lb(tmp_path_factory):
    from pipelines.ingest.first_run import load_sample

    tmp = tmp_path_factory.mktemp("replicas")
    db = tmp / "warehouse.duckdb"
    load_sample(db)  # built before the replicas start, so none of them loads the sample itself
    with balancer(db, 2, tmp / "run", env={"CLINRET_RELEASES": str(tmp / "releases")}) as running:
        yield running
    for log in (tmp / "run" / "logs").glob("*.log"):
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        (ARTIFACTS / f"replicas-{log.name}").write_bytes(log.read_bytes())


def get(url: str, cookie: str | None = None) -> tuple[int, dict, bytes]:
    request = urllib.request.Request(url, headers={"Cookie": cookie} if cookie else {})
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.status, dict(response.headers.items()), response.read()


def replica_cookie(headers: dict) -> str | None:
    for key, value in headers.items():
        if key.lower() == "set-cookie" and value.startswith("clinret_replica="):
            return value.split(";", 1)[0]
    return None


def upstreams_for(run_dir: Path, key: str, path: str) -> list[str]:
    return [r["upstream"] for r in access_log(run_dir) if r.get("replica_key") == key and f" {path}" in r["request"]]


def websocket_handshake(port: int, cookie: str | None, origin: str) -> str:
    key = base64.b64encode(os.urandom(16)).decode()
    lines = [
        "GET /_stcore/stream HTTP/1.1",
        f"Host: 127.0.0.1:{port}",
        f"Origin: {origin}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {key}",
        "Sec-WebSocket-Version: 13",
        "Sec-WebSocket-Protocol: streamlit",
    ] + ([f"Cookie: {cookie}"] if cookie else [])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        return s.recv(4096).decode(errors="replace").split("\r\n", 1)[0]


def test_health_and_the_app_page_through_the_balancer_with_affinity(lb):
    url, run_dir = lb["url"], lb["run_dir"]
    status, headers, body = get(f"{url}/_stcore/health")
    assert (status, body.strip()) == (200, b"ok")
    status, headers, body = get(url + "/")
    assert status == 200 and b'<div id="root"' in body and b"<title>Streamlit</title>" in body
    cookie = replica_cookie(headers)
    assert cookie, headers  # the balancer hands out the affinity cookie with the first page
    key = cookie.split("=", 1)[1]
    for _ in range(8):
        status, headers, _ = get(f"{url}/_stcore/health", cookie)
        assert status == 200 and replica_cookie(headers) is None  # not set again once the browser has it
    port = int(url.rsplit(":", 1)[1])
    assert websocket_handshake(port, cookie, origin=url) == "HTTP/1.1 101 Switching Protocols"
    # Streamlit still refuses a websocket from another origin behind the proxy (Host is passed through)
    assert websocket_handshake(port, None, origin="http://evil.example").startswith("HTTP/1.1 403")
    time.sleep(0.5)  # nginx writes the websocket's log line when it closes
    served = upstreams_for(run_dir, key, "/")
    assert len(served) >= 10 and len(set(served)) == 1, served  # page, health checks and websocket: one replica
    # browsers without the cookie are spread over both replicas
    for _ in range(24):
        get(f"{url}/_stcore/health")
    fresh = collections.Counter(
        r["upstream"]
        for r in access_log(run_dir)
        if r["request"].startswith("GET /_stcore/health") and len(r.get("replica_key", "")) == 32
    )
    assert set(fresh) == {f"127.0.0.1:{p}" for p in lb["ports"]}, fresh


def test_a_browser_session_renders_the_overview_through_the_balancer(lb):
    with browser_helpers.launch_browser() as browser:
        context = browser.new_context(viewport={"width": 1400, "height": 900})
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(lb["url"] + "/")
        browser_helpers.wait_for_app(page)
        assert page.locator("h1").count() and not page.locator(EXCEPTION).count()
        browser_helpers.screenshot(page, ARTIFACTS / "replicas-overview.png")
        key = next(c["value"] for c in context.cookies() if c["name"] == "clinret_replica")
        context.close()
    assert not errors, errors
    time.sleep(0.5)
    streams = upstreams_for(lb["run_dir"], key, "/_stcore/stream")
    assert streams and len(set(upstreams_for(lb["run_dir"], key, "/"))) == 1


def test_a_replica_killed_mid_request_hands_its_sessions_to_the_other(lb):
    url, run_dir = lb["url"], lb["run_dir"]
    with browser_helpers.launch_browser() as browser:
        context = browser.new_context(viewport={"width": 1400, "height": 900})
        page = context.new_page()
        page.goto(url + "/attrition-risk")
        browser_helpers.wait_for_app(page)
        key = next(c["value"] for c in context.cookies() if c["name"] == "clinret_replica")
        serving = set(upstreams_for(run_dir, key, "/"))
        assert len(serving) == 1, serving
        port = int(next(iter(serving)).rsplit(":", 1)[1])
        page.goto(url + "/", wait_until="commit")  # a new page run is under way on that replica...
        os.kill(lb["replica_pid"](port), signal.SIGKILL)  # ...when it dies
        page.reload()
        browser_helpers.wait_for_app(page)
        assert page.locator("h1").count() and not page.locator(EXCEPTION).count()
        status, _, body = get(f"{url}/_stcore/health", f"clinret_replica={key}")
        assert (status, body.strip()) == (200, b"ok")
        context.close()
    moved = upstreams_for(run_dir, key, "/")
    assert moved[-1] != f"127.0.0.1:{port}", moved[-5:]  # served by the surviving replica now
