"""The model server's aiohttp application: `init_app(settings, backend=None)`.

Routes: `POST /v1/analyze`, `GET /healthz`, `GET /metrics`, `GET /openapi.json`. The backend is loaded on the
model thread during start-up (`cleanup_ctx`), so the server listens only once the model is ready. Every error
answer has the `api.ErrorResponse` shape.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor

from aiohttp import web

from model_server.api import MAX_BODY_BYTES, AnalyzeResponse, ErrorBody, ErrorResponse, Health
from model_server.backends import create_backend
from model_server.backends.base import Backend
from model_server.batching import Batcher
from model_server.errors import ApiError, RequestTimeout
from model_server.intake import read_analyze_request
from model_server.metrics import Metrics
from model_server.openapi import openapi_document
from model_server.prepared import prepare_request
from model_server.settings import Settings

log = logging.getLogger(__name__)

settings_key = web.AppKey("settings", Settings)
backend_key = web.AppKey("backend", Backend)
batcher_key = web.AppKey("batcher", Batcher)
metrics_key = web.AppKey("metrics", Metrics)
decode_pool_key = web.AppKey("decode_pool", ThreadPoolExecutor)

# How often a waiting handler checks whether its client is still connected.
DISCONNECT_POLL_S = 0.05
HEALTH_TIMEOUT_S = 30.0

_HTTP_CODES = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    413: "body_too_large",
    415: "unsupported_media_type",
}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def init_app(settings: Settings, backend: Backend | None = None) -> web.Application:
    """Build the application.

    With no `backend`, the one `settings` names is created, loaded and closed by the app; a `backend` passed in
    is loaded if needed but left open at shutdown (its owner closes it).
    """
    app = web.Application(client_max_size=MAX_BODY_BYTES, middlewares=[_error_middleware])
    app[settings_key] = settings
    app[metrics_key] = Metrics()
    if backend is not None:
        app[backend_key] = backend
    app.cleanup_ctx.append(_model_context)
    app.router.add_post("/v1/analyze", analyze)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/openapi.json", openapi)
    return app


async def _model_context(app: web.Application) -> AsyncIterator[None]:
    settings = app[settings_key]
    owns_backend = backend_key not in app  # a backend passed to init_app belongs to the caller
    if owns_backend:
        app[backend_key] = create_backend(settings)
    backend = app[backend_key]
    model_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="model")
    decode_pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="decode")
    loop = asyncio.get_running_loop()
    try:
        await loop.run_in_executor(model_thread, backend.load)
        batcher = Batcher(
            backend,
            model_thread,
            max_batch_size=settings.max_batch_size,
            max_wait_ms=settings.max_wait_ms,
            max_queue=settings.max_queue,
            metrics=app[metrics_key],
        )
        app[metrics_key].add_gauge("model_queue_depth", "Requests waiting for the model.", lambda: batcher.depth)
        app[metrics_key].add_gauge("model_running", "Requests in the batch being run.", lambda: batcher.running)
        app[batcher_key] = batcher
        app[decode_pool_key] = decode_pool
        batcher.start()
        log.info("model server ready: backend %s, model %s", backend.name, backend.model_id)
        yield
        await batcher.stop()
        if owns_backend:
            await loop.run_in_executor(model_thread, backend.close)
    finally:
        model_thread.shutdown(wait=True, cancel_futures=True)
        decode_pool.shutdown(wait=False, cancel_futures=True)


async def analyze(request: web.Request) -> web.Response:
    """`POST /v1/analyze`: see `model_server.api` for the contract."""
    received = time.perf_counter()
    app = request.app
    app[batcher_key].ensure_capacity()  # shed load before reading and decoding the body
    analyze_request, image_bytes = await read_analyze_request(request)
    loop = asyncio.get_running_loop()
    prepared = await loop.run_in_executor(app[decode_pool_key], prepare_request, analyze_request, image_bytes)
    future = app[batcher_key].submit(prepared)
    budget_s = app[settings_key].request_timeout_s - (time.perf_counter() - received)
    result = await _wait_for_result(request, future, budget_s)
    total_ms = round((time.perf_counter() - received) * 1000, 3)
    app[metrics_key].request_seconds.observe(total_ms / 1000)
    body = result.model_copy(update={"timings": result.timings.model_copy(update={"total_ms": total_ms})})
    return web.json_response(text=body.model_dump_json())


async def _wait_for_result(
    request: web.Request, future: asyncio.Future[AnalyzeResponse], budget_s: float
) -> AnalyzeResponse:
    """Await the model's answer; cancel it if the client disconnects or `budget_s` passes."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + budget_s
    try:
        while True:
            remaining = deadline - loop.time()
            if remaining <= 0:
                future.cancel()
                raise RequestTimeout(f"no answer within {request.app[settings_key].request_timeout_s:g} s; retry later")
            done, _ = await asyncio.wait({future}, timeout=min(remaining, DISCONNECT_POLL_S))
            if done:
                return future.result()
            if request.transport is None or request.transport.is_closing():
                future.cancel()
                raise ApiError("the client disconnected", status=499, code="client_closed")
    except asyncio.CancelledError:
        future.cancel()
        raise


