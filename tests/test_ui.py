"""`branchml ui` in a real headless Chromium driven by Playwright, against the demo repository.

The server is the real CLI (`branchml ui`) on an ephemeral loopback port; the browser is Debian's
`chromium` (Playwright's own browser downloads are not reachable here). Each page is also saved
as a screenshot under docs/screenshots/, which the docs show.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import bml
from demo_helpers import demo_repo

pytest.importorskip("starlette", reason="the dashboard needs the `ui` extra")
pytest.importorskip("sklearn", reason="the demo repository needs the `demo` extra")
sync_api = pytest.importorskip("playwright.sync_api", reason="the browser tests need playwright (test extra)")

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
SHOTS = Path(__file__).resolve().parents[1] / "docs" / "screenshots"
# Without the background-networking flags Chromium keeps trying hosts this machine cannot reach.
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (.ci/run installs it)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    """The demo repository: acme-1..3 and globex-1, monitor/prod with the real server's logs."""
    repo, _, _ = demo_repo(tmp_path_factory, "ui")
    return repo


@pytest.fixture(scope="module")
def server(demo: Path) -> Iterator[str]:
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "branchml", "ui", "--port", str(port)], cwd=demo,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            urllib.request.urlopen(url + "/monitor", timeout=2)
            break
        except OSError:
            if proc.poll() is not None:
                raise AssertionError(proc.stdout.read().decode() if proc.stdout else "ui exited") from None
            time.sleep(0.1)
    yield url
    proc.terminate()
    proc.wait(10)


@pytest.fixture(scope="module")
def page(server: str):
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        tab = browser.new_page(viewport={"width": 1400, "height": 900})
        yield tab
        browser.close()


def _open(page, url: str, shot: str | None = None) -> int:
    response = page.goto(url)
    page.wait_for_load_state("load")
    if shot and os.environ.get("BRANCHML_SCREENSHOTS") == "1":  # refresh docs/screenshots on request
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / f"{shot}.png"), full_page=True)
    return response.status


def test_branch_map_shows_roles_and_leads_to_a_tag_its_lineage_and_the_raw_upload(page, server, demo):
    assert _open(page, server + "/", "branches") == 200
    for role in ("main", "data/raw", "data/clean", "stable", "dev", "monitor"):
        assert page.locator(f'section.role[data-role="{role}"]').count() == 1, role
    assert page.locator('section[data-role="stable"] .branch[data-branch="stable/acme"]').count() == 1
    page.click('.branch[data-branch="stable/acme"] a.name')
    assert page.url.endswith("/branches/stable/acme")
    page.click('a[href="/tags/acme-2"]')
    assert page.url.endswith("/tags/acme-2")
    _open(page, page.url, "tag")
    assert "Model card" in page.content() and page.locator("article.card h1, article.card h2").count() >= 1
    upload = page.locator("#lineage a.node.upload").first
    source = upload.locator("b").inner_text()
    assert source  # the raw upload's Data-Source
    assert page.locator("#lineage a.node.monitor").count() == 1  # logs of acme-2 on monitor/prod
    upload.click()
    assert "/commits/" in page.url and f"Data-Source: {source}" in page.locator("pre.message").inner_text()


def test_runs_table_sorts_and_charts_render_one_mark_per_run(page, server):
    assert _open(page, server + "/runs", "runs") == 200
    rows = page.locator("#runs tbody tr")
    assert rows.count() == 4
    page.click('a.sort[data-column="accuracy"]')  # highest first
    values = [float(v) for v in page.locator("#runs tbody tr td:nth-child(6)").all_inner_texts()]
    assert values == sorted(values, reverse=True)
    page.click('a.sort[data-column="accuracy"]')  # then lowest first
    values = [float(v) for v in page.locator("#runs tbody tr td:nth-child(6)").all_inner_texts()]
    assert values == sorted(values)
    chart = page.locator('.chart[data-metric="accuracy"]')
    chart.locator("svg.main-svg").first.wait_for()
    assert chart.locator(".scatterlayer .trace .points path").count() == 4  # acme-1, acme-2, acme-3, globex-1
    assert chart.locator(".scatterlayer .trace").count() == 2  # one line per customer


def test_compare_releases_files_and_monitoring_pages(page, server):
    assert _open(page, server + "/runs/compare?a=acme-1&b=acme-2", "compare") == 200
    assert page.locator("tr.differs").count() >= 1  # accuracy differs
    _open(page, server + "/runs/compare?a=acme-2&b=acme-3")  # retrained after 2013-2014 arrived: more data
    page.locator('a.rowdiff[href*="data/train/"]').first.click()
    assert "/diff?" in page.url and page.locator("table.rowdiff").count() == 1
    assert max(int(n.replace(",", "")) for n in page.locator("table.rowdiff td.num").all_inner_texts()) > 0  # rows added
    assert _open(page, server + "/releases", "releases") == 200
    assert "runs acme-3 now" in page.locator('section[data-customer="acme"] h2').inner_text()
    assert _open(page, server + "/files/acme-2/data/sample.csv", "file") == 200
    assert page.locator("table.preview tr").count() > 5 and "in the store" in page.content()
    assert _open(page, server + "/files/data/raw/", "files") == 200
    assert page.locator("#listing a").count() >= 1
    assert _open(page, server + "/monitor/prod", "monitor") == 200
    requests, files = page.locator("#requests tr").nth(1).locator("td.num").all_inner_texts()[:2]
    assert int(files) > 0 and (requests == "(large)" or int(requests) > 0)  # the demo's replayed traffic


def test_unknown_tag_ref_and_path_answer_a_readable_404(page, server):
    for url, words in (("/tags/acme-99", "no tag named 'acme-99'"), ("/branches/nope", "no branch named 'nope'"),
                       ("/files/no-such-ref/x.csv", "no branch, tag or commit"),
                       ("/files/main/nope.csv", "has no file or folder"), ("/monitor/staging", "no monitoring yet")):
        assert _open(page, server + url) == 404, url
        assert words in page.locator("p.error").inner_text(), url


def test_urls_cannot_reach_outside_the_tree_or_pass_git_options(server):
    for path in ("/files/main/%2E%2E/%2E%2E/etc/passwd", "/files/--output=x/a", "/raw/main/..%2F..%2Fetc%2Fpasswd",
                 "/commits/--all"):
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(server + path, timeout=10)
        assert err.value.code == 404, path


def test_ui_refuses_a_non_loopback_address_without_the_flag(demo):
    proc = bml(demo, "ui", "--host", "0.0.0.0", "--port", "1", check=False)
    assert proc.returncode == 1 and b"no authentication" in proc.stderr
