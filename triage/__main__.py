"""``python -m triage``: the triage command line (see triage/cli.py)."""

from triage.cli import main

raise SystemExit(main())