async def healthz(request: web.Request) -> web.Response:
    """`GET /healthz`: 200 when a real minimal forward pass succeeds, else 503."""
    backend = request.app.get(backend_key)
    batcher = request.app.get(batcher_key)
    name = backend.name if backend else request.app[settings_key].backend
    model_id = backend.model_id if backend else ""
    if backend is None or batcher is None:
        health = Health(status="unavailable", backend=name, model_id=model_id, detail="not started")
        return web.json_response(text=health.model_dump_json(), status=503)
    try:
        await asyncio.wait_for(batcher.run_on_model_thread(backend.health_check), HEALTH_TIMEOUT_S)
    except Exception as exc:
        detail = f"{type(exc).__name__}: {exc}"[:500]
        log.warning("health check failed: %s", detail)
        health = Health(status="unavailable", backend=name, model_id=model_id, detail=detail)
        return web.json_response(text=health.model_dump_json(), status=503)
    health = Health(status="ok", backend=name, model_id=model_id)
    return web.json_response(text=health.model_dump_json())


async def metrics(request: web.Request) -> web.Response:
    """`GET /metrics`: Prometheus text format."""
    return web.Response(body=request.app[metrics_key].render().encode(), headers={"Content-Type": Metrics.CONTENT_TYPE})


async def openapi(request: web.Request) -> web.Response:
    """`GET /openapi.json`: the contract, generated from the pydantic models."""
    return web.json_response(openapi_document())


def error_response(status: int, code: str, message: str, retry_after: int | None = None) -> web.Response:
    """An `api.ErrorResponse` JSON answer."""
    body = ErrorResponse(error=ErrorBody(code=code, message=message))
    headers = {"Retry-After": str(retry_after)} if retry_after else None
    return web.json_response(text=body.model_dump_json(), status=status, headers=headers)


@web.middleware
async def _error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    app_metrics = request.app[metrics_key]
    try:
        response = await handler(request)
    except ApiError as exc:
        response = error_response(exc.status, exc.code, exc.message, exc.retry_after)
        app_metrics.errors.inc(exc.code)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = _HTTP_CODES.get(exc.status, f"http_{exc.status}")
        message = exc.text or exc.reason
        if exc.status == 413:
            message = f"the body is over {MAX_BODY_BYTES} bytes"
        response = error_response(exc.status, code, message)
        app_metrics.errors.inc(code)
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("unexpected error on %s %s", request.method, request.path)
        response = error_response(500, "internal_error", "unexpected server error; it has been logged")
        app_metrics.errors.inc("internal_error")
    if request.path == "/v1/analyze":
        app_metrics.requests.inc(str(response.status))
    return response
