"""Makes the code-location package importable: adds the repo's `dagster/` folder to sys.path.

That folder holds `ml_dagster` (no `dagster` package inside), so the Dagster library still
resolves to the installed one.
"""

import sys
from pathlib import Path

DAGSTER_DIR = Path(__file__).resolve().parents[2] / "dagster"
if str(DAGSTER_DIR) not in sys.path:
    sys.path.insert(0, str(DAGSTER_DIR))
