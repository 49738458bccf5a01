"""The scoring server: MLflow's endpoints, answered by tags, every query journaled before the answer.

    POST /invocations   MLflow scoring protocol (see protocol.py); answer {"predictions": [...]}
    GET  /ping /health  200 once the models are loaded (they load before the port opens)
    GET  /version       branchml's version
    GET  /metadata      tag, commit, code commit, data lineage summary, input schema, split

A request id comes from `X-Request-ID` (made when absent) and is echoed with `X-Branchml-Tag` and
`X-Branchml-Variant`. One log record per row is journaled (written; flushed to the disk within a
second, or before the answer with `fsync`) before the answer is sent;
rows of a multi-row request get `<request id>-<row>`. Shadow tags predict after the answer is
sent; their records carry variant "shadow" and never change what the caller got.
"""

from __future__ import annotations

import asyncio
import gc
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from fastapi import BackgroundTasks, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

from branchml.errors import BranchmlError
from branchml.git import plumbing
from branchml.monitor import Logger
from branchml.monitor.records import LogRecord, new_request_id
from branchml.repo import Repo
from branchml.runs.lineage import data_lineage
from branchml.serve.frame import BAD_REQUEST, Frame, ScoringError
from branchml.serve.model import TaggedModel, load_tag
from branchml.serve.protocol import parse_request
from branchml.serve.split import SHADOW, Router
from branchml.version import __version__

FORCE_HEADER = "x-branchml-variant"


@dataclass(frozen=True)
class ServeOptions:
    env: str = "dev"
    log: bool = True
    timeout: float = 10.0  # seconds a prediction may take before the caller gets 504
    max_body: int = 16 << 20  # bytes; larger requests get 413
    caller_header: str = "X-Caller-ID"
    caller_field: str | None = None
    batch_records: int = 1000
    batch_seconds: float = 5.0
    fsync: bool = False  # True: each answer waits for its journal line to reach the disk (docs/monitor.md)


class Scorer:
    """The state behind the endpoints: loaded tags, the router, the logger."""

    def __init__(self, repo: Repo, router: Router, options: ServeOptions) -> None:
        self.repo = repo
        self.router = router
        self.options = options
        self.models = {tag: load_tag(repo, tag) for tag in dict.fromkeys(router.tags)}
        self.logger = Logger(options.env, repo=repo.cwd, batch_records=options.batch_records,
                             batch_seconds=options.batch_seconds, fsync=options.fsync,
                             commit_in="process") if options.log else None  # commits never slow the answers

    def caller_key(self, request: Request, frame: Frame | None, request_id: str) -> str:
        header = request.headers.get(self.options.caller_header)
        if header:
            return header
        field = self.options.caller_field
        if field and frame is not None and frame.rows and field in frame.columns:
            return str(frame.rows[0][frame.columns.index(field)])
        return request_id

    def log(self, model: TaggedModel, variant: str, request_id: str, frame: Frame, predictions: list[Any], latency_ms: float) -> None:
        if self.logger is None:
            return
        one = len(predictions) == 1
        self.logger.write_all([LogRecord(tag=model.tag, features=features, prediction=prediction, variant=variant,
                                         latency_ms=round(latency_ms, 3), request_id=request_id if one else f"{request_id}-{row}")
                               for row, (features, prediction) in enumerate(zip(frame.records(), predictions))])

    def shadow(self, request_id: str, frame: Frame) -> None:
        for tag in self.router.shadows:
            model = self.models[tag]
            try:
                rows = frame.conform(model.schema) if model.schema else frame
                start = time.perf_counter()
                predictions = model.predict(rows)
            except Exception as exc:  # noqa: BLE001 (a failing shadow must never affect serving)
                print(f"branchml serve: shadow {tag} failed on {request_id}: {exc}", file=sys.stderr)
                continue
            self.log(model, SHADOW, request_id, rows, predictions, (time.perf_counter() - start) * 1000)

    def metadata(self) -> dict[str, Any]:
        primary = self.models[self.router.primary]
        code = plumbing.rev_parse(self.repo.cwd, f"{primary.commit}^")  # None for a tag on a root commit
        return {**primary.metadata(), "code_commit": code, "data_lineage": data_lineage(self.repo, primary.commit),
                "canaries": [{"tag": c.tag, "weight": c.weight} for c in self.router.canaries],
                "shadows": list(self.router.shadows), "env": self.options.env, "logging": self.logger is not None}


