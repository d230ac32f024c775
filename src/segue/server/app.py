"""The FastAPI application: the model is loaded once, in `lifespan`, and shared by every request."""

from __future__ import annotations

import gc
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from fastapi_offline import FastAPIOffline
from starlette.exceptions import HTTPException

from .. import __version__
from ..modelfile import Model, load_model
from ..generate import WARM_UP_PHRASE, ExtendError, extend
from ..midi_io import MidiError
from ..transcribe import TranscriptionError
from .batcher import Batcher
from .guard import RequestGuard
from .routers import api, page
from .settings import Settings


def create_app(settings: Settings | None = None, checkpoint: Model | None = None) -> FastAPI:
    """Build the app. `checkpoint` injects a model (tests pass a tiny one); otherwise the one
    named by `settings.checkpoint` is loaded at start-up."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        loaded = checkpoint or load_model(settings.checkpoint)
        app.state.checkpoint = loaded
        app.state.model_version = loaded.digest[:12]
        app.state.batcher = Batcher(loaded, settings.max_batch_rows)
        if settings.warm_up:  # the first real request then runs at full speed
            extend(WARM_UP_PHRASE, seed=0, checkpoint=loaded)
        # What is loaded now lives as long as the server. Frozen, the collector stops scanning it:
        # a full collection of PyTorch's ~200,000 objects took ~90 ms and set the p99 under load
        # (a .pt checkpoint still loads PyTorch; a model file does not).
        gc.collect()
        gc.freeze()
        yield
        app.state.batcher.close()

    app = FastAPIOffline(  # FastAPI, with the API docs' scripts served locally
        title="Segue",
        version=__version__,
        description="Extend a played melody by a few seconds with a trained GRU encoder-decoder.",
        lifespan=lifespan,
        redoc_url=None,
    )
    app.state.settings = settings
    app.include_router(api.router)
    app.include_router(page.router)
    app.mount("/static", page.static_files(), name="static")
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _invalid_request)
    app.add_exception_handler(ExtendError, _unprocessable)
    app.add_exception_handler(MidiError, _unreadable_midi)
    app.add_exception_handler(TranscriptionError, _unprocessable)
    if settings.cors_origins:  # closed unless asked: other sites' pages cannot read the answers
        app.add_middleware(CORSMiddleware, allow_origins=settings.cors_origins, allow_methods=["GET", "POST"],
                           allow_headers=["Content-Type"])
    app.add_middleware(RequestGuard, max_body_bytes=settings.max_body_bytes, body_seconds=settings.body_seconds,
                       path_limits=dict.fromkeys(api.RECORDING_ROUTES, settings.max_recording_body_bytes))
    return app


async def _invalid_request(request: Request, error: RequestValidationError) -> JSONResponse:
    """422 with the first problem in plain words in `detail` (what the page shows), and all of
    them, located, in `errors`. The offending input is not echoed: it may be huge, or NaN, which
    JSON cannot carry."""
    errors = [{"loc": list(e["loc"]), "msg": _message(e), "type": e["type"]} for e in error.errors()]
    problems = [e["msg"] if e["type"] == "json_invalid" else f"{_location(e['loc'])}: {e['msg']}" for e in errors]
    return JSONResponse(status_code=422, content={"detail": problems[0] if problems else "invalid request",
                                                  "errors": errors})


async def _http_error(request: Request, error: HTTPException) -> JSONResponse:
    # FastAPI turns any failure to parse a body into "There was an error parsing the body"; say
    # which, for JSON nested past Python's recursion limit ([[[[...]]]]).
    detail = "the JSON is nested too deeply" if isinstance(error.__cause__, RecursionError) else error.detail
    return JSONResponse(status_code=error.status_code, content={"detail": detail}, headers=error.headers)


async def _unprocessable(request: Request, error: ExtendError | TranscriptionError) -> JSONResponse:
    return JSONResponse(status_code=422, content={"detail": str(error)})


async def _unreadable_midi(request: Request, error: MidiError) -> JSONResponse:
    return JSONResponse(status_code=400, content={"detail": str(error)})


def _location(loc: tuple) -> str:
    """("body", "notes", 0, "end") -> "notes[0].end"; the body/query prefix says nothing to users."""
    parts = list(loc[1:]) if loc and loc[0] in ("body", "query") and len(loc) > 1 else list(loc)
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "request"


def _message(error: dict) -> str:
    if error["type"] == "json_invalid":  # its location is a character's position in the body, not a field
        reason = error.get("ctx", {}).get("error", "it cannot be read")
        return f"the body is not valid JSON: {reason[:1].lower()}{reason[1:]} at character {error['loc'][-1]}"
    return error["msg"].removeprefix("Value error, ")
