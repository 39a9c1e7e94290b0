"""The stack's UIs in a real browser: headless Chromium (Debian's package) driven by Playwright.

After the e2e's training runs, opens what a user looks at and asserts on what the rendered page
shows (text and images after the single-page app has loaded, not HTTP status codes):

- MLflow: the registered model's page (its versions, aliases `champion` and `challenger`), the
  champion version's page (its lineage tags), the two plots of its run (rendered images);
- Airflow: logged in through its login form with the `.env` credentials, the page of the newest
  successful `ml_training` run (its grid beside its task instances), every task `success`;
- Dagster: the page of the newest successful training run (status Success, each asset it
  materialized).

Run ids and expected values come from the services' APIs (stdlib urllib). A PNG of each page goes
to bench/results/e2e-browser/. Runs with the project venv (`.venv/bin/python -m tests.e2e.in_venv.browser`
from the repository root; Playwright is a dev dependency); `.ci/browser.sh` installs Chromium. Prints
each check, the screenshots' paths, and as its last stdout line {"checks": [...], "screenshots": [...]}
(the browser phase, tests/e2e/browser.py, merges them into the e2e results). Exit 0 when every check
passed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ml.pipelines.spec import pipeline as spec

from ..checklist import CheckList

ROOT = Path(__file__).resolve().parents[3]
OUT_DIR = ROOT / "bench" / "results" / "e2e-browser"
#: The plots the evaluate step logs to the training run (ml/steps/training.py).
PLOTS = ("plots/confusion_matrix.png", "plots/training_curves.png")
#: Lineage tags of a version (ml/lifecycle/lineage.py) whose values the version page must show.
LINEAGE_TAGS = ("git_sha", "image", "task_signature", "data_fingerprint")
#: The training pipeline in each orchestrator, by the pipeline spec (`python -m ml pipelines`).
AIRFLOW_DAG = spec("training").airflow_dag
DAGSTER_JOB = spec("training").dagster_job
#: How long a page may take to show what it must (the SPA's first load includes its JS bundles).
PAGE_TIMEOUT_S = 45.0
#: What a UI shows when its app crashed (MLflow's error boundary), and how often such a page is loaded again.
CRASHED = ("Something went wrong",)
RELOADS = 3



# --- where the stack is ------------------------------------------------------------------------


def env_file(path: Path) -> dict[str, str]:
    """KEY=value lines of a compose .env file (quotes stripped); empty when the file is absent."""
    values: dict[str, str] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            key, sep, value = line.partition("=")
            if sep and not key.lstrip().startswith("#"):
                value = value.strip()
                if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
                    value = value[1:-1]
                values[key.strip()] = value
    return values


@dataclass(frozen=True)
class Stack:
    """The compose stack's published UIs and the credentials a user logs in with."""

    mlflow: str
    airflow: str
    dagster: str
    airflow_user: str
    airflow_password: str
    model_name: str
    mlflow_user: str = ""
    mlflow_password: str = ""
    dagster_user: str = ""
    dagster_password: str = ""

    def login(self, ui: str) -> dict[str, str] | None:
        """The HTTP basic login a UI asks for (MLflow's auth app, Dagster's proxy); Airflow has a form."""
        user, password = {"mlflow": (self.mlflow_user, self.mlflow_password),
                          "dagster": (self.dagster_user, self.dagster_password)}.get(ui, ("", ""))
        return {"username": user, "password": password} if user and password else None

    def basic(self, ui: str) -> dict[str, str]:
        """The Authorization header of `login(ui)` for API calls ({} without a login)."""
        import base64

        login = self.login(ui)
        if not login:
            return {}
        token = base64.b64encode(f"{login['username']}:{login['password']}".encode()).decode()
        return {"Authorization": f"Basic {token}"}

    @classmethod
    def from_env(cls, root: Path = ROOT, environ: dict[str, str] | None = None) -> Stack:
        """The process environment first, then the checkout's .env, then compose's / ml's defaults."""
        values = {**env_file(root / ".env"), **(os.environ if environ is None else environ)}
        from ml.core.config import Settings  # the default model name is ml's

        def url(port_var: str, default: int) -> str:
            return f"http://127.0.0.1:{values.get(port_var) or default}"

        return cls(
            mlflow=url("MLFLOW_PORT", 5000), airflow=url("AIRFLOW_PORT", 8080), dagster=url("DAGSTER_PORT", 3000),
            airflow_user=values.get("AIRFLOW_ADMIN_USER") or "admin",
            airflow_password=values.get("AIRFLOW_ADMIN_PASSWORD", ""),
            model_name=values.get("ML_MODEL_NAME") or Settings.model_fields["model_name"].default,
            mlflow_user=values.get("MLFLOW_ADMIN_USER") or "admin", mlflow_password=values.get("MLFLOW_ADMIN_PASSWORD", ""),
            dagster_user=values.get("DAGSTER_ADMIN_USER") or "admin",
            dagster_password=values.get("DAGSTER_ADMIN_PASSWORD", ""),
        )


