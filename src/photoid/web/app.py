"""The review page's web app: FastAPI routes over a :class:`~photoid.service.review.ReviewSession`.

Each route parses, calls one library function and shapes JSON (:mod:`photoid.web.schema`).
Errors are JSON ``{"error": message}``, never a stack trace. Write actions (every ``POST``)
need the token when the app has one (``photoid serve`` sets one when it listens beyond this
machine); a ``POST`` from a page of another origin is refused.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import threading
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from fastapi import FastAPI, Query, Request
from fastapi import Path as FastPath
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from photoid.catalog.uploads import MissingError, find_upload, keep_upload, new_incoming_file
from photoid.errors import CatalogError, ConfigError, ImageReadError, PhotoidError
from photoid.service.review import (
    ReviewSession,
    catalog_photo,
    filter_values,
    individual_summaries,
    pending_uploads,
)
from photoid.web import schema
from photoid.web.receive import UploadRefused, receive_photo
from photoid.web.thumbnails import SIZES, thumbnail_jpeg

STATIC = Path(__file__).parent / "static"
#: the cookie the page sets from its ``#token=`` address, so its thumbnails carry the token
TOKEN_COOKIE = "photoid_token"
log = logging.getLogger("photoid.web")


@dataclass(frozen=True)
class Limits:
    """What one server accepts: ``max_bytes`` per photo, ``max_in_flight`` photos being
    received and identified at once (others wait their turn), of which ``max_decoding`` are
    decoded and identified at a time (a photo near the 60 MP limit takes about 1 GB while it
    is decoded: eight at once took the server from 0.9 to 7.9 GB; one at a time, 2.1 GB,
    ``benchmarks/memory.py``), ``max_batch`` photos the page sends per drop."""

    max_bytes: int = 20 * 2**20
    max_in_flight: int = 8
    max_decoding: int = 1
    max_batch: int = 100


class UploadRef(BaseModel):
    upload: str = Field(description="the upload key /api/identify returned (SHA-256)")


class ConfirmBody(UploadRef):
    individual: str = Field(description="the individual the photo shows (exists)")


class NewBody(UploadRef):
    name: str = Field(description="the new individual's name")


class UndoBody(BaseModel):
    event: int | None = Field(None, description="the change to undo; refused if not the last")


def create_app(
    session: ReviewSession,
    *,
    token: str | None = None,
    limits: Limits = Limits(),
    allowed_hosts: list[str] | None = None,
) -> FastAPI:
    """The app for ``session``'s catalog. ``token``: required on every ``/api`` route, reads
    included (``X-Photoid-Token`` header, ``Authorization: Bearer`` or the ``photoid_token``
    cookie the page sets, so that its ``<img>`` thumbnails carry it); the page itself and its
    static files need none (they hold no data). ``allowed_hosts``: the Host names accepted (a
    guard against DNS rebinding; None accepts any)."""
    # no /docs page: FastAPI's loads its scripts from a CDN; /openapi.json describes the API
    app = FastAPI(title="photoid review", version="1", docs_url=None, redoc_url=None)
    store = session.store
    in_flight = asyncio.Semaphore(limits.max_in_flight)
    decoding = threading.BoundedSemaphore(limits.max_decoding)

    def bounded(work, *args, **kwargs):
        """``work`` once a decoding slot is free; the memory it took is handed back after."""
        with decoding:
            try:
                return work(*args, **kwargs)
            finally:
                release_memory()

    _guard(app, token, allowed_hosts)
    _errors(app)

    @app.get("/", include_in_schema=False)
    def page() -> FileResponse:
        return FileResponse(STATIC / "index.html")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/api/catalog", summary="the catalog: counts, threshold, filter values, limits")
    def catalog() -> dict:
        return schema.catalog(store, filter_values(store), token is not None, limits)

    @app.post("/api/identify", summary="top-5 candidates for one photo (multipart field 'file')",
              openapi_extra=schema.UPLOAD_BODY)  # fmt: skip
    async def identify(
        request: Request,
        species: str | None = None,
        viewpoint: str | None = None,
        location: str | None = None,
    ) -> dict:
        async with in_flight:
            target = new_incoming_file(store)
            headers = request.headers
            received = await receive_photo(
                request.stream(), headers.get("content-type"), headers.get("content-length"),
                target, limits.max_bytes,
            )  # fmt: skip
            upload = await run_in_threadpool(
                bounded, keep_upload, store, target, name=received.filename
            )
            filters = {"species": species, "viewpoint": viewpoint, "location": location}
            review = await run_in_threadpool(bounded, session.identify, upload, **filters)
        return schema.review(upload, review)

    @app.get("/api/uploads", summary="query photos kept and still waiting for a decision")
    def uploads() -> list[dict]:
        return [schema.query(u) for u in pending_uploads(store)]

    @app.get("/api/uploads/{key}/candidates", summary="top-5 candidates for a kept photo")
    def candidates(
        key: str,
        species: str | None = None,
        viewpoint: str | None = None,
        location: str | None = None,
    ) -> dict:
        upload = find_upload(store, key)
        filters = {"species": species, "viewpoint": viewpoint, "location": location}
        return schema.review(upload, bounded(session.identify, upload, **filters))

    @app.post("/api/confirm", summary="the photo shows this (existing) individual: it joins it")
    def confirm(body: ConfirmBody) -> dict:
        return schema.change(session.confirm(find_upload(store, body.upload), body.individual))

    @app.post("/api/individuals", status_code=201, summary="the photo starts a new individual")
    def new_individual(body: NewBody) -> dict:
        return schema.change(session.new_individual(find_upload(store, body.upload), body.name))

    @app.post("/api/skip", summary="no decision for this photo now (logged)")
    def skip(body: UploadRef) -> dict:
        return schema.change(session.skip(find_upload(store, body.upload)))

    @app.post("/api/undo", summary="undo the catalog's last change (this reviewer's: 'event')")
    def undo(body: UndoBody) -> dict:
        return {"undone": schema.event(session.undo(body.event))}

    @app.get("/api/individuals", summary="every individual: photos, sightings, thumbnails")
    def individuals() -> list[dict]:
        return [schema.individual(s) for s in individual_summaries(store)]

    @app.get("/api/individuals/{name}", summary="one individual: photos, sightings, thumbnails")
    def one_individual(name: str) -> dict:
        found = [s for s in individual_summaries(store, n_photos=5) if s.name == name]
        if not found:
            raise MissingError(f"{store.root}: no individual {name!r}.")
        return schema.individual(found[0])

    @app.get("/api/log", summary="the catalog's change log, newest first")
    def change_log(limit: int = Query(100, ge=1, le=10_000)) -> list[dict]:
        from photoid.catalog.history import change_log as read_log

        return [schema.event(e) for e in reversed(read_log(store)[-limit:])]

    size_query = Query(256, ge=SIZES[0], le=SIZES[1], description="longest edge, pixels")

    @app.get("/api/photos/{image_id}/thumbnail", summary="a catalog photo, as a small JPEG")
    def photo_thumbnail(
        image_id: int = FastPath(ge=1, le=2**63 - 1, description="the photo's id"),
        size: int = size_query,
    ) -> Response:
        return _jpeg(catalog_photo(store, image_id).path, size)

    @app.get("/api/uploads/{key}/thumbnail", summary="an uploaded photo, as a small JPEG")
    def upload_thumbnail(key: str, size: int = size_query) -> Response:
        return _jpeg(find_upload(store, key).path, size)

    return app


def _jpeg(path, size: int) -> Response:
    try:
        data = thumbnail_jpeg(path, size)
    except ImageReadError as exc:
        raise MissingError(f"the photo cannot be shown: {exc.reason}") from None
    return Response(data, media_type="image/jpeg", headers={"Cache-Control": "max-age=60"})


def release_memory() -> None:
    """Hand the memory freed by a large photo back to the system (glibc keeps freed blocks in
    its arenas: the server stayed at 2.3 GB after eight large photos). A no-op elsewhere."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def _guard(app: FastAPI, token: str | None, allowed_hosts: list[str] | None) -> None:
    @app.middleware("http")
    async def guard(request: Request, call_next):
        host = (request.headers.get("host") or "").rsplit(":", 1)[0].strip("[]")
        if allowed_hosts is not None and host not in allowed_hosts:
            return _error(403, f"host {host!r} is not served here; open the page by its address.")
        writes = request.method not in ("GET", "HEAD", "OPTIONS")
        if writes:
            origin = request.headers.get("origin")
            if origin and urlsplit(origin).netloc != request.headers.get("host"):
                return _error(403, "write actions are accepted from this server's own page only.")
        data = request.url.path.startswith("/api/") or request.url.path == "/openapi.json"
        if token is not None and (writes or data) and not _token_ok(request, token):
            return _error(
                401, "this server needs its token: open the address `photoid serve` printed "
                "(…/#token=…), or send it as X-Photoid-Token.",
            )  # fmt: skip
        return await call_next(request)


