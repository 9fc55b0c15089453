"""The model server's aiohttp application: `init_app(settings, backend=None)`.

Routes: `POST /v1/analyze`, `POST /v1/concepts`, `GET /healthz`, `GET /metrics`, `GET /openapi.json`. The
backend is loaded on the model thread during start-up (`cleanup_ctx`), so the server listens only once the
model is ready. A local backend runs behind the batcher (one model thread); a remote one behind the
`RemoteDispatcher` (many calls in flight). Every error answer has the `api.ErrorResponse` shape, including the
last-resort 500, and every answer carries the server's headers (`X-Request-Id` and the others in
`SERVER_HEADERS`).
"""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from aiohttp import web
from pydantic import BaseModel

from model_server.api import MAX_BODY_BYTES, ConceptsResponse, ErrorBody, ErrorResponse, Health
from model_server.backends import create_backend
from model_server.backends.base import BackendBase, RemoteBackend
from model_server.batching import Batcher
from model_server.concepts import ground
from model_server.errors import ApiError, RequestTimeout
from model_server.intake import read_analyze_request, read_concepts_request
from model_server.metrics import Metrics
from model_server.openapi import openapi_document
from model_server.prepared import prepare_request
from model_server.remote import RemoteDispatcher
from model_server.settings import Settings

log = logging.getLogger(__name__)

Dispatcher = Batcher | RemoteDispatcher

settings_key = web.AppKey("settings", Settings)
backend_key = web.AppKey("backend", BackendBase)
batcher_key: web.AppKey[Dispatcher] = web.AppKey("batcher")
metrics_key = web.AppKey("metrics", Metrics)
decode_pool_key = web.AppKey("decode_pool", ThreadPoolExecutor)
request_id_key = web.RequestKey("request_id", str)

# How often a waiting handler checks whether its client is still connected.
DISCONNECT_POLL_S = 0.05
HEALTH_TIMEOUT_S = 30.0
# Headers on every answer, errors included.
SERVER_HEADERS = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}
REQUEST_ID_HEADER = "X-Request-Id"
_CLIENT_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
_COUNTED_PATHS = {"/v1/analyze": "analyze", "/v1/concepts": "concepts"}

_HTTP_CODES = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    413: "body_too_large",
    415: "unsupported_media_type",
}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def init_app(settings: Settings, backend: BackendBase | None = None) -> web.Application:
    """Build the application.

    With no `backend`, the one `settings` names is created, loaded and closed by the app; a `backend` passed in
    is loaded if needed but left open at shutdown (its owner closes it). A remote backend's connections are
    opened and closed by the app either way (they belong to its event loop).
    """
    app = web.Application(client_max_size=MAX_BODY_BYTES, middlewares=[_last_resort_middleware, _error_middleware])
    app[settings_key] = settings
    app[metrics_key] = Metrics()
    if backend is not None:
        app[backend_key] = backend
    app.cleanup_ctx.append(_model_context)
    app.router.add_post("/v1/analyze", analyze)
    app.router.add_post("/v1/concepts", concepts)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/openapi.json", openapi)
    return app


def _dispatcher(backend: BackendBase, settings: Settings, model_thread: ThreadPoolExecutor, m: Metrics) -> Dispatcher:
    if isinstance(backend, RemoteBackend):
        return RemoteDispatcher(
            backend, max_concurrency=settings.max_concurrency, max_queue=settings.max_queue, metrics=m
        )
    return Batcher(
        backend,  # type: ignore[arg-type]  # every BackendBase that is not remote is a Backend
        model_thread,
        max_batch_size=settings.max_batch_size,
        max_wait_ms=settings.max_wait_ms,
        max_queue=settings.max_queue,
        metrics=m,
    )


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
        if isinstance(backend, RemoteBackend):
            await backend.start()
        dispatcher = _dispatcher(backend, settings, model_thread, app[metrics_key])
        app[metrics_key].add_gauge("model_queue_depth", "Requests waiting for the model.", lambda: dispatcher.depth)
        app[metrics_key].add_gauge("model_running", "Requests the model is working on.", lambda: dispatcher.running)
        app[batcher_key] = dispatcher
        app[decode_pool_key] = decode_pool
        dispatcher.start()
        log.info("model server ready: backend %s, identity %s", backend.name, backend.identity.identity)
        yield
        await dispatcher.stop()
        if isinstance(backend, RemoteBackend):
            await backend.aclose()
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
    result = await _wait_for_result(request, future, received)
    return _answer(request, result, received)


