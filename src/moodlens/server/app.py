"""`moodlens serve`: the REST API, the live WebSocket and the web page, on FastAPI.

Uploads and frames stay in memory: they are never written to disk or logged.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from fastapi_offline import FastAPIOffline
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartParser
from starlette.middleware.trustedhost import TrustedHostMiddleware

from moodlens import __version__
from moodlens.recording.store import StoreError
from moodlens.server.engine import ApiError, Engine
from moodlens.server.limits import BodySizeLimit
from moodlens.server.metrics import MetricsMiddleware, ServerMetrics
from moodlens.server.routes import STATIC, analysis_routes, live_routes, service_routes
from moodlens.server.security import RequestGuard, allowed_hosts
from moodlens.server.sessions import session_routes
from moodlens.server.settings import ServerSettings


def add_error_handlers(app: FastAPI) -> None:
    """Every error is JSON `{"error", "detail"}`, FastAPI's own 404, 405 and 422 too; a database that fails is
    503, anything unexpected 500."""

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse({"error": exc.error, "detail": exc.detail}, exc.status, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        return JSONResponse({"error": "invalid_request", "detail": problems}, 422)

    @app.exception_handler(StoreError)
    async def database_error(request: Request, exc: StoreError) -> JSONResponse:
        return JSONResponse({"error": "database_unavailable", "detail": str(exc)}, 503, headers={"Retry-After": "5"})

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        """Nothing of the internals in the answer; the traceback goes to the server's log (uvicorn's)."""
        return JSONResponse({"error": "internal_error", "detail": "the server failed on this request"}, 500)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        kind = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, f"http_{exc.status_code}")
        return JSONResponse({"error": kind, "detail": str(exc.detail)}, exc.status_code, headers=exc.headers)


def create_app(settings: ServerSettings | None = None) -> FastAPI:
    settings = settings or ServerSettings()
    # uploaded files stay in memory, never spooled to disk (BodySizeLimit bounds them)
    MultiPartParser.spool_max_size = settings.max_upload_bytes + 1
    # the API docs' scripts and styles ship in fastapi-offline's wheel: /docs and /redoc work offline
    app = FastAPIOffline(title="moodlens", version=__version__, description="Every face in a photo and its emotion.")
    app.state.settings = settings
    app.state.store = None  # the sessions' database, opened on first use
    app.state.metrics = ServerMetrics()
    app.state.engine = Engine(settings, app.state.metrics)
    add_error_handlers(app)
    routers = (analysis_routes(settings), service_routes(settings), live_routes(settings), session_routes(settings))
    for router in routers:
        app.include_router(router)
    app.mount("/static", StaticFiles(directory=str(STATIC)), name="static")
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_upload_bytes)
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=allowed_hosts(settings))  # DNS rebinding
    app.add_middleware(RequestGuard, settings=settings)
    app.add_middleware(MetricsMiddleware, metrics=app.state.metrics)  # outermost: sees every answer
    return app
