"""``python -m triage``: assess one case by hand, or print the rule set (see shared/contracts/triage.md).

Imports only ``triage.rules``: the command must run without the database, broker or model server.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import NoReturn

from triage.rules import CaseError, assess_json
from triage.rules.render import render_markdown, render_text

EXIT_BAD_INPUT = 2


class BadInput(Exception):
    """The case could not be read or does not follow the contract; the message is one line for stderr."""


def _reject_constant(name: str) -> NoReturn:
    raise BadInput(f"input is not valid JSON: {name} is not a JSON number")


def _read(path: str) -> str:
    try:
        if path == "-":
            raw = sys.stdin.buffer.read()
        else:
            with open(path, "rb") as file:
                raw = file.read()
    except OSError as error:
        raise BadInput(f"cannot read {path}: {error.strerror or error}") from error
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise BadInput("input is not UTF-8 text") from error


def _decode(text: str) -> object:
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as error:
        raise BadInput(f"input is not valid JSON: {error.msg} (line {error.lineno}, column {error.colno})") from error
    except RecursionError as error:
        raise BadInput("input is not valid JSON: nested too deeply") from error
    except ValueError as error:  # e.g. an integer with too many digits
        raise BadInput(f"input is not valid JSON: {str(error).splitlines()[0]}") from error


def _assess(arguments: argparse.Namespace) -> int:
    try:
        decision = assess_json(_decode(_read(arguments.file)))
    except (BadInput, CaseError) as error:
        print(f"triage assess: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    sys.stdout.write(json.dumps(decision) + "\n")
    return 0


def _rules(arguments: argparse.Namespace) -> int:
    sys.stdout.write(render_markdown() if arguments.format == "markdown" else render_text())
    return 0


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of ``python -m triage``."""
    parser = argparse.ArgumentParser(
        prog="python -m triage",
        description="Dermatology triage rules: assess a case by hand, or show the rule set.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    assess = commands.add_parser(
        "assess",
        help="assess one case (JSON) and print the decision (JSON)",
        description="Read one case as JSON and write one decision as JSON. Exit 0, or 2 with one line on "
        "standard error when the input is not a valid case.",
    )
    assess.add_argument(
        "file", nargs="?", default="-", metavar="FILE", help="the case file; standard input when '-' or absent"
    )
    assess.set_defaults(handler=_assess)
    rules = commands.add_parser("rules", help="print the rule set", description="Print the rule set.")
    rules.add_argument(
        "--format", choices=("text", "markdown"), default="text", help="aligned text table (default) or Markdown"
    )
    rules.set_defaults(handler=_rules)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line with ``argv`` (default: sys.argv[1:]); return the exit status."""
    arguments = build_parser().parse_args(argv)
    status: int = arguments.handler(arguments)
    return status
