"""The dashboard's Starlette app: one route per page, every view a URL, read-only.

Each request opens its own `Repo` (the store's SQLite connection is per thread) and closes it.
Unknown tags, branches, refs and paths answer a readable 404 page.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

from jinja2 import Environment, PackageLoader, select_autoescape
from markdown_it import MarkdownIt
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from branchml.errors import BranchmlError
from branchml.fs.locate import NotFound, split_ref_path
from branchml.repo import Repo
from branchml.ui import files, monitoring, pages
from branchml.version import __version__

Handler = Callable[[Request, Repo], Response]


def plotly_js() -> Path:
    """Plotly's bundled JavaScript, served from the installed package: the page works offline."""
    import plotly  # type: ignore[import-untyped]  # heavy optional dependency (extra `ui`): only its file is used; untyped

    return Path(os.path.dirname(plotly.__file__)) / "package_data" / "plotly.min.js"


def make_app(root: Path) -> Starlette:
    templates = Environment(loader=PackageLoader("branchml.ui", "templates"), autoescape=select_autoescape(["html"]))
    markdown = MarkdownIt("commonmark", {"html": False}).enable("table")  # raw HTML in a card is shown, not run
    templates.filters["markdown"] = markdown.render
    templates.filters["url"] = lambda text: quote(str(text), safe="/")
    templates.globals["version"] = __version__

    def page(template: str, build: Callable[[Request, Repo], dict[str, Any]]) -> Callable[[Request], Response]:
        def endpoint(request: Request) -> Response:
            return _answer(root, request, lambda r, repo: HTMLResponse(
                templates.get_template(template).render(**build(r, repo), request=r)), templates)
        return endpoint

    def raw(request: Request) -> Response:
        def serve(r: Request, repo: Repo) -> Response:
            data, kind = files.raw(repo, split_ref_path(repo, r.path_params["rest"]))
            return Response(data, media_type=kind, headers={"Content-Security-Policy": "default-src 'none'"})
        return _answer(root, request, serve, templates)

    routes = [
        Route("/", page("index.html", lambda r, repo: pages.branch_map(repo))),
        Route("/runs", page("runs.html", lambda r, repo: pages.runs(repo, **_runs_query(r)))),
        Route("/runs/compare", page("compare.html", lambda r, repo: pages.compare(repo, r.query_params.get("a", ""), r.query_params.get("b", "")))),
        Route("/diff", page("diff.html", lambda r, repo: pages.data_diff(
            repo, r.query_params.get("a", ""), r.query_params.get("b", ""), r.query_params.get("path", ""),
            r.query_params.get("key", "")))),
        Route("/releases", page("releases.html", lambda r, repo: pages.releases(repo))),
        Route("/tags/{name:path}", page("tag.html", lambda r, repo: pages.tag(repo, r.path_params["name"]))),
        Route("/branches/{name:path}", page("branch.html", lambda r, repo: pages.branch(repo, r.path_params["name"]))),
        Route("/commits/{rev}", page("commit.html", lambda r, repo: pages.commit(repo, r.path_params["rev"]))),
        Route("/files", lambda r: RedirectResponse("/files/HEAD/")),
        Route("/files/{rest:path}", page("files.html", _files)),
        Route("/raw/{rest:path}", raw),
        Route("/monitor", page("monitor_list.html", lambda r, repo: {"envs": monitoring.environments(repo)})),
        Route("/monitor/{env:path}", page("monitor.html", lambda r, repo: monitoring.environment(repo, r.path_params["env"]))),
        Route("/static/plotly.min.js", lambda r: FileResponse(plotly_js(), media_type="text/javascript")),
        Route("/static/style.css", lambda r: FileResponse(Path(__file__).with_name("static") / "style.css", media_type="text/css")),
    ]
    return Starlette(routes=routes)


def _files(request: Request, repo: Repo) -> dict[str, Any]:
    where = split_ref_path(repo, request.path_params["rest"])
    return {"where": where, **files.browse(repo, where)}


def _runs_query(request: Request) -> dict[str, str]:
    q = request.query_params
    return {"customer": q.get("customer", ""), "branch": q.get("branch", ""), "sort": q.get("sort", "started"),
            "order": "asc" if q.get("order") == "asc" else "desc"}


def _answer(root: Path, request: Request, handler: Handler, templates: Environment) -> Response:
    repo = Repo.find(root)
    try:
        return handler(request, repo)
    except NotFound as exc:
        return HTMLResponse(templates.get_template("error.html").render(title="Not found", message=str(exc), request=request), 404)
    except BranchmlError as exc:
        return HTMLResponse(templates.get_template("error.html").render(title="Error", message=str(exc), request=request), 500)
    finally:
        if "store" in repo.__dict__:
            repo.store.close()
