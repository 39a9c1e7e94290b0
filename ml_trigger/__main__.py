"""`python -m ml_trigger ...`: see ml_trigger.cli."""

from ml_trigger.cli import main

raise SystemExit(main())
