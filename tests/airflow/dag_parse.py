"""What parsing a DAG file imports, in a fresh interpreter (the DAG tests' property for "parsing is cheap")."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

DAGS_FOLDER = Path(__file__).resolve().parents[2] / "airflow" / "dags"

#: Modules whose import costs seconds: a DAG file that parses them slows every parse loop of the
#: scheduler. Parsing must leave them to the step (the launcher's own client, `docker`, is light).
HEAVY_MODULES = ("torch", "transformers", "mlflow", "pandas", "pyarrow", "numpy", "minio", "kubernetes", "ml.steps")


def parse_imports(dag_file: Path, **env: str) -> list[str]:
    """The HEAVY_MODULES a fresh interpreter has imported after parsing `dag_file` (Airflow imported first)."""
    code = ("import sys, runpy; import airflow.sdk; sys.path.append(sys.argv[1]); runpy.run_path(sys.argv[2]); "
            f"import json; print(json.dumps([m for m in {HEAVY_MODULES!r} if m in sys.modules]))")
    out = subprocess.run([sys.executable, "-c", code, str(DAGS_FOLDER), str(dag_file)], env={**os.environ, **env},
                         capture_output=True, text=True, check=True, timeout=300)
    return json.loads(out.stdout.strip().splitlines()[-1])
