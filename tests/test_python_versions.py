"""Issue 17, item 1: the package and `make setup` support Python 3.11 to 3.13, one constraints file each.

3.11 is proved for real (the test venv); 3.12 and 3.13 by pip's resolver: every pin of their
constraints file must resolve to a wheel for that Python, and the resolution must install exactly
those pins (the file is complete and current).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.specifiers import SpecifierSet

ROOT = Path(__file__).resolve().parents[1]
VERSIONS = ("3.11", "3.12", "3.13")
OTHER_VERSIONS = ("3.12", "3.13")


def constraints_file(version: str) -> Path:
    return ROOT / ".ci" / ("constraints.txt" if version == "3.11" else f"constraints-{version}.txt")


def pins(path: Path) -> dict[str, str]:
    """name -> version of a constraints file (names normalised like pip's report)."""
    out = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            name, version = line.split("==")
            out[name.lower().replace("_", "-").replace(".", "-")] = version.strip()
    return out


def test_requires_python_admits_311_to_313_only() -> None:
    spec = SpecifierSet(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"])
    assert [v for v in ("3.10", *VERSIONS, "3.14") if f"{v}.0" in spec] == list(VERSIONS)


@pytest.mark.parametrize("version", VERSIONS)
def test_make_setup_uses_the_constraints_of_its_python(tmp_path: Path, version: str) -> None:
    fake = tmp_path / "python"
    fake.write_text(f"#!/bin/sh\necho {version}\n")
    fake.chmod(0o755)
    plan = subprocess.run(["make", "-n", "setup", f"PYTHON={fake}", f"VENV={tmp_path / 'venv'}"], cwd=ROOT,
                          capture_output=True, text=True, check=True, timeout=300).stdout
    assert f"-c {constraints_file(version).relative_to(ROOT)} -e" in plan, plan
    assert constraints_file(version).is_file()


def test_make_setup_refuses_another_python_in_one_line(tmp_path: Path) -> None:
    fake = tmp_path / "python"
    fake.write_text("#!/bin/sh\necho 3.10\n")
    fake.chmod(0o755)
    done = subprocess.run(["make", "setup", f"PYTHON={fake}", f"VENV={tmp_path / 'venv'}"], cwd=ROOT, capture_output=True, text=True, timeout=300,
                          check=False)
    assert done.returncode != 0 and "error: need Python 3.11, 3.12 or 3.13" in done.stderr, done.stderr
    assert not (tmp_path / "venv").exists()


def test_this_python_is_supported_and_pinned() -> None:
    """3.11 for real: the interpreter running the tests has its constraints file and matches its torch pin."""
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    assert version in VERSIONS
    from importlib.metadata import version as installed

    assert installed("torch").split("+")[0] == pins(constraints_file(version))["torch"]


def pypi_reachable() -> bool:
    try:
        socket.create_connection(("pypi.org", 443), timeout=5).close()
    except OSError:
        return False
    return True


def requirements(tmp_path: Path) -> Path:
    """The package's requirements with the extras `make setup` installs, as a requirements file."""
    out = tmp_path / "requirements.txt"
    lines = subprocess.run([sys.executable, "docker/pyproject-deps.py", "pyproject.toml", "dev", "airflow", "dagster"],
                           cwd=ROOT, capture_output=True, text=True, check=True).stdout
    out.write_text(lines)
    return out


@pytest.mark.network
def test_constraints_of_312_and_313_resolve_to_wheels(tmp_path: Path) -> None:
    if not pypi_reachable():
        pytest.skip("PyPI unreachable")
    reqs = requirements(tmp_path)
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "PIP_CONFIG_FILE": os.devnull}  # PyPI, not local mirrors
    cert = [f"--cert={c}" for c in ("/etc/ssl/certs/ca-certificates.crt",) if Path(c).is_file()]
    runs = {}
    for version in OTHER_VERSIONS:  # both at once: each resolution takes minutes of metadata requests
        argv = [sys.executable, "-m", "pip", "install", *cert, "--disable-pip-version-check", "--quiet", "--dry-run",
                "--ignore-installed", "--python-version", version, "--only-binary=:all:",
                "--report", str(tmp_path / f"report-{version}.json"), "-c", str(constraints_file(version)), "-r", str(reqs)]
        runs[version] = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    for version, proc in runs.items():
        _, err = proc.communicate(timeout=1800)
        assert proc.returncode == 0, f"Python {version}: {err[-4000:]}"
        report = json.loads((tmp_path / f"report-{version}.json").read_text())
        installed = {i["metadata"]["name"].lower().replace("_", "-").replace(".", "-"): i["metadata"]["version"]
                     for i in report["install"]}
        assert installed == pins(constraints_file(version)), f"Python {version}: regenerate with make lock"
