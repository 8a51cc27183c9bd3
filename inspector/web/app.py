"""The dashboard's HTTP side (Starlette): pages, JSON, the live MJPEG stream, /metrics,
/healthz and /readyz. Built from ready objects; it opens nothing but read-only (and,
for an acknowledgement, one short writable) connections to the log."""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import math
import sqlite3
import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from importlib import resources
from typing import Any

import anyio.to_thread
import numpy as np
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import CollectorRegistry
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import (
    FileResponse,
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    Response,
    StreamingResponse,
)
from starlette.routing import Route

from inspector.errors import ConfigError
from inspector.spc import store as spc_store
from inspector.spc.monitor import stored_specs
from inspector.store.db import transaction
from inspector.store.read import parse_time
from inspector.types import Inspection, StationHealth, StationState, Verdict
from inspector.web.history import LogReader, Search
from inspector.web.live import Dashboard

__all__ = ["Probe", "WebApp", "make_app"]

BOUNDARY = "inspector-frame"
_SPC_POINTS = 60


@dataclass(frozen=True)
class Probe:
    """How the server looks at the station, all quick reads: its state, its health,
    each optional sink's health by name, and the free bytes on the log's disk."""

    state: Callable[[], StationState]
    health: Callable[[], StationHealth]
    sinks: Callable[[], dict[str, bool | None]]
    disk_free: Callable[[], int | None]


@dataclass(frozen=True)
class WebApp:
    """What the routes need: every piece ready-made."""

    dashboard: Dashboard
    probe: Probe
    reader: LogReader
    connect: Callable[[], sqlite3.Connection]  # a writable connection, for an ack
    registry: CollectorRegistry
    token: str | None
    live_fps: float
    max_streams: int
    # asks the station for a recipe (None: a station without recipes)
    request_recipe: Callable[[int], None] | None = None


def make_app(web: WebApp, closing: threading.Event) -> Starlette:
    handlers = _Handlers(web, closing)
    routes = [
        Route("/", handlers.page("live.html")),
        Route("/history", handlers.page("history.html")),
        Route("/static/{name}", handlers.static),
        Route("/healthz", handlers.healthz),
        Route("/readyz", handlers.readyz),
        Route("/metrics", handlers.metrics),
        Route("/live.mjpg", handlers.live_stream),
        Route("/live.jpg", handlers.live_jpeg),
        Route("/api/status", handlers.status),
        Route("/api/fails/{seq:int}.jpg", handlers.fail_jpeg),
        Route("/api/parts", handlers.parts),
        Route("/api/parts/{row_id:int}", handlers.part),
        Route("/api/parts/{row_id:int}/image", handlers.part_image),
        Route("/api/spc", handlers.spc),
        Route("/api/spc/ack", handlers.spc_ack, methods=["POST"]),
        Route("/api/recipe", handlers.recipe, methods=["POST"]),
    ]
    return Starlette(routes=routes)


_STATIC = {"live.html", "history.html", "dashboard.css", "dashboard.js", "history.js"}
_TYPES = {".html": "text/html", ".css": "text/css", ".js": "text/javascript"}


