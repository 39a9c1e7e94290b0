"""Launcher `local`: the step as a subprocess of the Airflow worker (tests, embedded mode).

Imported by `ml_airflow.launch` only when `ML_LAUNCHER=local`.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
from collections import deque
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from airflow.sdk import BaseOperator

from ml.launch.exits import drop_empty_options
from ml_airflow.step_failure import step_failure, step_result

if TYPE_CHECKING:
    from airflow.sdk import Context

#: How long a killed step may take to be reaped (only a process stuck in the kernel takes long).
REAP_TIMEOUT_S = 60


class MlLocalOperator(BaseOperator):
    """Run `python -m ml <step> ...` as a subprocess of the worker.

    stderr (the step's logs) streams into the task log line by line; the last stdout line is
    parsed as JSON and returned (XCom `return_value`). The interpreter is `ML_LOCAL_PYTHON`
    when set, else the worker's own. The subprocess inherits the worker's environment.
    """

    template_fields: Sequence[str] = ("command", "environment")
    template_fields_renderers: ClassVar[dict[str, str]] = {"command": "py", "environment": "json"}
    ui_color = "#e8f4e8"

    def __init__(
        self, *, step: str, command: list[str], environment: dict[str, str] | None = None,
        python: str = "", **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.step = step
        self.command = command
        self.environment = environment or {}
        self.python = python
        self._proc: subprocess.Popen[str] | None = None

    def execute(self, context: Context) -> dict[str, Any]:
        argv = drop_empty_options(self.command)
        argv[0] = self.python or sys.executable
        self.log.info("Launcher local: %s -m ml %s", argv[0], " ".join(argv[3:]))
        proc = self._proc = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            errors="replace", env={**os.environ, **self.environment},
            start_new_session=True,  # on_kill ends the step and anything it started
        )
        # Everything after the start is inside the try: Airflow's timeout is an exception raised
        # wherever execute is, so one landing before the try would leave the step running.
        try:
            stderr_tail: deque[str] = deque(maxlen=50)
            reader = threading.Thread(target=self._pump_stderr, args=(proc, stderr_tail),
                                      name=f"ml-{self.step}-stderr", daemon=True)
            reader.start()
            stdout_lines: list[str] = []
            assert proc.stdout is not None
            for line in proc.stdout:
                stdout_lines.append(line.rstrip("\n"))
                self.log.info("stdout: %s", stdout_lines[-1])
            exit_code = proc.wait()
            reader.join()
        finally:
            if proc.poll() is None:  # timeout or kill while the step runs
                self._terminate()
        if exit_code != 0:
            raise step_failure(self.step, exit_code, list(stderr_tail) + stdout_lines[-5:])
        return step_result(self.step, stdout_lines)

    def _pump_stderr(self, proc: subprocess.Popen[str], tail: deque[str]) -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            tail.append(line.rstrip("\n"))
            self.log.info("%s", tail[-1])

    def _terminate(self) -> None:
        """Kill the step's process group at once and reap it: the task never ends with its step running.

        No SIGTERM grace, as with the Docker launcher's containers: a step's outputs are published
        atomically, so a killed step leaves nothing where readers look, and Airflow's supervisor may
        kill this process before a grace period ends.
        """
        proc = self._proc
        if proc is None or proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):  # the group is gone already: reap below
            os.killpg(proc.pid, signal.SIGKILL)
        try:
            proc.wait(timeout=REAP_TIMEOUT_S)
        except subprocess.TimeoutExpired:  # stuck in the kernel (a hung mount): say so, do not hang the task
            self.log.error("step %s (pid %s) still there %ss after SIGKILL", self.step, proc.pid, REAP_TIMEOUT_S)

    def on_kill(self) -> None:
        self._terminate()


def local_task(step: str, command: list[str], common: dict[str, Any]) -> BaseOperator:
    """The subprocess task of one step (see the module docstring)."""
    from ml.launch.settings import load_launch_settings

    return MlLocalOperator(step=step, command=command, environment={"ML_ORCHESTRATOR": "airflow"},
                           python=load_launch_settings().local_python, **common)
