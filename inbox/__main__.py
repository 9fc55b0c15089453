"""`python -m inbox ...`: the account command line (see `inbox/cli.py`)."""

from inbox.cli import main

raise SystemExit(main())
