"""The whole-stack proof (`make e2e` = `python3 -m tests.e2e.run`, from the repository root).

Three kinds of module, by where they run:
  - here: the driver (run.py, the phase list), its machinery (phases.py, stack.py, report.py,
    checklist.py) and each phase's host side (parity.py, backfill.py, chaos.py, ...): on the host,
    standard library only;
  - in_image/: the halves that need ml, MLflow and the orchestrators' clients, run inside the ml
    image on the compose network as `python -m tests.e2e.in_image.<name>` (the driver mounts tests/);
  - in_venv/: the browser checks, run with the project venv (Playwright).
Nothing here is collected by pytest (no file starts with test_); tests/test_e2e_phases.py tests the
phase machinery without Docker.
"""
