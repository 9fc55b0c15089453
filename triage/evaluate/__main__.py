"""``python -m triage.evaluate``: see triage/evaluate/cli.py and docs/evaluation.md."""

from triage.evaluate.cli import main

raise SystemExit(main())