async def concepts(request: web.Request) -> web.Response:
    """`POST /v1/concepts`: the concepts the patient's words state, each with the words it rests on."""
    received = time.perf_counter()
    app = request.app
    app[batcher_key].ensure_capacity()
    concepts_request = await read_concepts_request(request)
    backend = app[backend_key]
    if not concepts_request.text.strip():  # nothing to read: no model time spent
        result = ConceptsResponse(language=concepts_request.language, backend=backend.name, model_id=backend.model_id)
    else:
        future = app[batcher_key].submit_concepts(concepts_request)
        result = ground(concepts_request, await _wait_for_result(request, future, received))
    if result.dropped:
        log.info("concepts %s: dropped claims without words from the text: %s", request[request_id_key], result.dropped)
    return _answer(request, result, received)


def _answer(request: web.Request, result: Any, received: float) -> web.Response:
    """The result as JSON, stamped with the backend's identity and the total time."""
    total_ms = round((time.perf_counter() - received) * 1000, 3)
    request.app[metrics_key].request_seconds.observe(total_ms / 1000)
    update = {
        "timings": result.timings.model_copy(update={"total_ms": total_ms}),
        "identity": request.app[backend_key].identity,
    }
    body: BaseModel = result.model_copy(update=update)
    return web.json_response(text=body.model_dump_json())


async def _wait_for_result(request: web.Request, future: asyncio.Future[Any], received: float) -> Any:
    """Await the model's answer; cancel it if the client disconnects or the request's time runs out."""
    loop = asyncio.get_running_loop()
    timeout_s = request.app[settings_key].request_timeout_s
    deadline = loop.time() + timeout_s - (time.perf_counter() - received)
    try:
        while True:
            remaining = deadline - loop.time()
            if remaining <= 0:
                future.cancel()
                raise RequestTimeout(f"no answer within {timeout_s:g} s; retry later")
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
    """`GET /healthz`: 200 when a real minimal forward pass succeeds, else 503. Reports the model's identity."""
    backend = request.app.get(backend_key)
    dispatcher = request.app.get(batcher_key)
    if backend is None or dispatcher is None:
        name = backend.name if backend else request.app[settings_key].backend
        health = Health(status="unavailable", backend=name, model_id="", detail="not started")
        return web.json_response(text=health.model_dump_json(), status=503)
    try:
        async with asyncio.timeout(HEALTH_TIMEOUT_S):
            await dispatcher.check_health()
    except Exception as exc:
        detail = f"{type(exc).__name__}: {exc}"[:500]
        log.warning("health check failed: %s", type(exc).__name__)
        health = Health(
            status="unavailable",
            backend=backend.name,
            model_id=backend.model_id,
            detail=detail,
            identity=backend.identity,
        )
        return web.json_response(text=health.model_dump_json(), status=503)
    health = Health(status="ok", backend=backend.name, model_id=backend.model_id, identity=backend.identity)
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
async def _last_resort_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The outermost layer: a request id, the server's headers on every answer, and any exception that got past
    the error middleware as a 500 JSON answer. Logs the exception's class and the request id only: an
    exception's message or traceback may quote the request, and patients' words never go to the logs."""
    supplied = request.headers.get(REQUEST_ID_HEADER, "")
    request_id = supplied if _CLIENT_REQUEST_ID.match(supplied) else secrets.token_hex(8)
    request[request_id_key] = request_id
    try:
        response = await handler(request)
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        log.error("unexpected %s on request %s", type(exc).__name__, request_id)
        response = error_response(500, "internal_error", f"unexpected server error (request {request_id})")
        request.app[metrics_key].errors.inc("internal_error")
    if not response.prepared:
        response.headers.update(SERVER_HEADERS)
        response.headers[REQUEST_ID_HEADER] = request_id
    endpoint = _COUNTED_PATHS.get(request.path)
    if endpoint == "analyze":
        request.app[metrics_key].requests.inc(str(response.status))
    elif endpoint == "concepts":
        request.app[metrics_key].concept_requests.inc(str(response.status))
    return response


@web.middleware
async def _error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """`ApiError` and aiohttp's HTTP errors as `api.ErrorResponse` answers."""
    app_metrics = request.app[metrics_key]
    try:
        return await handler(request)
    except ApiError as exc:
        app_metrics.errors.inc(exc.code)
        return error_response(exc.status, exc.code, exc.message, exc.retry_after)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = _HTTP_CODES.get(exc.status, f"http_{exc.status}")
        message = exc.text or exc.reason
        if exc.status == 413:
            message = f"the body is over {MAX_BODY_BYTES} bytes"
        app_metrics.errors.inc(code)
        return error_response(exc.status, code, message)