def http_json(url: str, body: dict[str, Any] | None = None, headers: dict[str, str] | None = None) -> Any:
    """GET (or POST `body` as JSON) and decode the JSON answer; HTTP errors raise with their body."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.load(response)
    except urllib.error.HTTPError as exc:
        raise RuntimeError(f"{url}: HTTP {exc.code}: {exc.read()[:300]!r}") from None


# --- what the pages must show (from the APIs) --------------------------------------------------


def mlflow_expected(stack: Stack) -> dict[str, Any]:
    """The registered model's aliases, the champion version's tags, its run and experiment."""
    from ml.lifecycle.registry import CHALLENGER, CHAMPION

    api = f"{stack.mlflow}/api/2.0/mlflow"
    name = urllib.parse.quote(stack.model_name)
    login = stack.basic("mlflow")
    model = http_json(f"{api}/registered-models/get?name={name}", headers=login)["registered_model"]
    aliases = {a["alias"]: a["version"] for a in model.get("aliases", [])}
    missing = [a for a in (CHAMPION, CHALLENGER) if a not in aliases]
    if missing:
        raise RuntimeError(f"model {stack.model_name!r} has no alias {missing} yet: run make train first")
    champion = http_json(f"{api}/model-versions/get?name={name}&version={aliases[CHAMPION]}", headers=login)["model_version"]
    run = http_json(f"{api}/runs/get?run_id={champion['run_id']}", headers=login)["run"]
    return {"aliases": aliases, "champion": champion, "tags": {t["key"]: t["value"] for t in champion.get("tags", [])},
            "run_id": champion["run_id"], "experiment_id": run["info"]["experiment_id"]}


def airflow_token(stack: Stack) -> str:
    answer = http_json(f"{stack.airflow}/auth/token", {"username": stack.airflow_user, "password": stack.airflow_password})
    return answer["access_token"]


def airflow_expected(stack: Stack) -> dict[str, Any]:
    """The newest successful training run and the state of each of its task instances."""
    headers = {"Authorization": f"Bearer {airflow_token(stack)}"}
    api = f"{stack.airflow}/api/v2/dags/{AIRFLOW_DAG}/dagRuns"
    runs = http_json(f"{api}?state=success&order_by=-end_date&limit=1", headers=headers)["dag_runs"]
    if not runs:
        raise RuntimeError(f"Airflow has no successful {AIRFLOW_DAG} run: run make train ORCHESTRATOR=airflow first")
    run_id = runs[0]["dag_run_id"]
    tis = http_json(f"{api}/{urllib.parse.quote(run_id, safe='')}/taskInstances", headers=headers)["task_instances"]
    return {"run_id": run_id, "states": {ti["task_id"]: ti["state"] for ti in tis}}


DAGSTER_RUNS = """query($job: String!) { runsOrError(filter: {pipelineName: $job, statuses: [SUCCESS]}, limit: 1) {
  __typename ... on Runs { results { runId status assetMaterializations { assetKey { path } } } }
  ... on PythonError { message } } }"""


def dagster_expected(stack: Stack) -> dict[str, Any]:
    """The newest successful training run and the asset keys it materialized."""
    answer = http_json(f"{stack.dagster}/graphql", {"query": DAGSTER_RUNS, "variables": {"job": DAGSTER_JOB}},
                       headers=stack.basic("dagster"))
    runs = answer["data"]["runsOrError"]
    if runs["__typename"] != "Runs":
        raise RuntimeError(f"Dagster runsOrError: {runs.get('message')}")
    if not runs["results"]:
        raise RuntimeError(f"Dagster has no successful {DAGSTER_JOB} run: run make train ORCHESTRATOR=dagster first")
    run = runs["results"][0]
    assets = sorted({"/".join(m["assetKey"]["path"]) for m in run["assetMaterializations"]})
    return {"run_id": run["runId"], "assets": assets}


# --- page helpers ------------------------------------------------------------------------------


def missing_texts(shown: str, expected: Iterable[str]) -> list[str]:
    """The expected strings that the page's visible text does not contain (case-sensitive)."""
    return [text for text in expected if text not in shown]