def _token_ok(request: Request, token: str) -> bool:
    given = request.headers.get("x-photoid-token") or ""
    auth = request.headers.get("authorization") or ""
    if auth.lower().startswith("bearer "):
        given = given or auth[7:]
    given = given or request.cookies.get(TOKEN_COOKIE, "")
    return secrets.compare_digest(given.encode(), token.encode())


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def _errors(app: FastAPI) -> None:
    """Every error as ``{"error": message}`` with a fitting status; never a stack trace."""

    @app.exception_handler(UploadRefused)
    async def refused(_request, exc: UploadRefused):
        return _error(exc.status, exc.message)

    @app.exception_handler(PhotoidError)
    async def photoid_error(_request, exc: PhotoidError):
        if isinstance(exc, MissingError):
            return _error(404, str(exc))
        if isinstance(exc, ImageReadError):
            return _error(422, f"not a usable photo: {exc.reason}")
        if isinstance(exc, CatalogError):
            return _error(409, str(exc))
        return _error(400 if isinstance(exc, ConfigError) else 422, str(exc))

    @app.exception_handler(RequestValidationError)
    async def invalid(_request, exc: RequestValidationError):
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg')}" for e in exc.errors()
        )
        return _error(422, f"invalid request: {problems}")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request, exc: StarletteHTTPException):
        return _error(exc.status_code, str(exc.detail))

    @app.exception_handler(Exception)
    async def unexpected(_request, exc: Exception):
        log.exception("unexpected error")
        return _error(500, f"internal error ({type(exc).__name__}); the server's log has details.")
