"""Print the dependencies of pyproject.toml (plus the named extras), one per line.

Why: the ml image installs its dependencies in a layer of their own, before the source is
copied, so editing code does not reinstall torch. Usage: pyproject-deps.py PYPROJECT [EXTRA ...]
"""

import sys
import tomllib


def main(argv: list[str]) -> int:
    """Write the requirement lines to stdout; exit 2 on an unknown extra."""
    path, extras = argv[0], argv[1:]
    with open(path, "rb") as f:
        project = tomllib.load(f)["project"]
    lines = list(project.get("dependencies", []))
    optional = project.get("optional-dependencies", {})
    for extra in extras:
        if extra not in optional:
            print(f"error: extra {extra!r} not in {path}; known: {sorted(optional)}", file=sys.stderr)
            return 2
        lines += optional[extra]
    own = project["name"].lower().replace("_", "-")
    print("\n".join(line for line in lines if not line.lower().replace("_", "-").startswith(own)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