def create_app(repo: Repo, router: Router, options: ServeOptions) -> FastAPI:
    """The FastAPI app; models are loaded here, so a broken tag fails before any port is opened."""
    scorer = Scorer(repo, router, options)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        settle_heap()  # the models and the server are loaded: what is alive now lives as long as the server
        yield
        if scorer.logger is not None:
            await run_in_threadpool(scorer.logger.close)

    app = FastAPI(title="branchml serve", version=__version__, lifespan=lifespan)
    app.state.scorer = scorer

    @app.get("/ping")
    @app.get("/health")
    async def ping() -> Response:
        return Response(content="\n", status_code=200, media_type="application/json")

    @app.get("/version")
    async def version() -> Response:
        return Response(content=__version__, media_type="application/json")

    @app.get("/metadata")
    async def metadata() -> dict[str, Any]:
        return await run_in_threadpool(scorer.metadata)

    @app.post("/invocations")
    async def invocations(request: Request, background: BackgroundTasks) -> Response:
        request_id = request.headers.get("x-request-id") or new_request_id()
        try:
            return await _score(scorer, request, background, request_id)
        except ScoringError as exc:
            return JSONResponse(exc.body(), status_code=exc.status, headers={"X-Request-ID": request_id})
        except ClientDisconnect:  # the caller left while sending: nobody to answer, nothing logged
            return Response(status_code=400)
        except BranchmlError as exc:  # the journal could not be written: nothing was acknowledged
            body = {"error_code": "INTERNAL_ERROR", "message": str(exc)}
            return JSONResponse(body, status_code=500, headers={"X-Request-ID": request_id})

    return app


def settle_heap() -> None:
    """Collect once, then move every object alive to the collector's permanent generation, which its
    collections never scan. The loaded models (scikit-learn, numpy, pandas, skops) make a heap of
    hundreds of thousands of objects that a full collection walks while it holds the GIL: at
    500 requests/s a full collection came every 20 s or so and stopped every answer for about
    100 ms (bench/serve_trace.py, bench/RESULTS.md serving run 7), a p99 of its own. Only the objects
    made while serving are scanned from now on."""
    gc.collect()
    gc.freeze()


async def _score(scorer: Scorer, request: Request, background: BackgroundTasks, request_id: str) -> Response:
    body = await _read_body(request, scorer.options.max_body)
    variant, tag = _route(scorer, request, body, request_id)
    model = scorer.models[tag]
    frame = parse_request(body, request.headers.get("content-type"), model.schema)
    predictions = await _predict(scorer, model, variant, request_id, frame)
    if scorer.router.shadows:
        background.add_task(scorer.shadow, request_id, frame)  # runs after the answer is sent
    headers = {"X-Request-ID": request_id, "X-Branchml-Tag": tag, "X-Branchml-Variant": variant}
    return JSONResponse({"predictions": predictions}, headers=headers, background=background)


def _route(scorer: Scorer, request: Request, body: bytes, request_id: str) -> tuple[str, str]:
    forced = request.headers.get(FORCE_HEADER)
    frame = None
    if scorer.options.caller_field and not request.headers.get(scorer.options.caller_header):
        frame = parse_request(body, request.headers.get("content-type"), None)  # the key lives in the features
    try:
        return scorer.router.choose(scorer.caller_key(request, frame, request_id), forced)
    except Exception as exc:
        raise ScoringError(400, BAD_REQUEST, str(exc)) from exc


async def _predict(scorer: Scorer, model: TaggedModel, variant: str, request_id: str, frame: Frame) -> list[Any]:
    timeout = scorer.options.timeout
    try:
        return await asyncio.wait_for(run_in_threadpool(_predict_and_journal, scorer, model, variant, request_id, frame), timeout)
    except TimeoutError:
        raise ScoringError(504, "DEADLINE_EXCEEDED", f"prediction by {model.tag} took longer than {timeout} s") from None
    except ScoringError:
        raise
    except Exception as exc:
        raise ScoringError(400, BAD_REQUEST, f"Encountered an error while evaluating {model.tag}: "
                                             f"{type(exc).__name__}: {exc}") from exc


def _predict_and_journal(scorer: Scorer, model: TaggedModel, variant: str, request_id: str, frame: Frame) -> list[Any]:
    """Predict, then journal the rows, in one worker thread: one hop off the event loop per request, not
    two (the hop was a third of what logging cost, bench/RESULTS.md). `latency_ms` is the prediction's
    own time. A prediction that finishes after the caller got 504 is still journaled."""
    start = time.perf_counter()
    predictions = model.predict(frame)
    latency_ms = (time.perf_counter() - start) * 1000
    try:
        scorer.log(model, variant, request_id, frame, predictions, latency_ms)
    except BranchmlError as exc:  # the journal could not be written: nothing is acknowledged
        raise ScoringError(500, "INTERNAL_ERROR", str(exc)) from exc
    return predictions


async def _read_body(request: Request, limit: int) -> bytes:
    """The body, refused with 413 as soon as it passes `limit` bytes (never held whole when huge)."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise ScoringError(413, "REQUEST_LIMIT_EXCEEDED", f"request body of {declared} bytes is over the limit of {limit}")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ScoringError(413, "REQUEST_LIMIT_EXCEEDED", f"request body is over the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)