class _Handlers:
    def __init__(self, web: WebApp, closing: threading.Event) -> None:
        self.web = web
        self.closing = closing
        self._streams = 0
        self._streams_lock = threading.Lock()

    # ---------------------------------------------------------------- pages

    def page(self, name: str) -> Callable[[Request], Any]:
        async def serve(request: Request) -> Response:
            return HTMLResponse(_asset(name))

        return serve

    async def static(self, request: Request) -> Response:
        name = request.path_params["name"]
        if name not in _STATIC:
            return PlainTextResponse("not found", 404)
        return Response(_asset(name), media_type=_TYPES[name[name.rindex(".") :]])

    # ---------------------------------------------------------------- service managers

    async def healthz(self, request: Request) -> Response:
        return PlainTextResponse("alive")

    async def readyz(self, request: Request) -> Response:
        state, health = self.web.probe.state(), self.web.probe.health()
        running = state in (StationState.READY, StationState.BUSY)
        ready = running and health.camera is True and health.model is True
        body = {
            "ready": ready,
            "state": state.value,
            "camera": health.camera,
            "model": health.model,
        }
        return JSONResponse(body, 200 if ready else 503)

    async def metrics(self, request: Request) -> Response:
        body = await anyio.to_thread.run_sync(generate_latest, self.web.registry)
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    # ---------------------------------------------------------------- live

    async def status(self, request: Request) -> Response:
        return JSONResponse(_status(self.web))

    async def live_jpeg(self, request: Request) -> Response:
        got = await anyio.to_thread.run_sync(self.web.dashboard.picture_jpeg)
        if got is None:
            return PlainTextResponse("no picture yet", 404)
        return Response(got[1], media_type="image/jpeg", headers={"X-Part-Seq": str(got[0])})

    async def fail_jpeg(self, request: Request) -> Response:
        seq = request.path_params["seq"]
        thumb = request.query_params.get("size") == "thumb"
        got = await anyio.to_thread.run_sync(self.web.dashboard.picture_jpeg, seq, thumb)
        if got is None:
            return PlainTextResponse(f"part {seq} is not among the recent failed parts", 404)
        return Response(got[1], media_type="image/jpeg")

    async def live_stream(self, request: Request) -> Response:
        # counted where the stream runs (its `finally` uncounts it): a client that goes
        # before the first byte never starts the generator
        if self._streams >= self.web.max_streams:
            return PlainTextResponse("too many live streams", 503)
        return StreamingResponse(
            self._frames(),
            media_type=f"multipart/x-mixed-replace; boundary={BOUNDARY}",
            headers={"Cache-Control": "no-store"},
        )

    async def _frames(self) -> AsyncIterator[bytes]:
        """The newest picture whenever there is a new one, at most `live_fps` a second.
        A browser that reads slowly holds this loop at its `yield` (the server's flow
        control); the pictures that came meanwhile are skipped, never queued."""
        interval, sent = 1.0 / self.web.live_fps, 0
        with self._streams_lock:
            self._streams += 1
        try:
            while not self.closing.is_set():
                got = await anyio.to_thread.run_sync(self.web.dashboard.picture_jpeg)
                if got is not None and got[0] != sent:
                    sent = got[0]
                    yield _part(got[1])
                await asyncio.sleep(interval)
        finally:
            with self._streams_lock:
                self._streams -= 1

    # ---------------------------------------------------------------- history

    async def parts(self, request: Request) -> Response:
        try:
            search = _search(request.query_params)
        except ConfigError as exc:
            return PlainTextResponse(str(exc), 400)
        rows = await anyio.to_thread.run_sync(self.web.reader.search, search)
        return JSONResponse({"parts": rows})

    async def part(self, request: Request) -> Response:
        row_id = request.path_params["row_id"]
        row = await anyio.to_thread.run_sync(self.web.reader.part, row_id)
        if row is None:
            return JSONResponse({"error": f"no part with id {row_id}"}, 404)
        # the station's class names, for the detections' class ids
        return JSONResponse(_jsonable(row) | {"class_names": list(self.web.dashboard.names)})

    async def part_image(self, request: Request) -> Response:
        row_id = request.path_params["row_id"]
        path = await anyio.to_thread.run_sync(self.web.reader.image, row_id)
        if path is None:
            return PlainTextResponse(f"no archived image of part {row_id}", 404)
        return FileResponse(path, media_type="image/png")

    # ---------------------------------------------------------------- SPC

    async def spc(self, request: Request) -> Response:
        return JSONResponse(await anyio.to_thread.run_sync(self._spc))

    def _spc(self) -> dict[str, Any]:
        with contextlib.closing(self.web.connect()) as conn:
            try:
                monitors = [spec.name for spec in stored_specs(conn)]
            except sqlite3.Error:  # a log from before SPC
                return {"monitors": [], "alarms": []}
            charts = {m: _points(spc_store.points(conn, m, last=_SPC_POINTS)) for m in monitors}
            alarms = [_alarm(a) for a in spc_store.open_alarms(conn)]
        return {"monitors": [{"name": m, "points": charts[m]} for m in monitors], "alarms": alarms}

    async def spc_ack(self, request: Request) -> Response:
        refused = _refused(self.web.token, request.headers.get("authorization"))
        if refused is not None:
            return refused
        count = await anyio.to_thread.run_sync(self._ack)
        return JSONResponse({"acknowledged": count})

    def _ack(self) -> int:
        with contextlib.closing(self.web.connect()) as conn, transaction(conn):
            return spc_store.acknowledge(conn, "web", "dashboard")

    async def recipe(self, request: Request) -> Response:
        """An operator's recipe request ({"recipe": N}); the switch happens between parts
        and is announced as a RECIPE_CHANGED event (202: asked, not yet done)."""
        refused = _refused(self.web.token, request.headers.get("authorization"))
        if refused is not None:
            return refused
        if self.web.request_recipe is None:
            return JSONResponse({"error": "this station has no recipes"}, 409)
        try:
            body = await request.json()
        except ValueError:
            body = None
        number = body.get("recipe") if isinstance(body, dict) else None
        if not isinstance(number, int) or isinstance(number, bool) or not 0 <= number <= 65535:
            return JSONResponse({"error": 'body must be {"recipe": 0..65535}'}, 400)
        self.web.request_recipe(number)
        return JSONResponse({"requested": number}, 202)


