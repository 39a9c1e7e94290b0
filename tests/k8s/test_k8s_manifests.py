"""docker/k8s keeps compose's promises: one source of truth for images, ports, settings and names.

No cluster is needed. compose.yaml is read as data (its `${VAR:-default}` defaults resolved), and
every manifest, Helm values file and docker/k8s/secrets.sh is checked against it and against the
names in `ml.kube`. Where kubectl is installed, `kubectl kustomize` and `secrets.sh` (client-side
dry run) are run too; those tests skip cleanly without it. Every YAML under docker/k8s is covered,
including docker/k8s/dagster/values.yaml when it exists.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from ml.launch import kube

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "docker" / "k8s"
COMPOSE = ROOT / "compose.yaml"
ENV_EXAMPLE = ROOT / ".env.example"
SECRETS_SH = K8S / "secrets.sh"
AIRFLOW_VALUES = K8S / "airflow" / "values.yaml"
DAGSTER_VALUES = K8S / "dagster" / "values.yaml"
MAKEFILE = ROOT / "Makefile"
YAML_FILES = sorted(p for p in K8S.rglob("*") if p.suffix in (".yaml", ".yml"))

# k8s workload or Service name -> the compose service it stands for.
COMPOSE_SERVICE = {"postgres": "postgres", "minio": "minio", "mlflow": "mlflow", "init-storage": "init-storage",
                   "minio-users": "minio-users", "mlflow-users": "mlflow-users"}
# Compose settings that are deliberately not carried over, with the reason.
NOT_CARRIED = {
    "ML_IMAGE": "a launcher setting with the immutable tag, set by `make k8s-up`; no step reads it",
    "ML_MODEL_CATALOG": "a path of compose's mount; the cluster carries the catalog's content (ML_MODEL_CATALOG_TEXT)",
}
SECRET_WORDS = ("PASSWORD", "SECRET", "FERNET", "TOKEN", "ACCESS_KEY", "PRIVATE", "CREDENTIAL")
VAR = re.compile(r"\$\{(\w+)(?:(:?[-?])([^}]*))?\}")

needs_kubectl = pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl not installed")


# --- reading the sources ----------------------------------------------------------------------


def load_docs(path: Path) -> list[Any]:
    with open(path, encoding="utf-8") as handle:
        return [doc for doc in yaml.safe_load_all(handle) if doc is not None]


def resolve(text: Any) -> tuple[str, set[str]]:
    """Compose interpolation with defaults: (text, variables that have no default)."""
    missing: set[str] = set()

    def substitute(match: re.Match[str]) -> str:
        name, op, default = match.groups()
        if op and op.endswith("-"):
            return default
        missing.add(name)
        return ""

    return VAR.sub(substitute, str(text).replace("$$", "\0")).replace("\0", "$"), missing


def variables(text: str) -> set[str]:
    """Shell/compose variables a value is built from (`$X`, `${X}`, `${X:-d}`)."""
    return set(re.findall(r"\$\{?([A-Z][A-Z0-9_]*)", text))


def split_image(image: str) -> tuple[str, str]:
    name, sep, tag = image.rpartition(":")
    return (name, tag) if sep and "/" not in tag else (image, "")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


def compose_env(compose: dict[str, Any], service: str) -> dict[str, str]:
    return {k: str(v) for k, v in (compose["services"][service].get("environment") or {}).items()}


def compose_defaults(env: dict[str, str]) -> dict[str, str]:
    """The values compose gives without a .env: secrets (no default) left out."""
    resolved = {key: resolve(value) for key, value in env.items()}
    return {key: text for key, (text, missing) in resolved.items() if not missing}


@pytest.fixture(scope="module")
def compose_images(compose: dict[str, Any]) -> dict[str, str]:
    """compose service -> image (defaults resolved)."""
    return {name: resolve(svc["image"])[0] for name, svc in compose["services"].items() if "image" in svc}


@pytest.fixture(scope="module")
def manifests() -> list[dict[str, Any]]:
    """The Kubernetes resources of the kustomize base (not the Kustomization, not Helm values)."""
    docs = []
    for path in YAML_FILES:
        if path.parent != K8S or path.name == "kustomization.yaml":
            continue
        docs += load_docs(path)
    return docs


@pytest.fixture(scope="module")
def kustomization() -> dict[str, Any]:
    return load_docs(K8S / "kustomization.yaml")[0]


@pytest.fixture(scope="module")
def airflow_values() -> dict[str, Any]:
    return load_docs(AIRFLOW_VALUES)[0]


@pytest.fixture(scope="module")
def dagster_values() -> dict[str, Any] | None:
    return load_docs(DAGSTER_VALUES)[0] if DAGSTER_VALUES.exists() else None


def helm_values_files() -> list[Path]:
    return [p for p in YAML_FILES if p.parent != K8S]


@pytest.fixture(scope="module")
def secrets_sh() -> dict[str, dict[str, str]]:
    """Secret name -> {key: value expression} from the `secret NAME KEY=VALUE...` lines of secrets.sh."""
    created: dict[str, dict[str, str]] = {}
    for line in SECRETS_SH.read_text().splitlines():
        match = re.match(r"^secret\s+(\S+)\s+(.+)$", line)
        if match:
            pairs = re.findall(r'([A-Za-z0-9_.-]+)="([^"]*)"', match.group(2))
            assert pairs, f"secrets.sh: cannot read the keys of {line!r}"
            created[match.group(1)] = dict(pairs)
    assert created, "secrets.sh creates no Secret"
    return created


@pytest.fixture(scope="module")
def makefile_config_maps() -> set[str]:
    return set(re.findall(r"create configmap (\S+)", MAKEFILE.read_text()))


def find(docs: list[dict[str, Any]], kind: str, name: str | None = None) -> list[dict[str, Any]]:
    return [d for d in docs if d.get("kind") == kind and (name is None or d["metadata"]["name"] == name)]


def walk(node: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], Any]]:
    """Every (path, value) of a YAML tree; strings that hold YAML lists (chart `extraEnv`) too."""
    yield path, node
    if isinstance(node, dict):
        for key, value in node.items():
            yield from walk(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from walk(value, (*path, index))
    elif isinstance(node, str) and node.lstrip().startswith("- "):
        try:
            parsed = yaml.safe_load(node)
        except yaml.YAMLError:
            return
        if isinstance(parsed, list):
            yield from walk(parsed, (*path, "<yaml>"))


def pod_specs(docs: list[dict[str, Any]]) -> Iterator[tuple[str, dict[str, Any]]]:
    for doc in docs:
        if doc["kind"] in ("Deployment", "StatefulSet", "Job"):
            yield doc["metadata"]["name"], doc["spec"]["template"]["spec"]


def secret_and_config_refs(tree: Any) -> tuple[set[tuple[str, str | None]], set[str]]:
    """(secret name, key or None) and ConfigMap names a manifest or values file refers to."""
    secrets: set[tuple[str, str | None]] = set()
    config_maps: set[str] = set()
    for _path, node in walk(tree):
        if not isinstance(node, dict):
            continue
        for ref in ("secretRef", "secretKeyRef"):
            if isinstance(node.get(ref), dict):
                secrets.add((node[ref]["name"], node[ref].get("key")))
        for ref in ("configMapRef", "configMapKeyRef"):
            if isinstance(node.get(ref), dict):
                config_maps.add(node[ref]["name"])
        if isinstance(node.get("configMap"), dict) and "name" in node["configMap"]:
            config_maps.add(node["configMap"]["name"])
        if isinstance(node.get("secret"), dict) and "secretName" in node["secret"]:
            secrets.add((node["secret"]["secretName"], None))
        # Chart values: `*SecretName` keys (Airflow, Dagster) and Dagster's envSecrets/envConfigMaps.
        for key, value in node.items():
            if isinstance(value, str) and key.lower().endswith("secretname") and value and "{{" not in value:
                secrets.add((value, node.get("secretKey")))
        for item in node.get("envSecrets") or []:
            if isinstance(item, dict):
                secrets.add((item["name"], None))
        for item in node.get("envConfigMaps") or []:
            if isinstance(item, dict):
                config_maps.add(item["name"])
    return secrets, config_maps


# --- parsing and structure -----------------------------------------------------------------


def test_the_folder_has_the_expected_files() -> None:
    names = {p.relative_to(K8S).as_posix() for p in YAML_FILES}
    assert {"kustomization.yaml", "airflow/values.yaml", "config.yaml", "rbac.yaml"} <= names
    assert SECRETS_SH.exists()


@pytest.mark.parametrize("path", YAML_FILES, ids=lambda p: p.relative_to(K8S).as_posix())
def test_every_yaml_parses(path: Path) -> None:
    docs = load_docs(path)
    assert docs, f"{path} is empty"
    for doc in docs:
        assert isinstance(doc, dict), f"{path}: a document is not a mapping"
        if path.parent == K8S:
            assert {"apiVersion", "kind"} <= set(doc), f"{path}: a document without apiVersion/kind"


def test_kustomization_lists_every_manifest_and_sets_the_namespace(kustomization: dict[str, Any]) -> None:
    assert kustomization["kind"] == "Kustomization"
    assert kustomization["namespace"] == kube.DEFAULT_NAMESPACE
    on_disk = {p.name for p in YAML_FILES if p.parent == K8S and p.name != "kustomization.yaml"}
    assert set(kustomization["resources"]) == on_disk, "a manifest is missing from kustomization.yaml (or vice versa)"
    # Generated ConfigMaps would get a hash suffix and no longer match the names the launchers use.
    assert "configMapGenerator" not in kustomization and "secretGenerator" not in kustomization


def test_manifests_deserialize_into_kubernetes_models(manifests: list[dict[str, Any]]) -> None:
    """Each resource becomes its V1 model and serializes back unchanged: no unknown or misplaced field."""
    from kubernetes import client

    api = client.ApiClient()

    class Response:
        def __init__(self, doc: dict[str, Any]) -> None:
            self.data = json.dumps(doc)

    def normal(node: Any) -> Any:
        if isinstance(node, dict):
            return {k: normal(v) for k, v in node.items() if v is not None}
        if isinstance(node, list):
            return [normal(v) for v in node]
        return str(node)

    assert len(manifests) >= 10
    for doc in manifests:
        group_version = doc["apiVersion"].split("/")
        assert group_version[-1] == "v1", f"{doc['kind']} {doc['metadata']['name']}: not a stable v1 API"
        model = f"V1{doc['kind']}"
        assert hasattr(client, model), f"unknown kind {doc['kind']}"
        obj = api.deserialize(Response(doc), model)
        back = api.sanitize_for_serialization(obj)
        assert normal(back) == normal(doc), f"{doc['kind']} {doc['metadata']['name']} has fields its model lacks"


@needs_kubectl
def test_kustomize_renders_every_resource_in_the_namespace(manifests: list[dict[str, Any]]) -> None:
    proc = subprocess.run(["kubectl", "kustomize", str(K8S)], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    rendered = [d for d in yaml.safe_load_all(proc.stdout) if d]
    assert {(d["kind"], d["metadata"]["name"]) for d in rendered} == {
        (d["kind"], d["metadata"]["name"]) for d in manifests
    }
    for doc in rendered:
        if doc["kind"] != "Namespace":
            assert doc["metadata"]["namespace"] == kube.DEFAULT_NAMESPACE, doc["metadata"]["name"]
        assert doc["metadata"]["labels"]["app.kubernetes.io/part-of"] == "ml-pipelines"


# --- names shared with ml.kube --------------------------------------------------------------


def test_resources_use_the_names_of_ml_kube(
    manifests: list[dict[str, Any]], secrets_sh: dict[str, dict[str, str]], compose: dict[str, Any]
) -> None:
    assert find(manifests, "Namespace", kube.DEFAULT_NAMESPACE)
    steps = find(manifests, "ServiceAccount", kube.DEFAULT_SERVICE_ACCOUNT)
    assert steps and steps[0]["automountServiceAccountToken"] is False, "step pods need no API token"
    assert find(manifests, "ConfigMap", kube.DEFAULT_CONFIG_MAP)
    # The step Secret carries compose's x-ml-secrets, from the same .env variables.
    ml_secrets = {k: variables(v) for k, v in compose["x-ml-secrets"].items()}
    assert kube.DEFAULT_SECRET in secrets_sh
    assert {k: variables(v) for k, v in secrets_sh[kube.DEFAULT_SECRET].items()} == ml_secrets


def test_configmap_equals_compose_ml_env(manifests: list[dict[str, Any]], compose: dict[str, Any]) -> None:
    data = dict(find(manifests, "ConfigMap", kube.DEFAULT_CONFIG_MAP)[0]["data"])
    expected = {k: v for k, v in compose_defaults({k: str(v) for k, v in compose["x-ml-env"].items()}).items()
                if k not in NOT_CARRIED}
    catalog = data.pop("ML_MODEL_CATALOG_TEXT")
    assert data == expected
    # the same model catalog as compose's config/models.yaml (every pod gets it through envFrom)
    assert yaml.safe_load(catalog) == yaml.safe_load((ROOT / "config" / "models.yaml").read_text())


# --- images, ports, commands, env -----------------------------------------------------------


def test_every_image_is_a_compose_image(
    manifests: list[dict[str, Any]],
    airflow_values: dict[str, Any],
    dagster_values: dict[str, Any] | None,
    compose_images: dict[str, str],
) -> None:
    repos = {split_image(image)[0]: image for image in compose_images.values()}
    used = [node for _path, node in walk(manifests) if isinstance(node, str) and _path and _path[-1] == "image"]
    assert used, "no image in the manifests"
    for image in used:
        assert image in compose_images.values(), f"{image} is not an image of compose.yaml"
    for workload, spec in pod_specs(manifests):
        for container in spec["containers"]:
            assert container["image"] == compose_images[COMPOSE_SERVICE[workload]], workload
    # Helm values: repository (+ tag) pairs.
    airflow = airflow_values["images"]["airflow"]
    assert f"{airflow['repository']}:{airflow['tag']}" == compose_images["airflow-apiserver"]
    if dagster_values is not None:
        found = 0
        for _path, node in walk(dagster_values):
            if isinstance(node, dict) and isinstance(node.get("repository"), str):
                assert node["repository"] in repos, f"dagster values: {node['repository']} is not a compose image"
                found += 1
        assert found, "dagster values name no image"


def test_airflow_ml_image_renders_to_the_compose_ml_image(
    airflow_values: dict[str, Any], compose: dict[str, Any]
) -> None:
    """ML_IMAGE is a template over the Airflow image (one tag for all); render it as Helm would."""
    extra = yaml.safe_load(airflow_values["extraEnv"])
    template = next(item["value"] for item in extra if item["name"] == "ML_IMAGE")
    airflow = airflow_values["images"]["airflow"]
    rendered = re.sub(r'\{\{\s*\.Values\.images\.airflow\.repository\s*\|\s*trimSuffix\s+"airflow"\s*\}\}',
                      airflow["repository"].removesuffix("airflow"), template)
    rendered = re.sub(r"\{\{\s*\.Values\.images\.airflow\.tag\s*\}\}", airflow["tag"], rendered)
    assert "{{" not in rendered, f"unexpected template in ML_IMAGE: {template}"
    assert rendered == resolve(compose["x-ml-env"]["ML_IMAGE"])[0]


def test_services_and_container_ports_match_compose(manifests: list[dict[str, Any]], compose: dict[str, Any]) -> None:
    text = COMPOSE.read_text()
    services = find(manifests, "Service")
    assert {s["metadata"]["name"] for s in services} == {"postgres", "minio", "mlflow"}
    for service in services:
        name = service["metadata"]["name"]
        assert service["spec"].get("type", "ClusterIP") == "ClusterIP", f"{name}: reach UIs with make k8s-forward"
        compose_svc = compose["services"][COMPOSE_SERVICE[name]]
        ports = {int(resolve(p)[0].rsplit(":", 1)[-1]) for p in compose_svc.get("ports", [])}
        ports |= {int(p) for p in re.findall(rf"(?:@|//){name}:(\d+)\b", text)}  # http://minio:9000, @postgres:5432
        assert {p["port"] for p in service["spec"]["ports"]} == ports, name
        assert {p["targetPort"] for p in service["spec"]["ports"]} == ports, name
        workload = [d for d in manifests if d["kind"] in ("StatefulSet", "Deployment") and d["metadata"]["name"] == name]
        assert workload, f"no workload behind Service {name}"
        selector = service["spec"]["selector"]
        labels = workload[0]["spec"]["template"]["metadata"]["labels"]
        assert selector.items() <= labels.items(), f"Service {name} selects no pod"
        container_ports = {p["containerPort"] for c in workload[0]["spec"]["template"]["spec"]["containers"]
                           for p in c.get("ports", [])}
        assert container_ports == ports, name


def test_containers_get_compose_command_and_environment(
    manifests: list[dict[str, Any]],
    compose: dict[str, Any],
    secrets_sh: dict[str, dict[str, str]],
) -> None:
    config_map = find(manifests, "ConfigMap", kube.DEFAULT_CONFIG_MAP)[0]["data"]
    checked = set()
    for workload, spec in pod_specs(manifests):
        service = COMPOSE_SERVICE[workload]
        (container,) = spec["containers"]
        raw = compose_env(compose, service)
        # compose `command` replaces the image CMD: Kubernetes `args`.
        if "command" in compose["services"][service]:
            expected = [resolve(part)[0] for part in compose["services"][service]["command"]]
            assert container.get("args") == expected, f"{workload}: args differ from compose's command"
            assert "command" not in container
        provided: dict[str, str] = {}
        for item in container.get("env", []):
            assert "value" in item, f"{workload}: {item['name']} should come from a Secret via envFrom"
            provided[item["name"]] = str(item["value"])
        defaults = compose_defaults(raw)
        for key, value in provided.items():
            if key in defaults:
                assert value == defaults[key], f"{workload}: {key}={value!r}, compose has {defaults[key]!r}"
        for source in container.get("envFrom", []):
            if "configMapRef" in source:
                assert source["configMapRef"]["name"] == kube.DEFAULT_CONFIG_MAP
                provided.update(config_map)
            else:
                name = source["secretRef"]["name"]
                for key, expr in secrets_sh[name].items():
                    # A secret key must be built from the same .env variables as in compose.
                    if key in raw:
                        assert variables(expr) == variables(raw[key]), f"{name}.{key}: {expr} vs compose {raw[key]}"
                    provided[key] = expr
        missing = set(raw) - set(provided) - set(NOT_CARRIED)
        assert not missing, f"{workload} lacks compose's {sorted(missing)}"
        checked.add(workload)
    assert checked == set(COMPOSE_SERVICE)


# --- Secrets and ConfigMaps by name ----------------------------------------------------------


def test_every_secret_and_configmap_referenced_is_created(
    manifests: list[dict[str, Any]],
    secrets_sh: dict[str, dict[str, str]],
    makefile_config_maps: set[str],
) -> None:
    known_config_maps = {d["metadata"]["name"] for d in find(manifests, "ConfigMap")} | makefile_config_maps
    assert kube.DEFAULT_CONFIG_MAP in known_config_maps
    assert "postgres-init" in makefile_config_maps, "make k8s-config must create the init SQL ConfigMap"
    used_secrets: set[str] = set()
    trees = [(p.relative_to(K8S).as_posix(), load_docs(p)) for p in YAML_FILES]
    for name, tree in trees:
        secrets, config_maps = secret_and_config_refs(tree)
        for secret, key in secrets:
            assert secret in secrets_sh, f"{name}: Secret {secret} is not created by secrets.sh"
            if key is not None:
                assert key in secrets_sh[secret], f"{name}: Secret {secret} has no key {key}"
            used_secrets.add(secret)
        for config_map in config_maps:
            assert config_map in known_config_maps, f"{name}: ConfigMap {config_map} is created nowhere"
    unused = set(secrets_sh) - used_secrets
    if not DAGSTER_VALUES.exists():  # its Secret is consumed by the Dagster chart values, not written yet
        unused = {s for s in unused if "dagster" not in s}
    assert not unused, f"secrets.sh creates Secrets nothing uses: {sorted(unused)}"


def test_secrets_sh_reads_only_env_example_variables(secrets_sh: dict[str, dict[str, str]]) -> None:
    env_names = set(re.findall(r"^([A-Z][A-Z0-9_]*)=", ENV_EXAMPLE.read_text(), re.M))
    used = set().union(*(variables(v) for keys in secrets_sh.values() for v in keys.values()))
    assert used <= env_names, f"not in .env.example: {sorted(used - env_names)}"
    for name, keys in secrets_sh.items():
        for key, value in keys.items():
            assert variables(value), f"{name}.{key} is a literal, not a .env value"


# --- Airflow chart values ---------------------------------------------------------------------


def test_airflow_launcher_env_matches_ml_kube(airflow_values: dict[str, Any]) -> None:
    env = {item["name"]: item["value"] for item in airflow_values["env"]}
    assert env["ML_LAUNCHER"] == "kubernetes"
    fields = kube.PodSettings.model_fields
    for name in (k for k in env if k.startswith("ML_K8S_")):
        assert name.removeprefix("ML_K8S_").lower() in fields, f"{name} is no ml.launch.kube.PodSettings field"
    assert env["ML_K8S_NAMESPACE"] == kube.DEFAULT_NAMESPACE
    assert env["ML_K8S_SERVICE_ACCOUNT"] == kube.DEFAULT_SERVICE_ACCOUNT
    assert env["ML_K8S_SECRET"] == kube.DEFAULT_SECRET
    assert env["ML_K8S_CONFIG_MAP"] == kube.DEFAULT_CONFIG_MAP
    settings = kube.PodSettings(**{k.removeprefix("ML_K8S_").lower(): v for k, v in env.items()
                                   if k.startswith("ML_K8S_")})
    assert settings.gpus == 0, "GPUs are opt-in (docs/kubernetes.md)"
    env_from = yaml.safe_load(airflow_values["extraEnvFrom"])
    assert env_from == [{"configMapRef": {"name": kube.DEFAULT_CONFIG_MAP}}]  # step secrets stay out of Airflow


def test_airflow_values_carry_compose_airflow_settings(
    airflow_values: dict[str, Any], compose: dict[str, Any], secrets_sh: dict[str, dict[str, str]]
) -> None:
    raw = {k: v for k, v in compose_env(compose, "airflow-scheduler").items() if k.startswith("AIRFLOW__")}
    defaults = compose_defaults(raw)
    config = airflow_values["config"]
    # Settings the chart takes from Secrets (its own key names), and one set from the secret: list.
    by_chart = {
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": (airflow_values["data"]["metadataSecretName"], "connection"),
        "AIRFLOW__CORE__FERNET_KEY": (airflow_values["fernetKeySecretName"], "fernet-key"),
        "AIRFLOW__API__SECRET_KEY": (airflow_values["apiSecretKeySecretName"], "api-secret-key"),
        "AIRFLOW__API_AUTH__JWT_SECRET": (airflow_values["jwtSecretName"], "jwt-secret"),
    }
    by_chart.update({s["envName"]: (s["secretName"], s["secretKey"]) for s in airflow_values["secret"]})
    for key, value in raw.items():
        if key in by_chart:
            secret, secret_key = by_chart[key]
            assert variables(secrets_sh[secret][secret_key]) >= variables(value) - {"AIRFLOW_ADMIN_USER"}, key
            continue
        if key == "AIRFLOW__CORE__EXECUTOR":
            assert airflow_values["executor"] == defaults[key]
            continue
        _, section, option = key.split("__", 2)
        assert option.lower() in config.get(section.lower(), {}), f"{key} is not carried into the chart config"
        carried = str(config[section.lower()][option.lower()])
        if key == "AIRFLOW__CORE__EXECUTION_API_SERVER_URL":  # the chart's service name, not compose's
            assert carried.endswith("-api-server:{{ .Values.ports.apiServer }}/execution/"), carried
            continue
        assert carried.lower() == defaults[key].lower(), f"{key}: {carried!r} vs compose {defaults[key]!r}"
    # The admin account of the entry point, as the compose API server gets it.
    api_env = compose_env(compose, "airflow-apiserver")
    assert {"AIRFLOW_ADMIN_USER", "AIRFLOW_ADMIN_PASSWORD"} <= api_env.keys() & by_chart.keys()


# --- RBAC ---------------------------------------------------------------------------------------


def test_launchers_may_start_watch_exec_and_delete_step_pods(
    manifests: list[dict[str, Any]], airflow_values: dict[str, Any], dagster_values: dict[str, Any] | None
) -> None:
    (role,) = find(manifests, "Role")
    grants: dict[tuple[str, str], set[str]] = {}
    for rule in role["rules"]:
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                grants.setdefault((group, resource), set()).update(rule["verbs"])
    assert {"create", "get", "list", "watch", "delete", "patch"} <= grants[("", "pods")]
    assert {"get"} <= grants[("", "pods/log")]
    assert {"create", "get"} <= grants[("", "pods/exec")], "the KPO XCom sidecar is read through exec"
    assert {"create", "get", "list", "watch", "delete"} <= grants[("batch", "jobs")], "Dagster run Jobs"
    assert "*" not in str(role["rules"])
    (binding,) = find(manifests, "RoleBinding")
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                                  "name": role["metadata"]["name"]}
    subjects = {s["name"] for s in binding["subjects"] if s["kind"] == "ServiceAccount"}
    assert all(s.get("namespace") == kube.DEFAULT_NAMESPACE for s in binding["subjects"])
    scheduler = airflow_values["scheduler"]["serviceAccount"]
    assert scheduler["create"] is True and scheduler["name"] in subjects
    dagster_sa = "dagster"  # the Dagster chart's default for the release name `dagster`
    if dagster_values is not None:
        dagster_sa = ((dagster_values.get("global") or {}).get("serviceAccountName")
                      or (dagster_values.get("serviceAccount") or {}).get("name") or dagster_sa)
    assert dagster_sa in subjects
    assert kube.DEFAULT_SERVICE_ACCOUNT not in subjects, "step pods must not start pods"


# --- no secret values in files ------------------------------------------------------------


def test_no_secret_value_in_any_file(secrets_sh: dict[str, dict[str, str]]) -> None:
    files = [p for p in K8S.rglob("*") if p.is_file()] + [ROOT / "docs" / "kubernetes.md"]
    for path in files:
        if not path.exists():
            continue
        text = path.read_text(encoding="utf-8")
        # user:password@ in a URI, unless the password is a variable or template.
        for match in re.finditer(r"://[\w.-]+:([^@\s/]+)@", text):
            assert match.group(1).startswith(("$", "{{", "<")), f"{path}: credentials in a URI"
        # Long random-looking tokens (keys, hashes, base64 of a value).
        for token in re.findall(r"[A-Za-z0-9+/_=-]{24,}", text):
            digits = sum(c.isdigit() for c in token)
            assert not (len(set(token)) >= 10 and digits >= len(token) * 0.15 and re.search(r"[A-Za-z]", token)), \
                f"{path}: secret-looking literal {token[:6]}..."
        if path.suffix in (".yaml", ".yml"):
            for doc in load_docs(path):
                assert doc.get("kind") != "Secret", f"{path}: Secrets come from .env (secrets.sh), not files"
                for _path, node in walk(doc):
                    if isinstance(node, dict) and "name" in node and "value" in node:
                        upper = str(node["name"]).upper()
                        if node["value"] not in secrets_sh:  # ML_K8S_SECRET names a Secret, it holds none
                            assert not any(w in upper for w in SECRET_WORDS), f"{path}: {node['name']} has a value"
                    if isinstance(node, dict):
                        for key, value in node.items():
                            # Keys that hold a value (apiSecretKey, fernetKey, ...password), not a name.
                            if isinstance(key, str) and re.search(r"(?i)(password|secret|token|key)$", key) \
                                    and key not in ("secretKey", "key"):
                                assert not isinstance(value, str) or not value or "{{" in value, f"{path}: {key}"


# --- secrets.sh and the Makefile, run ----------------------------------------------------------


def filled_env(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """.env.example with every empty value filled, as make-env.sh does."""
    values: dict[str, str] = {}
    lines = []
    for line in ENV_EXAMPLE.read_text().splitlines():
        match = re.fullmatch(r"([A-Z][A-Z0-9_]*)=(.*)", line)
        if match:
            value = match.group(2) or f"t{len(values)}-{match.group(1).lower()}"
            values[match.group(1)] = value
            line = f"{match.group(1)}={value}"
        lines.append(line)
    path = tmp_path / ".env"
    path.write_text("\n".join(lines) + "\n")
    return path, values


@needs_kubectl
def test_secrets_sh_renders_the_secrets_from_env(tmp_path: Path, secrets_sh: dict[str, dict[str, str]]) -> None:
    from kubernetes import client

    env_file, values = filled_env(tmp_path)
    proc = subprocess.run(["sh", str(SECRETS_SH), str(env_file)], capture_output=True, text=True, check=False,
                          env={"PATH": os.environ["PATH"], "PRINT": "1"}, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    rendered = {d["metadata"]["name"]: d for d in yaml.safe_load_all(proc.stdout) if d}
    assert set(rendered) == set(secrets_sh)
    for name, doc in rendered.items():
        assert doc["kind"] == "Secret" and doc["metadata"]["namespace"] == kube.DEFAULT_NAMESPACE
        client.V1Secret(**{k: v for k, v in doc.items() if k in ("api_version", "data", "kind")})
        decoded = {k: base64.b64decode(v).decode() for k, v in doc["data"].items()}
        assert set(decoded) == set(secrets_sh[name]), name
        for key, expr in secrets_sh[name].items():
            expected = re.sub(r"\$\{?([A-Z][A-Z0-9_]*)(?::-[^}]*)?\}?", lambda m: values[m.group(1)], expr)
            assert decoded[key] == expected, f"{name}.{key}"
    assert values["MINIO_ROOT_PASSWORD"] not in proc.stderr


@needs_kubectl
def test_secrets_sh_refuses_an_env_with_an_empty_secret(tmp_path: Path) -> None:
    env_file, _ = filled_env(tmp_path)
    env_file.write_text(re.sub(r"(?m)^POSTGRES_PASSWORD=.*$", "POSTGRES_PASSWORD=", env_file.read_text()))
    proc = subprocess.run(["sh", str(SECRETS_SH), str(env_file)], capture_output=True, text=True, check=False,
                          env={"PATH": os.environ["PATH"], "PRINT": "1"}, cwd=tmp_path)
    assert proc.returncode != 0 and "POSTGRES_PASSWORD" in proc.stderr
    assert "kind: Secret" not in proc.stdout


def make_dry_run(*args: str) -> str:
    if shutil.which("make") is None:
        pytest.skip("make not installed")
    proc = subprocess.run(["make", "-n", *args], capture_output=True, text=True, check=False, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_make_k8s_up_applies_the_base_and_both_charts_with_the_tag() -> None:
    out = make_dry_run("k8s-up", "K8S_TAG=0123abc")
    assert "create configmap postgres-init --from-file=docker/postgres-init/" in out
    assert "kubectl apply -k build/k8s" in out
    assert "'  - ../../docker/k8s'" in out and 'newTag: "0123abc"' in out
    assert re.search(r"helm upgrade --install airflow apache-airflow/airflow --version [\d.]+ "
                     rf"--namespace {kube.DEFAULT_NAMESPACE}", out)
    assert "-f docker/k8s/airflow/values.yaml" in out and "--set-string images.airflow.tag=0123abc" in out
    assert "helm upgrade --install dagster dagster/dagster" in out and "-f docker/k8s/dagster/values.yaml" in out


@needs_kubectl
def test_the_image_overlay_of_k8s_up_pins_the_tag(tmp_path: Path) -> None:
    out = make_dry_run("k8s-up", "K8S_TAG=0123abc", "K8S_REGISTRY=registry.example/team/")
    command = re.search(r"^printf .*?>build/k8s/kustomization\.yaml$", out, re.S | re.M)
    assert command, "k8s-up writes no overlay"
    (tmp_path / "docker").symlink_to(ROOT / "docker")
    (tmp_path / "build" / "k8s").mkdir(parents=True)
    subprocess.run(["bash", "-c", command.group(0)], cwd=tmp_path, check=True)
    proc = subprocess.run(["kubectl", "kustomize", "build/k8s"], capture_output=True, text=True, check=False,
                          cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    images = set(re.findall(r"image: (\S+)", proc.stdout))
    assert {"registry.example/team/mlpipes/ml:0123abc", "registry.example/team/mlpipes/mlflow:0123abc"} <= images
    assert not any(i.startswith("mlpipes/") for i in images)


def test_make_k8s_images_builds_and_loads_the_four_images() -> None:
    out = make_dry_run("k8s-images", "K8S_TAG=0123abc", "KIND_CLUSTER=ml")
    for name in ("ml", "airflow", "dagster", "mlflow"):
        assert f"{name.upper()}_IMAGE=mlpipes/{name}:0123abc" in out
    assert "kind load docker-image --name ml mlpipes/ml:0123abc mlpipes/airflow:0123abc" in out
    assert "kind load" not in make_dry_run("k8s-images", "K8S_TAG=0123abc")


def test_make_k8s_forward_uses_compose_ports_on_loopback(compose: dict[str, Any]) -> None:
    out = make_dry_run("k8s-forward")
    published = set()  # host ports (two services may publish the same container port: Airflow's, Dagster's proxy)
    for svc in compose["services"].values():
        for port in svc.get("ports", []):
            host, _target = resolve(port)[0].split(":")[1:]
            published.add(int(host))
    forwards = re.findall(r"port-forward --address 127\.0\.0\.1 svc/(\S+) ((?:\S+:\d+ ?)+)", out)
    assert forwards and all("127.0.0.1" in line for line in out.splitlines() if "port-forward" in line)
    local = set()
    for _svc, pairs in forwards:
        for pair in pairs.split():
            host, _target = pair.rsplit(":", 1)
            local.add(int(resolve(host)[0]))
    assert local == published, "the forwarded local ports differ from compose's published ports"


def test_make_k8s_up_tags_every_dagster_image(dagster_values: dict[str, Any] | None) -> None:
    if dagster_values is None:
        pytest.skip("docker/k8s/dagster/values.yaml not written yet")
    out = make_dry_run("k8s-up", "K8S_TAG=0123abc")
    for _path, node in walk(dagster_values):
        if isinstance(node, dict) and isinstance(node.get("repository"), str):
            assert node["repository"] in out, f"k8s-up does not set the {node['repository']} image"
    for key in ("dagsterWebserver.image.tag", "dagsterDaemon.image.tag", "deployments[0].image.tag"):
        assert f"{key}=0123abc" in out, key
    # k8s-forward targets the chart's web service port (80 unless the values change it).
    port = ((dagster_values.get("dagsterWebserver") or {}).get("service") or {}).get("port", 80)
    assert re.search(rf"^DAGSTER_WEBSERVER_PORT \?= {port}$", MAKEFILE.read_text(), re.M)