def wait_for_texts(page: Any, expected: Iterable[str], timeout_s: float = PAGE_TIMEOUT_S,
                   scope: str = "body", reloads: int = RELOADS) -> list[str]:
    """Poll the rendered text of `scope` until it shows every expected string; the ones still missing.

    A page whose app crashed (`CRASHED`: MLflow's error page after a script chunk failed to load)
    never recovers by waiting: it is loaded again, up to `reloads` times. Why it happens here: each
    container the other phases start adds a network interface, and Chromium fails the requests in
    flight at that moment with ERR_NETWORK_CHANGED.
    """
    wanted = list(expected)
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            shown = page.inner_text(scope, timeout=5_000)
        except Exception as exc:  # the SPA re-renders or navigates: read it again
            shown, missing = "", [f"{wanted} ({type(exc).__name__})"]
        else:
            missing = missing_texts(shown, wanted)
        if not missing or time.monotonic() > deadline:
            return missing
        if reloads > 0 and any(text in shown for text in CRASHED):
            reloads -= 1
            page.reload()
        page.wait_for_timeout(500)


def image_rendered(page: Any, name: str, timeout_s: float = PAGE_TIMEOUT_S, reloads: int = RELOADS) -> bool:
    """True once an <img> named `name` (its alt text or src; MLflow shows artifacts as blob: URLs
    with the artifact path as alt) has loaded with a non-zero size."""
    script = """([name, crashed]) => [...document.images].some(
        i => (i.alt.includes(name) || i.src.includes(name)) && i.complete && i.naturalWidth > 0)
        || crashed.some(text => document.body.innerText.includes(text))"""
    shown = """(name) => [...document.images].some(
        i => (i.alt.includes(name) || i.src.includes(name)) && i.complete && i.naturalWidth > 0)"""
    for _ in range(reloads + 1):  # a crashed app (see wait_for_texts) is loaded again
        try:
            page.wait_for_function(script, arg=[name, list(CRASHED)], timeout=timeout_s * 1000)
        except Exception:  # Playwright's TimeoutError: the image never showed
            return False
        if page.evaluate(shown, name):
            return True
        page.reload()
    return False


def screenshot(page: Any, out_dir: Path, name: str, shots: list[str]) -> Path:
    path = out_dir / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    shots.append(str(path))
    return path


# --- the three UIs -----------------------------------------------------------------------------


def check_mlflow(page: Any, stack: Stack, out: Path, check: Callable[..., bool], shots: list[str]) -> None:
    from ml.lifecycle.registry import CHAMPION

    want = mlflow_expected(stack)
    name, champion = stack.model_name, want["champion"]["version"]
    base = f"{stack.mlflow}/#/models/{urllib.parse.quote(name)}"

    page.goto(base)
    expected = [name, *(f"Version {v}" for v in sorted(set(want["aliases"].values()))), *want["aliases"]]
    missing = wait_for_texts(page, expected)
    shot = screenshot(page, out, "mlflow-registered-model", shots)
    check("browser: MLflow model page shows the versions and the champion/challenger aliases", not missing,
          f"missing {missing}; {shot}" if missing else f"aliases {want['aliases']}; {shot.name}")

    page.goto(f"{base}/versions/{champion}")
    tags = {k: want["tags"].get(k, "") for k in LINEAGE_TAGS}
    expected = [f"Version {champion}", CHAMPION, *tags, *(v for v in tags.values() if v)]
    missing = wait_for_texts(page, expected)
    shot = screenshot(page, out, "mlflow-champion-version", shots)
    check(f"browser: MLflow champion v{champion} page shows its lineage tags", not missing and all(tags.values()),
          f"missing {missing or [k for k, v in tags.items() if not v]}; {shot}" if missing or not all(tags.values())
          else f"{', '.join(f'{k}={v[:16]}' for k, v in tags.items())}; {shot.name}")

    for plot in PLOTS:
        page.goto("about:blank")  # a new load: the SPA does not follow a hash change to another artifact
        page.goto(f"{stack.mlflow}/#/experiments/{want['experiment_id']}/runs/{want['run_id']}/artifacts/{plot}")
        shown = image_rendered(page, plot)
        shot = screenshot(page, out, f"mlflow-{Path(plot).stem}", shots)
        check(f"browser: MLflow shows the champion run's {plot}", shown, f"{shot.name}" if shown else f"no image; {shot}")


def airflow_login(page: Any, stack: Stack) -> None:
    """Sign in through the UI's login form (SimpleAuthManager), as a user does."""
    page.goto(f"{stack.airflow}/")
    page.wait_for_selector("input[name=username]", timeout=PAGE_TIMEOUT_S * 1000)
    page.fill("input[name=username]", stack.airflow_user)
    page.fill("input[name=password]", stack.airflow_password)
    page.click("button[type=submit]")
    page.wait_for_url(lambda url: "/auth/" not in url, timeout=PAGE_TIMEOUT_S * 1000)


