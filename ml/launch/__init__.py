"""The launch policy: how a pipeline step container or pod is started, for both orchestrators.

Why one package: Airflow (airflow/dags/ml_airflow/launch*.py) and Dagster (dagster/ml_dagster/launcher.py,
k8s.py) must start the same `ml` image with the same GPUs, limits, environment, secrets, retry
numbers and exit-code meaning. Every answer to "how is a step launched?" lives here, and the two
adapters only translate it into their own APIs:

- `settings`: `LaunchSettings` (`ML_LAUNCHER`, `ML_IMAGE`, `ML_GPUS`, `ML_CPUS`, `ML_MEM_LIMIT`,
  `ML_SHM_SIZE`, `ML_DOCKER_*`), validated once, one `ML_GPUS` grammar and one NVIDIA-runtime probe;
- `env`: which variables a step receives, which of them are secret (an explicit list);
- `exits`: the exit-code contract (2 = bad input, never retried; 75 = transient) and the retry
  numbers every step task/asset gets;
- `kube`: the Kubernetes pod of a step (`ML_K8S_*`).

It may know containers and pods; it never imports Airflow, Dagster, Docker or Kubernetes clients,
so the Airflow image, the Dagster daemon and the ml image all import it cheaply.
"""
