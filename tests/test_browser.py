"""The e2e browser checks' helpers (tests/e2e/in_venv/browser.py), without the stack.

The page helpers run in the real headless Chromium (Debian's package, `.ci/browser.sh`) against a
tiny page of a local http.server whose text appears only after its script ran, as in the UIs'
single-page apps; skipped where Chromium or Playwright is absent (CI installs both).
"""

from __future__ import annotations

import base64
import threading
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.in_venv import browser

ROOT = Path(__file__).resolve().parents[1]

# A 2x2 PNG (what the UIs' plots are), written by the test server's page folder.
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAIAAAACCAIAAAD91JpzAAAAFklEQVR4nGP8z8DAwMDAxMDAwMDAAAANHQEDasKb6QAAAABJRU5ErkJggg=="
)
# A single-page app in miniature: its content comes only when the test calls render() (as a UI's
# data arrives after its first paint), so "not there yet" holds however slow the machine is.
PAGE = """<!doctype html><html><body><div id="app">loading</div><script>
window.render = () => {
  document.getElementById("app").innerHTML =
    '<h1>text-classifier</h1><table><tr><td>Version 3</td><td>@ champion</td></tr></table>' +
    '<img src="get-artifact" alt="plots/confusion_matrix.png">' +
    '<img src="missing.png" alt="plots/training_curves.png">';
};
</script></body></html>"""


def test_env_file_and_stack(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("# comment\nMLFLOW_PORT=5999\nAIRFLOW_ADMIN_PASSWORD='s3cret'\nML_MODEL_NAME=\n")
    stack = browser.Stack.from_env(tmp_path, {"DAGSTER_PORT": "3999"})
    assert stack.mlflow == "http://127.0.0.1:5999"
    assert stack.dagster == "http://127.0.0.1:3999"  # the environment wins over .env
    assert stack.airflow == "http://127.0.0.1:8080"
    assert (stack.airflow_user, stack.airflow_password) == ("admin", "s3cret")
    from ml.core.config import Settings

    assert stack.model_name == Settings.model_fields["model_name"].default  # empty in .env: ml's default


def test_missing_texts() -> None:
    assert browser.missing_texts("Version 3 @ champion", ["Version 3", "champion"]) == []
    assert browser.missing_texts("Version 3 @ champion", ["challenger", "Version 3"]) == ["challenger"]


def test_names_are_the_projects() -> None:
    """The pages looked up are the ones the pipelines produce (a rename here must fail)."""
    from ml.core.config import Settings
    from ml.lifecycle.lineage import training_tags
    from ml.pipelines.spec import pipeline

    assert (pipeline("training").airflow_dag, pipeline("training").dagster_job) == (browser.AIRFLOW_DAG, browser.DAGSTER_JOB)
    steps = (ROOT / "ml" / "steps" / "training.py").read_text()
    assert all(f'"{plot}"' in steps for plot in browser.PLOTS)
    manifest = {"fingerprint": "f", "dataset_uri": "s3://d/x.csv", "labels": ["a", "b"]}
    assert set(browser.LINEAGE_TAGS) <= set(training_tags(Settings(), "run-1", manifest))


# An app that crashes on its first load (as MLflow's after a failed chunk load) and renders on the next.
CRASHING = """<!doctype html><html><body><div id="app"></div><script>
const loads = Number(sessionStorage.getItem("loads") || 0) + 1;
sessionStorage.setItem("loads", String(loads));
document.getElementById("app").innerHTML = loads === 1 ? "Something went wrong"
  : 'Version 3 @ champion <img src="get-artifact" alt="plots/confusion_matrix.png">';
</script></body></html>"""


@pytest.fixture
def site(tmp_path: Path) -> Iterator[str]:
    (tmp_path / "index.html").write_text(PAGE)
    (tmp_path / "crashing.html").write_text(CRASHING)
    (tmp_path / "get-artifact").write_bytes(PNG)
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(SimpleHTTPRequestHandler, directory=str(tmp_path)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/index.html"
    server.shutdown()
    server.server_close()


@pytest.fixture
def page() -> Iterator[Any]:
    pytest.importorskip("playwright.sync_api", reason="Playwright not installed (make browser-deps)")
    executable = browser.chromium_path()
    if not executable:
        pytest.skip("no chromium on the PATH (make browser-deps)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=executable, headless=True)
        yield chromium.new_page()
        chromium.close()


def test_page_helpers_in_chromium(page: Any, site: str, tmp_path: Path) -> None:
    page.goto(site)
    assert "Version 3" not in page.inner_text("body")  # not rendered yet
    page.evaluate("setTimeout(window.render, 500)")  # the page renders later, while the helpers wait
    assert browser.wait_for_texts(page, ["text-classifier", "Version 3", "champion"], timeout_s=20) == []
    assert browser.wait_for_texts(page, ["challenger", "champion"], timeout_s=1) == ["challenger"]
    assert browser.image_rendered(page, "plots/confusion_matrix.png", timeout_s=20)
    assert browser.image_rendered(page, "get-artifact", timeout_s=1)  # by its src too
    assert not browser.image_rendered(page, "plots/training_curves.png", timeout_s=1)  # a 404: no image

    shots: list[str] = []
    path = browser.screenshot(page, tmp_path, "page", shots)
    assert shots == [str(path)]
    assert path.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")


def test_a_crashed_app_is_loaded_again(page: Any, site: str) -> None:
    crashing = site.replace("index.html", "crashing.html")
    page.goto(crashing)
    assert browser.wait_for_texts(page, ["Version 3"], timeout_s=5, reloads=0) == ["Version 3"]  # waiting does not help
    page.goto(crashing.replace("crashing.html", "index.html"))  # a fresh start for the same origin's session
    page.evaluate("sessionStorage.clear()")
    page.goto(crashing)
    assert browser.wait_for_texts(page, ["Version 3", "champion"], timeout_s=20) == []
    assert page.evaluate("sessionStorage.getItem('loads')") == "2"


def test_a_crashed_app_is_loaded_again_for_its_image(page: Any, site: str) -> None:
    page.goto(site)
    page.evaluate("sessionStorage.clear()")
    page.goto(site.replace("index.html", "crashing.html"))
    assert browser.image_rendered(page, "plots/confusion_matrix.png", timeout_s=20)
    assert page.evaluate("sessionStorage.getItem('loads')") == "2"

