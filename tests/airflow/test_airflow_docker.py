"""The docker launcher against a real Docker engine and the real `ml` image.

Runs only where a Docker engine answers and the `ml` image is built (`ML_TEST_IMAGE`, default
`mlpipes/ml:local`, the compose build); elsewhere these tests are skipped. The step containers
use the host network so that they reach the loopback S3 and MLflow servers of `live_env`; the
S3 credentials reach them only through `private_environment`.
"""

from __future__ import annotations

import os

import pytest

IMAGE = os.environ.get("ML_TEST_IMAGE", "mlpipes/ml:local")
DOWNSTREAM = "train_model|evaluate_model|save_trained_model|promote_model"


def _docker_client():
    import docker
    from docker.errors import DockerException

    try:
        client = docker.from_env(timeout=10)
        client.ping()
        client.images.get(IMAGE)
        return client
    except (DockerException, OSError) as exc:  # no engine, no image: nothing to test here
        pytest.skip(f"needs a Docker engine with the image {IMAGE}: {exc.__class__.__name__}")


@pytest.fixture
def docker_client():
    return _docker_client()


def run_containers(client, run_id: str) -> list[str]:
    """Step containers (running or stopped) left over from one DAG run."""
    return [
        c.name
        for c in client.containers.list(all=True, filters={"label": "ml.orchestrator=airflow"})
        if run_id in c.attrs.get("Args", [])
    ]


@pytest.mark.integration
def test_docker_step_runs_in_the_image_and_returns_its_json(
    airflow_home, load_dags, live_env, docker_client, repo_cwd, capfd, task_states, xcom_results
):
    dag = load_dags(clear=False, ML_LAUNCHER="docker", ML_IMAGE=IMAGE, ML_DOCKER_NETWORK="host", ML_GPUS="auto").dags[
        "ml_training"
    ]
    task = dag.get_task("load_training_data")
    assert "ML_S3_SECRET_KEY" not in task.environment and task._private_environment["ML_S3_SECRET_KEY"]

    dag_run = dag.test(run_conf={"dataset_uri": live_env.demo_dataset_uri}, mark_success_pattern=DOWNSTREAM)
    log = "\n".join(capfd.readouterr())
    states = task_states(dag_run)
    assert states["load_training_data"] == ("success", 1), log[-4000:]

    result = xcom_results(dag_run)["load_training_data"]
    assert result["dataset_uri"] == live_env.demo_dataset_uri
    assert result["data_uri"].startswith("s3://")
    assert "Launcher docker: CPU (no GPU requested, ML_GPUS=auto)" in log or "Launcher docker: GPU" in log
    assert live_env.env["ML_S3_SECRET_KEY"] not in log
    assert run_containers(docker_client, dag_run.run_id) == []  # the step container was removed


@pytest.mark.integration
def test_docker_bad_input_fails_at_once_and_removes_the_container(
    airflow_home, load_dags, live_env, bad_dataset_uri, docker_client, repo_cwd, capfd, task_states
):
    dag = load_dags(clear=False, ML_LAUNCHER="docker", ML_IMAGE=IMAGE, ML_DOCKER_NETWORK="host", ML_GPUS="none").dags[
        "ml_training"
    ]
    capfd.readouterr()
    dag_run = dag.test(run_conf={"dataset_uri": bad_dataset_uri})
    log = "\n".join(capfd.readouterr())

    states = task_states(dag_run)
    assert states["load_training_data"] == ("failed", 1), states
    assert states["train_model"] == ("upstream_failed", 0)
    assert "ml load-training-data rejected its input (exit 2, not retried): error: " in log
    assert log.count("Starting docker container from image") == 1
    assert run_containers(docker_client, dag_run.run_id) == []


@pytest.mark.integration
def test_a_new_try_removes_the_container_an_earlier_try_left_running(airflow_home, load_dags, docker_client):
    """A try whose task process died with the scheduler leaves its container running; the next try of
    the same task instance removes it before it starts its own (found by the task-instance labels)."""
    import sys
    from types import SimpleNamespace

    task = load_dags(ML_LAUNCHER="docker", ML_IMAGE=IMAGE, ML_GPUS="none").dags["ml_training"].get_task("train_model")
    try_labels = sys.modules[type(task).__module__].try_labels  # ml_airflow.launch_docker, as the DAG folder loads it
    run_id = "manual__2026-12-02T00:00:00+00:00"
    ti = SimpleNamespace(dag_id="ml_training", task_id="train_model", run_id=run_id, try_number=2)
    labels = try_labels({"ti": ti})
    assert labels == {"ml.dag_id": "ml_training", "ml.task_id": "train_model", "ml.run_id": run_id, "ml.try": "2"}
    earlier = docker_client.containers.run(IMAGE, ["sleep", "600"], detach=True,
                                           labels={**labels, "ml.try": "1", "ml.orchestrator": "airflow"})
    other = docker_client.containers.run(IMAGE, ["sleep", "600"], detach=True,
                                         labels={**labels, "ml.run_id": "another run", "ml.orchestrator": "airflow"})
    try:
        task.labels = {**task.labels, **labels}
        task._remove_earlier_tries()
        remaining = {c.id for c in docker_client.containers.list(all=True, filters={"label": "ml.dag_id=ml_training"})}
        assert earlier.id not in remaining  # this task instance's earlier try: removed
        assert other.id in remaining  # another run's container is not this try's business
    finally:
        for container in (earlier, other):
            try:
                container.remove(force=True)
            except Exception:  # already removed by the code under test
                pass


@pytest.mark.integration
def test_on_kill_removes_the_step_container_without_a_graceful_stop(airflow_home, load_dags, docker_client):
    """Cancel/timeout (`on_kill`) kills and removes the container in one call: no `stop`, whose 10 s
    grace (PID 1 ignores SIGTERM) outlasted the task process and left the container behind."""
    import datetime as dt

    task = load_dags(ML_LAUNCHER="docker", ML_IMAGE=IMAGE, ML_GPUS="none").dags["ml_training"].get_task("train_model")
    since = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    container = docker_client.containers.run(IMAGE, ["sleep", "600"], detach=True, labels={"ml.orchestrator": "airflow"})
    try:
        task.container = {"Id": container.id}
        assert task.cli.ping()  # the task's Docker client exists, as it does once execute() ran
        task.on_kill()
        until = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1)
        actions = [e.get("Action") for e in docker_client.events(since=since, until=until, decode=True,
                                                                  filters={"container": container.id})]
        assert "destroy" in actions, actions  # removed
        assert "stop" not in actions, actions  # never the graceful stop
        assert not docker_client.containers.list(all=True, filters={"id": container.id})
    finally:
        try:
            container.remove(force=True)
        except Exception:  # removed by the code under test
            pass