def check_airflow(page: Any, stack: Stack, out: Path, check: Callable[..., bool], shots: list[str]) -> None:
    want = airflow_expected(stack)
    run_id, states = want["run_id"], want["states"]
    check(f"browser: Airflow API: every task of {run_id} succeeded", bool(states) and set(states.values()) == {"success"},
          json.dumps(states))
    airflow_login(page, stack)
    check("browser: Airflow login form accepts the .env credentials", "/auth/" not in page.url, page.url)

    # The run's page: the grid (runs x tasks) beside the run's task instances, each with its state.
    page.goto(f"{stack.airflow}/dags/{AIRFLOW_DAG}/runs/{urllib.parse.quote(run_id, safe='')}")
    missing = wait_for_texts(page, [run_id, f"{len(states)} Task Instances", *states])
    wrong = {}
    for task_id in states:
        row = page.locator("tr", has_text=task_id).first
        text = row.inner_text() if row.count() else "no row"
        if "success" not in text.lower():
            wrong[task_id] = text.replace("\n", " ")[:120]
    shot = screenshot(page, out, "airflow-grid", shots)
    check("browser: Airflow grid of the training run shows every task, each success", not missing and not wrong,
          f"missing {missing}, not success {wrong}; {shot}" if missing or wrong else f"{len(states)} tasks; {shot.name}")


def check_dagster(page: Any, stack: Stack, out: Path, check: Callable[..., bool], shots: list[str]) -> None:
    want = dagster_expected(stack)
    check(f"browser: Dagster API: run {want['run_id'][:8]} materialized assets", bool(want["assets"]),
          ", ".join(want["assets"]))
    # The run's event log, filtered to its materializations (the log list is virtualised: unfiltered,
    # only the newest events are rendered).
    page.goto(f"{stack.dagster}/runs/{want['run_id']}?logs=type%3AASSET_MATERIALIZATION")
    # (not the header's "N assets" tag: the UI fills it from a later query, and at times never)
    expected = ["Success", *(f"Materialized value {a.split('/')[-1]}." for a in want["assets"])]
    missing = wait_for_texts(page, expected)
    skip = page.get_by_role("button", name="Skip")  # the UI's first-visit newsletter dialog hides the page
    if skip.count():
        skip.first.click()
    shot = screenshot(page, out, "dagster-run", shots)
    check("browser: Dagster run page shows Success and each materialized asset", not missing,
          f"missing {missing}; {shot}" if missing else f"{len(want['assets'])} assets; {shot.name}")


# --- entry point -------------------------------------------------------------------------------


def chromium_path() -> str | None:
    """Debian's Chromium (CHROMIUM=/path to choose another); Playwright's own builds are never downloaded."""
    return os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")


def run_browser(stack: Stack, out: Path, only: Iterable[str] = ("mlflow", "airflow", "dagster")) -> dict[str, Any]:
    """Open each UI in one headless Chromium; the checks and the screenshots' paths."""
    from playwright.sync_api import sync_playwright

    checks, shots = CheckList(), []
    executable = chromium_path()
    if not executable:
        checks.check("browser: Chromium is installed", False, "no chromium on the PATH; run .ci/browser.sh (make browser-deps)")
        return {"checks": checks.items, "screenshots": shots}
    out.mkdir(parents=True, exist_ok=True)
    uis = {"mlflow": check_mlflow, "airflow": check_airflow, "dagster": check_dagster}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, headless=True)
        try:
            for name in only:
                context = browser.new_context(viewport={"width": 1600, "height": 1000},
                                              http_credentials=stack.login(name))
                context.set_default_timeout(PAGE_TIMEOUT_S * 1000)
                page = context.new_page()
                checks.guarded(f"browser: {name} UI checked",
                               lambda fn=uis[name], pg=page: fn(pg, stack, out, checks.check, shots))
                context.close()
        finally:
            browser.close()
    return {"checks": checks.items, "screenshots": shots}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=str(OUT_DIR), help="folder of the PNG screenshots")
    parser.add_argument("--only", action="append", choices=["mlflow", "airflow", "dagster"], help="one UI (repeatable)")
    args = parser.parse_args(argv)
    started = time.monotonic()
    result = run_browser(Stack.from_env(), Path(args.out), args.only or ("mlflow", "airflow", "dagster"))
    result["seconds"] = round(time.monotonic() - started, 1)
    for path in result["screenshots"]:
        print(f"screenshot: {path}", file=sys.stderr)
    print(json.dumps(result))
    return 0 if result["checks"] and all(c["passed"] for c in result["checks"]) else 1  # none: nothing proven


if __name__ == "__main__":
    raise SystemExit(main())
