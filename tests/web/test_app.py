"""The dashboard's HTTP side on a station that ran the demo recording: /metrics against
the log, the status codes of bad requests, slow and many clients."""

from __future__ import annotations

import concurrent.futures
import contextlib
import socket
import sqlite3
import time
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.web.running import Running, running_demo

TOKEN = "s3cret-token"


@pytest.fixture(scope="module")
def ran(tmp_path_factory: pytest.TempPathFactory):
    """The whole recording inspected as fast as it goes; the dashboard still serving."""
    folder = tmp_path_factory.mktemp("web")
    token_file = folder / "token"
    token_file.write_text(TOKEN + "\n")
    with running_demo(folder / "log", fast=True, token_file=token_file) as running:
        running.station.wait(120)
        running.wait_for(lambda: _scraped_parts(running) == running.station.stats.parts)
        yield running


def _metrics(running: Running) -> dict[tuple[str, tuple], float]:
    text = httpx.get(running.url + "metrics", timeout=10).text
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def _scraped_parts(running: Running) -> int:
    values = _metrics(running)
    return int(sum(v for (name, _), v in values.items() if name == "inspector_parts_total"))


def _log(running: Running, query: str) -> list[tuple]:
    with contextlib.closing(sqlite3.connect(running.database)) as conn:
        return conn.execute(query).fetchall()


def test_metrics_counters_match_the_inspection_log(ran: Running):
    values = _metrics(ran)
    by_verdict = dict(_log(ran, "SELECT verdict, count(*) FROM inspections GROUP BY verdict"))
    for verdict in ("PASS", "FAIL", "NO_DECISION"):
        scraped = values[("inspector_parts_total", (("verdict", verdict),))]
        assert scraped == by_verdict.get(verdict, 0), verdict
    (defects,) = _log(ran, "SELECT sum(defect_count) FROM inspections WHERE verdict = 'FAIL'")[0]
    assert values[("inspector_defects_total", (("cls", "defect"),))] >= defects
    assert values[("inspector_failed_parts_total", (("cls", "defect"),))] == by_verdict["FAIL"]
    (parts,) = _log(ran, "SELECT count(*) FROM inspections")[0]
    assert values[("inspector_stage_seconds_count", (("stage", "total"),))] == parts
    assert values[("inspector_frames_dropped_total", (("why", "overrun"),))] == 0
    assert values[("inspector_spc_open_alarms", ())] == 0
    assert ("inspector_queue_depth", (("sink", "log"),)) in values


@pytest.mark.parametrize(
    ("method", "path", "headers", "status"),
    [
        ("GET", "/", {}, 200),
        ("GET", "/history", {}, 200),
        ("GET", "/static/dashboard.js", {}, 200),
        ("GET", "/static/../config.py", {}, 404),
        ("GET", "/healthz", {}, 200),
        ("GET", "/api/status", {}, 200),
        ("GET", "/api/parts?verdict=FAIL&limit=5", {}, 200),
        ("GET", "/api/parts?verdict=MAYBE", {}, 400),
        ("GET", "/api/parts?limit=0", {}, 400),
        ("GET", "/api/parts?since=yesterday", {}, 400),
        ("GET", "/api/parts/1", {}, 200),
        ("GET", "/api/parts/999999", {}, 404),
        ("GET", "/api/parts/abc", {}, 404),
        ("GET", "/api/parts/999999/image", {}, 404),
        ("GET", "/api/fails/999999.jpg", {}, 404),
        ("GET", "/live.jpg", {}, 200),
        ("GET", "/api/spc", {}, 200),
        ("POST", "/api/spc/ack", {}, 401),
        ("POST", "/api/spc/ack", {"Authorization": "Bearer wrong"}, 403),
        ("POST", "/api/spc/ack", {"Authorization": TOKEN}, 401),
        ("POST", "/api/spc/ack", {"Authorization": f"Bearer {TOKEN}"}, 200),
        ("GET", "/api/spc/ack", {}, 405),
        ("POST", "/api/recipe", {}, 401),
        ("POST", "/api/recipe", {"Authorization": f"Bearer {TOKEN}"}, 409),  # no recipes
    ],
)
def test_status_codes(ran: Running, method: str, path: str, headers: dict, status: int):
    response = httpx.request(method, ran.url.rstrip("/") + path, headers=headers, timeout=10)
    assert response.status_code == status, response.text


def test_readyz_follows_the_station(ran: Running):
    # the recording has ended: the camera is no longer up, so the station is not ready
    response = httpx.get(ran.url + "readyz", timeout=10)
    assert response.status_code == 503
    assert response.json()["camera"] is None


def test_history_search_and_a_failed_part(ran: Running):
    parts = httpx.get(ran.url + "api/parts?verdict=FAIL&cls=defect&limit=500", timeout=10).json()
    (fails,) = _log(ran, "SELECT count(*) FROM inspections WHERE verdict = 'FAIL'")[0]
    assert len(parts["parts"]) == fails > 0
    part = httpx.get(ran.url + f"api/parts/{parts['parts'][0]['id']}", timeout=10).json()
    assert part["model_sha256"] and part["config_hash"] and part["detections"]
    image = httpx.get(ran.url + f"api/parts/{part['id']}/image", timeout=10)
    assert image.status_code == 200 and image.content.startswith(b"\x89PNG")
    assert httpx.get(ran.url + "api/parts?verdict=PASS&cls=defect", timeout=10).json() == {
        "parts": []
    }


def test_acknowledge_closes_open_alarms(ran: Running):
    alarm = ran.open_alarm()
    assert httpx.get(ran.url + "api/spc", timeout=10).json()["alarms"][-1]["id"] == alarm
    answer = httpx.post(
        ran.url + "api/spc/ack", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10
    )
    assert answer.json() == {"acknowledged": 1}
    assert _log(ran, f"SELECT acked_by FROM spc_alarms WHERE id = {alarm}") == [("web",)]


def _stalled_stream(url: str) -> socket.socket:
    """A client that asks for the live stream and never reads it."""
    host, port = url.removeprefix("http://").rstrip("/").split(":")
    sock = socket.create_connection(("127.0.0.1", int(port)))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.sendall(f"GET /live.mjpg HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
    return sock


def test_slow_and_many_clients_do_not_stop_inspection(tmp_path: Path):
    """Stalled streams, a crowd of readers and a refused stream beyond the cap, at the
    line's pace: every part is decided in time, and the server still answers."""
    with running_demo(tmp_path, fast=False, web={"max_streams": 6}) as running:
        stalled = [_stalled_stream(running.url) for _ in range(4)]
        running.wait_for(lambda: running.station.stats.parts > 0)
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            pages = list(pool.map(lambda _: _get(running.url + "api/status"), range(40)))
        streams = [_stalled_stream(running.url) for _ in range(2)]
        time.sleep(0.5)
        refused = httpx.get(running.url + "live.mjpg", timeout=5).status_code
        running.wait_for(lambda: running.station.stats.parts >= PARTS, timeout=60)
        healthz = _get(running.url + "healthz")
        for sock in stalled + streams:
            sock.close()
    assert set(pages) == {200}
    assert (refused, healthz) == (503, 200)
    assert running.station.stats.no_decision == 0


PARTS = 10  # about 10 s of the recording at its own pace


def _get(url: str) -> int:
    return httpx.get(url, timeout=10).status_code
