"""compose.yaml is valid and keeps its promises: private ports, health, one ml image, no secrets.

`docker compose config` needs only the docker CLI with the compose plugin (no engine); those
tests skip cleanly where the CLI is absent. The static checks of the files need nothing.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = ROOT / "compose.yaml"
ENV_EXAMPLE = ROOT / ".env.example"
CA_OVERRIDE = ROOT / "docker" / "compose.ca.yaml"
CI_OVERRIDE = ROOT / ".ci" / "compose.ci.yaml"
DOCKERFILES = sorted((ROOT / "docker").glob("*.Dockerfile")) + sorted((ROOT / ".ci").glob("*.Dockerfile"))
SECRET_WORDS = ("PASSWORD", "SECRET", "FERNET", "TOKEN", "ACCESS_KEY", "SECRET_KEY")
SOCKET = "/var/run/docker.sock"
LAUNCHERS = {"airflow-scheduler", "dagster-daemon"}  # the only containers that start containers


def _compose_available() -> bool:
    if shutil.which("docker") is None:
        return False
    probe = subprocess.run(["docker", "compose", "version"], capture_output=True, text=True, check=False)
    return probe.returncode == 0


needs_compose = pytest.mark.skipif(not _compose_available(), reason="docker CLI with the compose plugin not found")


@pytest.fixture(scope="module")
def env_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`.env.example` with every empty secret filled (as `make up` does), in a temp file."""
    lines = []
    for line in ENV_EXAMPLE.read_text().splitlines():
        match = re.fullmatch(r"([A-Z][A-Z0-9_]*)=", line)
        lines.append(f"{match.group(1)}=test-{match.group(1).lower()}-value" if match else line)
    path = tmp_path_factory.mktemp("env") / ".env"
    path.write_text("\n".join(lines) + "\n")
    return path


def compose_config(env_file: Path, *files: Path) -> dict[str, Any]:
    args = ["docker", "compose", "--project-directory", str(ROOT), "--env-file", str(env_file)]
    for file in files or (COMPOSE,):
        args += ["-f", str(file)]
    proc = subprocess.run([*args, "config", "--format", "json"], capture_output=True, text=True, check=False,
                          cwd=ROOT, env={"PATH": "/usr/local/bin:/usr/bin:/bin"})
    assert proc.returncode == 0, f"docker compose config failed: {proc.stderr.strip()}"
    return json.loads(proc.stdout)


@pytest.fixture(scope="module")
def config(env_file: Path) -> dict[str, Any]:
    return compose_config(env_file)


