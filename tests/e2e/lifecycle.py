"""e2e phases "lifecycle" and "approval mode": who holds `champion`, driven the way a user does.

lifecycle (16 checks): a dataset with another label set under the same model name is registered
but not promoted, `make rollback` pins an earlier version, inference on both orchestrators then
uses it, `make history` and MLflow show every move once, `make unpin`.

approval mode (7 checks; 8 when the services are put back): the deciding services restarted with
ML_PROMOTION_MODE=approval, a training run on each orchestrator waits for a decision; Airflow's
human-in-the-loop task is answered through its REST API (what its form sends), Dagster's
review_job rejects. The checks themselves run in the ml image (in_image/lifecycle.py).
"""

from __future__ import annotations

import subprocess

from . import stack
from .checklist import say

ROLLBACK_REASON = "e2e: roll back to an earlier version"
#: The services that parse the training DAG or launch its steps (whose environment the steps get).
DECIDING_SERVICES = ["airflow-scheduler", "airflow-dag-processor", "airflow-triggerer", "dagster-daemon"]


def run() -> None:
    """Another task (not promoted), `make rollback`, inference on the rolled-back version, history, unpin."""
    result = stack.in_ml_image("lifecycle", "other-task", "--orchestrator", "dagster")
    target = ((result or {}).get("lifecycle") or {}).get("rollback_to")
    if not stack.record("lifecycle: an earlier version of the champion's task to roll back to", bool(target),
                        f"v{target}"):
        return
    rollback = stack.make("rollback", f"VERSION={target}", f"REASON={ROLLBACK_REASON}", timeout=300)
    stack.record(f"make rollback VERSION={target} REASON=... succeeds", rollback.returncode == 0,
                 f"exit {rollback.returncode}")
    for orchestrator, outcome in stack.on_both(lambda o: stack.pipeline("infer", o, source="lifecycle")).items():
        used = ((outcome or {}).get("summary") or {}).get("model_version")
        stack.record(f"{orchestrator} infer after the rollback uses v{target}", str(used) == str(target), f"v{used}")
    shown = subprocess.run(["make", "--no-print-directory", "history"], cwd=stack.ROOT, text=True, capture_output=True,
                           stdin=subprocess.DEVNULL, timeout=300, check=False)
    say(shown.stderr)
    stack.record("make history prints the rollback with its reason",
                 shown.returncode == 0 and "rollback" in shown.stderr and ROLLBACK_REASON in shown.stderr,
                 f"exit {shown.returncode}, {len(shown.stderr.splitlines())} lines")
    stack.in_ml_image("lifecycle", "verify", "--version", str(target), "--reason", ROLLBACK_REASON)
    unpin = stack.make("unpin", timeout=300)
    stack.record("make unpin succeeds", unpin.returncode == 0, f"exit {unpin.returncode}")


def restart_deciding_services(mode: str) -> bool:
    """Recreate the deciding services with ML_PROMOTION_MODE=mode (one check)."""
    up, healthy = stack.recreate_services(DECIDING_SERVICES, {"ML_PROMOTION_MODE": mode})
    return stack.record(f"ML_PROMOTION_MODE={mode}: deciding services restarted and healthy", up == 0 and healthy,
                        f"compose exit {up}, healthy {healthy}")


def approval(restore: bool) -> None:
    """Approval mode on both orchestrators (Airflow: the HITL task approves; Dagster: review_job rejects).

    `restore=False` (the last phase before teardown) leaves the services in approval mode.
    """
    if restart_deciding_services("approval"):
        stack.in_ml_image("lifecycle", "approval", timeout=1800)
    if restore:
        restart_deciding_services(stack.env_file_value("ML_PROMOTION_MODE") or "auto")
