"""The CI scripts: the Debian mirror comes from the machine's apt sources, and no script names a host."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / ".ci" / "debian_mirror.py"

DEB822 = """\
Types: deb
# http://snapshot.example/archive/debian-security/20250520T000000Z
URIs: http://mirror.example/debian-security
Suites: bookworm-security
Components: main

Types: deb-src
URIs: http://sources-only.example/debian
Suites: bookworm

Enabled: no
Types: deb
URIs: http://disabled.example/debian
Suites: bookworm

Types: deb
# a comment inside the stanza
URIs: http://mirror.example/debian/
 http://second.example/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
"""

ONE_LINE = """\
# deb http://commented.example/debian bookworm main
deb-src http://sources-only.example/debian bookworm main
deb http://security.example/debian-security bookworm-security main
deb [arch=amd64 signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://list.example/debian bookworm main
deb http://later.example/debian bookworm main
"""


def mirror(root: Path, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {"PATH": "/usr/bin:/bin", **env}
    return subprocess.run([sys.executable, str(SCRIPT), "--root", str(root)], env=clean, capture_output=True,
                          text=True, check=False, timeout=300)


def write(root: Path, relative: str, text: str) -> None:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_deb822_first_enabled_archive_entry(tmp_path: Path) -> None:
    write(tmp_path, "etc/apt/sources.list.d/debian.sources", DEB822)
    write(tmp_path, "etc/apt/sources.list", ONE_LINE)  # debian.sources wins
    done = mirror(tmp_path)
    assert (done.returncode, done.stdout) == (0, "http://mirror.example/debian\n"), done.stderr


def test_sources_list_when_there_is_no_deb822_file(tmp_path: Path) -> None:
    write(tmp_path, "etc/apt/sources.list", ONE_LINE)
    done = mirror(tmp_path)
    assert (done.returncode, done.stdout) == (0, "http://list.example/debian\n"), done.stderr


def test_deb822_without_an_archive_entry_falls_back_to_sources_list(tmp_path: Path) -> None:
    write(tmp_path, "etc/apt/sources.list.d/debian.sources", DEB822.split("\n\n")[0] + "\n")
    write(tmp_path, "etc/apt/sources.list", "deb http://list.example/debian bookworm main\n")
    assert mirror(tmp_path).stdout == "http://list.example/debian\n"


def test_no_mirror_is_one_line_and_exit_2(tmp_path: Path) -> None:
    done = mirror(tmp_path)
    assert done.returncode == 2 and done.stdout == ""
    assert len(done.stderr.splitlines()) == 1 and "DEBIAN_MIRROR" in done.stderr


def test_debian_mirror_in_the_environment_wins(tmp_path: Path) -> None:
    write(tmp_path, "etc/apt/sources.list", ONE_LINE)
    assert mirror(tmp_path, DEBIAN_MIRROR="http://chosen.example/debian").stdout == "http://chosen.example/debian\n"


def test_this_machine_answers_when_it_has_apt_sources() -> None:
    if not any((Path("/") / p).is_file() for p in ("etc/apt/sources.list.d/debian.sources", "etc/apt/sources.list")):
        pytest.skip("no apt sources on this machine")
    done = mirror(Path("/"))
    assert done.returncode == 0 and re.fullmatch(r"\S+://\S+\n", done.stdout), done.stderr


@pytest.mark.parametrize("script", sorted(p.name for p in (ROOT / ".ci").iterdir() if p.suffix in (".sh", "", ".py", ".Dockerfile", ".yaml") and p.is_file()))
def test_ci_scripts_name_no_package_host(script: str) -> None:
    """A URL in a CI script would pin every user to one mirror or registry; they take the machine's."""
    text = (ROOT / ".ci" / script).read_text()
    code = "\n".join(line.split("#", 1)[0] for line in text.splitlines())  # comments may explain
    assert not re.findall(r"\b(?:https?|ftp)://[A-Za-z0-9.-]+", code), script
