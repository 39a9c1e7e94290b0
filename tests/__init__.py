"""The project's tests (`make test`). A package so that the whole-stack proof runs as
`python3 -m tests.e2e.run` from the repository root; pytest does not need it."""