def _refused(token: str | None, header: str | None) -> Response | None:
    """None when the write may go ahead: no token configured, or the right one given."""
    if token is None:
        return None
    if not header or not header.startswith("Bearer "):
        return PlainTextResponse("a token is needed", 401, headers={"WWW-Authenticate": "Bearer"})
    if not hmac.compare_digest(header.removeprefix("Bearer ").encode(), token.encode()):
        return PlainTextResponse("wrong token", 403)
    return None


def _part(jpeg: bytes) -> bytes:
    head = f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpeg)}\r\n\r\n"
    return head.encode() + jpeg + b"\r\n"


def _asset(name: str) -> bytes:
    # one segment per joinpath: Traversable.joinpath takes several only since Python 3.11
    return resources.files("inspector.web").joinpath("static").joinpath(name).read_bytes()


def _search(query: Any) -> Search:
    verdict = query.get("verdict") or None
    if verdict is not None and verdict not in Verdict.__members__:
        raise ConfigError(f"verdict: one of {', '.join(Verdict.__members__)}, got {verdict!r}")
    try:
        limit = int(query.get("limit", 100))
    except ValueError:
        raise ConfigError("limit: a whole number") from None
    return Search(
        since=parse_time(query["since"], "since") if query.get("since") else None,
        until=parse_time(query["until"], "until") if query.get("until") else None,
        verdict=Verdict[verdict] if verdict else None,
        cls=query.get("cls") or None,
        limit=limit,
    )


_BINS_MS = (0, 5, 10, 15, 20, 30, 40, 50, 75, 100, 150, 200, 300, 500, 1000)


def _status(web: WebApp) -> dict[str, Any]:
    snap = web.dashboard.snapshot()
    health = web.probe.health()
    return {
        "state": web.probe.state().value,
        "latest": _brief(snap.latest) if snap.latest else None,
        "picture_seq": snap.picture_seq,
        "parts": snap.parts,
        "fails": snap.fails,
        "no_decision": snap.no_decision,
        "fail_rate": snap.fails / snap.parts if snap.parts else 0.0,
        "parts_per_min": round(snap.parts_per_min, 1),
        "health": {
            "camera": health.camera,
            "model": health.model,
            "log": health.log,
            **web.probe.sinks(),
            "disk_free_mb": _mb(web.probe.disk_free()),
        },
        "latency_ms": {"bins": list(_BINS_MS), "counts": _histogram(snap.latencies_ms)},
        "fails_recent": [_brief(r) for r in reversed(snap.fails_recent)],
        "events": [
            {
                "kind": e.kind.value,
                "severity": e.severity.value,
                "message": e.message,
                "wall_time": e.wall_time,
            }
            for e in reversed(snap.events)
        ],
    }


def _histogram(latencies_ms: tuple[float, ...]) -> list[int]:
    """Parts per latency bin (the last bin: 1 s and more)."""
    if not latencies_ms:
        return [0] * len(_BINS_MS)
    counts, _ = np.histogram(latencies_ms, bins=(*_BINS_MS, math.inf))
    return [int(c) for c in counts]


def _mb(value: int | None) -> float | None:
    return None if value is None else round(value / 1e6, 1)


def _brief(record: Inspection) -> dict[str, Any]:
    return {
        "seq": record.seq,
        "verdict": record.verdict.value,
        "reason": record.judgement.reason,
        "defects": len(record.judgement.defects),
        "latency_ms": _finite(round(record.latency_ms, 2)),
        "wall_time": record.wall_time,
    }


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def _points(points: list[spc_store.PointRow]) -> list[dict[str, Any]]:
    return [
        {
            "subgroup": p.subgroup_id,
            "value": _finite(p.statistic if p.statistic is not None else p.value),
            "center": _finite(p.center),
            "ucl": _finite(p.ucl),
            "lcl": _finite(p.lcl),
        }
        for p in points
    ]


def _alarm(alarm: spc_store.AlarmRow) -> dict[str, Any]:
    return {
        "id": alarm.id,
        "monitor": alarm.monitor,
        "rule": alarm.rule,
        "subgroup": alarm.subgroup_id,
        "wall_time": alarm.wall_time,
    }


def _jsonable(row: dict[str, Any]) -> dict[str, Any]:
    return {k: _finite(v) if isinstance(v, float) else v for k, v in row.items()}