def long_running(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Services started by `up` that keep running (not one-shots, not tool profiles)."""
    return {
        name: svc for name, svc in config["services"].items()
        if svc.get("restart", "no") != "no" and not svc.get("profiles")
    }


@needs_compose
def test_compose_config_validates(config: dict[str, Any]) -> None:
    assert config["name"] == "mlpipes"
    expected = {"postgres", "minio", "mlflow", "init-storage", "airflow-init", "airflow-apiserver",
                "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer", "dagster-code",
                "dagster-webserver", "dagster-daemon"}
    assert expected <= set(config["services"])


@needs_compose
def test_compose_config_validates_with_ca_and_ci_overrides(env_file: Path) -> None:
    merged = compose_config(env_file, COMPOSE, CA_OVERRIDE, CI_OVERRIDE)
    assert merged["services"]["postgres"]["image"].startswith("mlpipes-ci/")
    assert merged["services"]["minio"]["image"].startswith("mlpipes-ci/")
    for name, svc in merged["services"].items():
        if "build" in svc:
            assert svc["build"]["args"]["BASE_IMAGE"] == "mlpipes-ci/base:bookworm", name
            if "pip install" in (ROOT / svc["build"]["dockerfile"]).read_text():
                sources = [s.get("source") for s in svc["build"].get("secrets", [])]
                assert sources == ["ca"], f"{name}: the CA bundle is not passed to its pip build"


@needs_compose
def test_published_ports_bind_loopback_by_default(config: dict[str, Any]) -> None:
    published = {}
    for name, svc in config["services"].items():
        for port in svc.get("ports", []):
            assert port.get("host_ip") == "127.0.0.1", f"{name} publishes {port} beyond loopback"
            published[int(port["published"])] = name
    # Dagster's webserver has no login: only its authenticating proxy is published
    assert published == {8080: "airflow-apiserver", 3000: "dagster-proxy", 5000: "mlflow",
                         9000: "minio", 9001: "minio"}


@needs_compose
def test_long_running_services_have_healthchecks(config: dict[str, Any]) -> None:
    services = long_running(config)
    assert len(services) >= 9
    for name, svc in services.items():
        check = svc.get("healthcheck") or {}
        assert check.get("test") and not check.get("disable"), f"{name} has no healthcheck"


@needs_compose
def test_dependencies_wait_for_health_or_completion(config: dict[str, Any]) -> None:
    conditions = {"service_healthy", "service_completed_successfully"}
    for name, svc in config["services"].items():
        for dep, spec in (svc.get("depends_on") or {}).items():
            assert spec["condition"] in conditions, f"{name} -> {dep} waits only for start"
    scheduler = config["services"]["airflow-scheduler"]["depends_on"]
    assert scheduler["airflow-init"]["condition"] == "service_completed_successfully"
    assert scheduler["init-storage"]["condition"] == "service_completed_successfully"


@needs_compose
def test_both_orchestrators_launch_the_image_compose_builds(config: dict[str, Any]) -> None:
    services = config["services"]
    built = services["dagster-code"]["image"]
    assert services["dagster-code"]["build"]["dockerfile"] == "docker/ml.Dockerfile"
    assert services["dagster-code"]["environment"]["DAGSTER_CURRENT_IMAGE"] == built
    for launcher in LAUNCHERS:
        assert services[launcher]["environment"]["ML_IMAGE"] == built, launcher
    assert services["airflow-dag-processor"]["environment"]["ML_IMAGE"] == built
    assert services["init-storage"]["image"] == built
    network = f"{config['name']}_default"
    assert services["airflow-scheduler"]["environment"]["ML_DOCKER_NETWORK"] == network
    assert services["dagster-daemon"]["environment"]["ML_DOCKER_NETWORK"] == network


@needs_compose
def test_airflow_containers_share_one_jwt_secret_and_fernet_key(config: dict[str, Any]) -> None:
    airflow = {n: s for n, s in config["services"].items() if n.startswith("airflow-")}
    assert len(airflow) == 5
    jwt = {s["environment"]["AIRFLOW__API_AUTH__JWT_SECRET"] for s in airflow.values()}
    fernet = {s["environment"]["AIRFLOW__CORE__FERNET_KEY"] for s in airflow.values()}
    assert len(jwt) == 1 and len(fernet) == 1


@needs_compose
def test_docker_socket_only_where_containers_are_launched(config: dict[str, Any]) -> None:
    with_socket = {
        name for name, svc in config["services"].items()
        if any(v.get("target") == SOCKET for v in svc.get("volumes", []))
    }
    assert with_socket == LAUNCHERS


@needs_compose
def test_compose_refuses_to_start_without_secrets(tmp_path: Path) -> None:
    empty = tmp_path / ".env"
    empty.write_text(ENV_EXAMPLE.read_text())
    proc = subprocess.run(["docker", "compose", "--project-directory", str(ROOT), "--env-file", str(empty),
                           "-f", str(COMPOSE), "config", "-q"], capture_output=True, text=True, check=False,
                          cwd=ROOT, env={"PATH": "/usr/local/bin:/usr/bin:/bin"})
    assert proc.returncode != 0
    assert "is not set; run make up" in proc.stderr


# --- static checks (no docker needed) ---------------------------------------------------------


def _raw_compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


def test_no_secret_values_in_compose_yaml() -> None:
    """Every secret-looking variable is an interpolation from .env, never a literal."""
    for name, svc in _raw_compose()["services"].items():
        env = svc.get("environment") or {}
        assert isinstance(env, dict), f"{name}: use a mapping for environment"
        for key, value in env.items():
            if key == "<<":
                continue
            if any(word in key for word in SECRET_WORDS) and not key.endswith("_FILE"):
                assert isinstance(value, str) and value.startswith("${"), f"{name}.{key} is a literal"
    text = COMPOSE.read_text()
    for match in re.finditer(r"://[^:@\s/]+:([^@\s]+)@", text):  # user:password@ in URIs
        assert match.group(1).startswith("${"), f"literal password in a URI: {match.group(0)}"


def test_env_example_documents_every_variable_and_holds_no_secret() -> None:
    documented = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        match = re.fullmatch(r"([A-Z][A-Z0-9_]*)=(.*)", line)
        if match:
            documented[match.group(1)] = match.group(2)
    used = set(re.findall(r"\$\{([A-Z][A-Z0-9_]*)", COMPOSE.read_text()))
    assert used - set(documented) == set(), "variables used in compose.yaml but missing from .env.example"
    for key, value in documented.items():
        if any(word in key for word in SECRET_WORDS):
            assert value == "", f".env.example must not carry a value for {key}"


def test_dockerfiles_build_from_an_arg_base_without_syntax_line() -> None:
    assert len(DOCKERFILES) >= 4
    for path in DOCKERFILES:
        text = path.read_text()
        assert "# syntax=" not in text, f"{path.name}: a syntax line makes BuildKit pull a frontend"
        lines = [line for line in text.splitlines() if line.strip() and not line.startswith("#")]
        assert lines[0].startswith("ARG BASE_IMAGE="), path.name
        assert lines[1] == "FROM ${BASE_IMAGE}", path.name
        for line in text.splitlines():
            if "pip install" in line and "-r " in line:
                assert "constraints.txt" in text, f"{path.name}: pip install without a constraints file"
        if "pip install" in text:
            assert "--mount=type=secret,id=ca" in text, f"{path.name}: no CA build secret for pip"
        assert "\nUSER " in text, f"{path.name}: runs as root"


def test_every_image_has_a_constraints_file_with_exact_pins() -> None:
    for image in ("ml", "airflow", "dagster", "mlflow"):
        path = ROOT / "docker" / f"{image}.constraints.txt"
        assert path.exists(), f"missing {path.name}: run docker/lock.sh {image}"
        pins = [line for line in path.read_text().splitlines() if line and not line.startswith("#")]
        assert pins and all(re.fullmatch(r"[a-z0-9._-]+==[A-Za-z0-9.+!_-]+", p) for p in pins), path.name
    ml_pins = (ROOT / "docker" / "ml.constraints.txt").read_text()
    assert "\ntorch==2.13.0\n" in ml_pins
    assert "\ndagster==1.13.27\n" in ml_pins and "\ndagster-docker==0.29.27\n" in ml_pins


def test_dockerignore_keeps_secrets_and_venvs_out_of_the_context() -> None:
    patterns = (ROOT / ".dockerignore").read_text().splitlines()
    for needed in (".env", ".git", ".venv"):
        assert needed in patterns


@needs_compose
def test_each_service_has_its_own_object_store_identity(config: dict[str, Any]) -> None:
    """Least privilege: the steps' user where steps run or are launched, MLflow's own, root only in the one-shots."""
    def holders(variable: str, value: str) -> set[str]:
        return {name for name, svc in config["services"].items() if svc.get("environment", {}).get(variable) == value}

    steps, root, mlflow = "test-s3_steps_password-value", "test-minio_root_password-value", "test-s3_mlflow_password-value"
    # The triggerer runs the new-data watcher, which lists ML_NEW_DATA_PREFIX (ml/new_data.py); the
    # DAG processor only parses DAG files. (ml-cli, in the `tools` profile, has the operator's user.)
    assert holders("ML_S3_SECRET_KEY", steps) == {"airflow-scheduler", "airflow-triggerer", "dagster-daemon", "dagster-code"}
    assert holders("ML_S3_SECRET_KEY", root) == {"init-storage"}
    assert holders("MINIO_ROOT_PASSWORD", root) == {"minio", "minio-users"}
    assert holders("AWS_SECRET_ACCESS_KEY", mlflow) == {"mlflow"}
    assert not [name for name, svc in config["services"].items() if root in json.dumps(svc.get("environment", {}))
                and name not in ("minio", "minio-users", "init-storage")]


@needs_compose
def test_every_service_runs_without_privileges(config: dict[str, Any]) -> None:
    for name, svc in config["services"].items():
        assert "no-new-privileges:true" in svc.get("security_opt", []), name
        assert svc.get("cap_drop") == ["ALL"], name
        assert set(svc.get("cap_add", [])) <= ({"CHOWN", "DAC_OVERRIDE", "FOWNER", "SETGID", "SETUID"} if name == "postgres"
                                               else set()), name
    for name in LAUNCHERS:
        assert "0" not in [str(g) for g in config["services"][name].get("group_add", [])], name


def test_trigger_runs_in_the_dagster_image_with_api_settings_only() -> None:
    """`make train` runs ml_trigger in the dagster image: orchestrator APIs only, no storage secrets."""
    services = _raw_compose()["services"]
    trigger = services["trigger"]
    assert trigger["profiles"] == ["tools"] and trigger["restart"] == "no"
    assert trigger["image"] == services["dagster-webserver"]["image"]
    assert trigger["build"]["dockerfile"] == "docker/dagster.Dockerfile"
    assert not trigger.get("depends_on")
    assert set(trigger["environment"]) == {"AIRFLOW_URL", "AIRFLOW_PUBLIC_URL", "AIRFLOW_ADMIN_USER",
                                           "AIRFLOW_ADMIN_PASSWORD", "DAGSTER_URL", "DAGSTER_PUBLIC_URL",
                                           "DAGSTER_USER", "DAGSTER_PASSWORD", "ML_INFERENCE_URI", "ML_MODEL_NAME",
                                           "ML_MODEL_CATALOG"}
    assert trigger["environment"]["DAGSTER_URL"] == "http://dagster-proxy:8080"  # logs in, like a person
    assert trigger["volumes"] == ["./config:/opt/ml/config:ro"]  # the model catalog: `make train MODEL=...`
    assert trigger["command"][:3] == ["python", "-m", "ml_trigger"]
    assert "run --rm --no-deps trigger python -m ml_trigger" in (ROOT / "Makefile").read_text()


@needs_compose
def test_tools_profile_config_validates(env_file: Path) -> None:
    args = ["docker", "compose", "--project-directory", str(ROOT), "--env-file", str(env_file), "-f", str(COMPOSE),
            "--profile", "tools", "config", "--format", "json"]
    proc = subprocess.run(args, capture_output=True, text=True, check=False, cwd=ROOT,
                          env={"PATH": "/usr/local/bin:/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stderr.strip()
    services = json.loads(proc.stdout)["services"]
    assert "ML_S3_SECRET_KEY" not in services["trigger"]["environment"]
    assert services["trigger"]["image"] == services["dagster-daemon"]["image"]
    assert "ML_S3_SECRET_KEY" in services["ml-cli"]["environment"]  # the e2e checks read the object store
