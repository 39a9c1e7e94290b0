"""The e2e halves that run with the project venv (`.venv/bin/python -m tests.e2e.in_venv.<name>`): the browser checks."""
