#!/usr/bin/env python3
"""Print the Debian mirror this machine's apt is configured with (for debootstrap and a trixie list).

Why: the CI scripts must work behind whatever mirror a machine uses (a proxy, a snapshot, a local
cache), so they name no host: they ask apt's own sources. The first archive (not security) entry
of /etc/apt/sources.list.d/debian.sources (deb822: `URIs:`), else of /etc/apt/sources.list
(`deb URI suite ...`). DEBIAN_MIRROR, when set, wins. Standard library only.

    .ci/debian_mirror.py              # the URI of the first archive entry, e.g. http://<mirror>/debian
    .ci/debian_mirror.py --root DIR   # read DIR/etc/apt/... instead (the tests' sample files)
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

DEB822 = "etc/apt/sources.list.d/debian.sources"
ONE_LINE = "etc/apt/sources.list"


def is_security(uri: str, suites: list[str]) -> bool:
    """The security archive has its own URI and suites; debootstrap needs the main archive."""
    return "security" in uri or any(s.endswith("-security") or s.endswith("/updates") for s in suites)


def stanzas(text: str) -> list[dict[str, str]]:
    """deb822 paragraphs as {field (lower case): value}; comments dropped, continuation lines joined."""
    out: list[dict[str, str]] = []
    current: dict[str, str] = {}
    field = ""
    for line in [*text.splitlines(), ""]:
        if line.startswith("#"):
            continue
        if not line.strip():
            if current:
                out.append(current)
            current, field = {}, ""
        elif line[0] in " \t" and field:
            current[field] += " " + line.strip()
        elif ":" in line:
            field, value = line.split(":", 1)
            field = field.strip().lower()
            current[field] = value.strip()
    return out


def from_deb822(text: str) -> str | None:
    for stanza in stanzas(text):
        if stanza.get("enabled", "yes").lower() == "no" or "deb" not in stanza.get("types", "").split():
            continue
        uris, suites = stanza.get("uris", "").split(), stanza.get("suites", "").split()
        for uri in uris:
            if not is_security(uri, suites):
                return uri
    return None


def from_one_line(text: str) -> str | None:
    for line in text.splitlines():
        words = line.split("#", 1)[0].split()
        if not words or words[0] != "deb":
            continue
        words = words[1:]
        if words and words[0].startswith("["):  # options: [arch=amd64 signed-by=...]
            while words and not words[0].endswith("]"):
                words = words[1:]
            words = words[1:]
        if len(words) >= 2 and not is_security(words[0], [words[1]]):
            return words[0]
    return None


def mirror(root: Path) -> str | None:
    """The configured mirror under `root`, or None when neither file names one."""
    for relative, parse in ((DEB822, from_deb822), (ONE_LINE, from_one_line)):
        path = root / relative
        if path.is_file() and (uri := parse(path.read_text(encoding="utf-8", errors="replace"))):
            return uri
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", default="/", help="the file system root whose apt sources to read")
    args = parser.parse_args(argv)
    uri = os.environ.get("DEBIAN_MIRROR") or mirror(Path(args.root))
    if not uri:
        print(f"error: no Debian mirror in {Path(args.root) / DEB822} or {Path(args.root) / ONE_LINE}; "
              "configure apt or set DEBIAN_MIRROR=<mirror URL>", file=sys.stderr)
        return 2
    print(uri.rstrip("/"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
