"""`python -m ml <step>`: the command line every orchestrator runs."""

from ml.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
