"""``python -m triage.evaluate``: evaluate the triage (rules, and a model when there is one) on labelled cases.

Exit status: 0 done; 2 bad arguments or input (one line on standard error); 3 the model server is not
answering (what was done is kept: run the same command again to resume); 130 interrupted (the same).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

import httpx

from triage.config import ConfigError, load_settings
from triage.db import make_engine, make_sessionmaker
from triage.evaluate.answers import Answerer, ServerModel, rules_only, simulated
from triage.evaluate.compare import comparison, load_other_run
from triage.evaluate.document import Block
from triage.evaluate.labelled_csv import load_labelled_csv
from triage.evaluate.labels import DEFAULT_MALIGNANT, BadInput, LabelledCase, check_condition_keys
from triage.evaluate.pad import find_pad_dir, load_pad
from triage.evaluate.progress import Progress
from triage.evaluate.report import write_report
from triage.evaluate.results import CaseResult, ResultWriter, read_results, write_results
from triage.evaluate.run import ModelServerDown, evaluate_all
from triage.evaluate.simulate import load_simulated_model
from triage.evaluate.summary import summarise
from triage.evidence import EvidenceError, record
from triage.model_client import ModelClient
from triage.rules import RULESET_VERSION

EXIT_BAD_INPUT = 2
EXIT_MODEL_DOWN = 3
EXIT_INTERRUPTED = 130
RESULTS_FILE = "cases.csv"
RUN_FILE = "run.json"
REPORT_FILES = (RESULTS_FILE, RUN_FILE, "metrics.json", "report.md", "report.html", "tiers.png", "caught_by_group.png",
                "reliability.png")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        """Print one line (not the usage) and exit with status 2."""
        self.exit(EXIT_BAD_INPUT, f"evaluate: {message} (see --help)\n")


def parser() -> argparse.ArgumentParser:
    """Return the command's argument parser."""
    p = _Parser(prog="python -m triage.evaluate", description=__doc__.split("\n")[0])
    data = p.add_mutually_exclusive_group()
    data.add_argument("--pad", metavar="DIR", help="PAD-UFES-20 folder (default: $SHARED_DIR/data/pad-ufes-20 or "
                      "shared/data/pad-ufes-20 above this checkout)")  # fmt: skip
    data.add_argument("--csv", metavar="FILE", help="a labelled CSV instead (columns: docs/evaluation.md)")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--no-model", action="store_true", help="the rules alone, on the answers")
    mode.add_argument("--simulate", metavar="JSON", help="a simulated model (confusion matrix + confidence)")
    mode.add_argument("--model-url", metavar="URL", help="the model server (default: $MODEL_SERVER_URL)")
    p.add_argument("--out", metavar="DIR", required=True, help="report folder (created; a stopped run resumes)")
    p.add_argument("--split", choices=("dev", "holdout", "all"),
                   help="which cases (default: dev when the data has splits, else all)")  # fmt: skip
    p.add_argument("--only-with-images", action="store_true", help="leave out cases that have no photo")
    p.add_argument("--limit", type=int, metavar="N", help="only the first N cases (a quick check)")
    p.add_argument("--malignant", metavar="KEYS", default=",".join(DEFAULT_MALIGNANT),
                   help="comma-separated condition keys counted as malignant (default: %(default)s)")  # fmt: skip
    p.add_argument("--concurrency", type=int, default=8, metavar="N", help="model requests in flight (default 8)")
    p.add_argument("--compare", metavar="DIR", help="another report folder to set beside this run")
    p.add_argument("--restart", action="store_true", help="discard the per-case results already in --out")
    p.add_argument("--record", action="store_true",
                   help="store the figures as an evidence record for the model server's identity (DATABASE_URL); "
                        "a record meeting CLINICAL.md's thresholds lets that model send benign lesions home")
    p.add_argument("--recorded-by", metavar="NAME", default=os.environ.get("USER", ""),
                   help="who ran the evaluation, for the record and the audit (default: $USER)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; return its exit status."""
    args = parser().parse_args(argv)
    command = "python -m triage.evaluate " + shlex.join(sys.argv[1:] if argv is None else argv)
    try:
        return _evaluate(args, command)
    except BadInput as error:
        print(f"evaluate: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except ServerNotAnswering as error:
        print(f"evaluate: {error}", file=sys.stderr)
        return EXIT_MODEL_DOWN
    except BrokenPipeError:  # the summary's reader went away (e.g. `| head`); the report folder is complete
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except OSError as error:  # the report folder could not be written (full disk, permissions)
        print(f"evaluate: cannot write to --out {args.out}: {error.strerror or error}", file=sys.stderr)
        return EXIT_BAD_INPUT


def _evaluate(args: argparse.Namespace, command: str) -> int:
    if args.limit is not None and args.limit < 1:
        raise BadInput("--limit must be at least 1")
    if not 1 <= args.concurrency <= 64:
        raise BadInput("--concurrency must be from 1 to 64")
    malignant = check_condition_keys([k.strip() for k in args.malignant.split(",") if k.strip()], "--malignant")
    dataset, cases = _load_cases(args)
    split = args.split or ("dev" if any(case.split for case in cases) else "all")
    cases = _select(cases, split, args.only_with_images, args.limit)
    if args.record and (args.no_model or args.simulate):
        raise BadInput("--record needs a running model server: a record is evidence about one real model")
    answerer, mode, description = _answerer(args, cases)
    out = Path(args.out)
    other = load_other_run(Path(args.compare)) if args.compare else None
    run = {
        "dataset": dataset, "split": split, "only_with_images": args.only_with_images, "limit": args.limit,
        "mode": mode, "mode_description": description, "malignant": list(malignant),
    }  # fmt: skip
    done = _prepare_folder(out, run, args.restart, {case.case_id for case in cases})
    todo = [case for case in cases if case.case_id not in done]
    if done:
        print(f"evaluate: resuming: {len(done)} of {len(cases)} cases already done", file=sys.stderr)
    status = _run(out, list(done.values()), todo, answerer, args.concurrency)
    if status:
        return status
    order = {case.case_id: index for index, case in enumerate(cases)}
    write_results(out / RESULTS_FILE, sorted(read_results(out / RESULTS_FILE), key=lambda r: order[r.case_id]))
    results = read_results(out / RESULTS_FILE)  # the figures come from the file, so a resumed run equals a fresh one
    metrics: dict[str, Any] = {"run": {**run, "command": command}, **summarise(results, malignant)}
    blocks: list[Block] = []
    if other is not None:
        blocks, metrics["comparison"] = comparison(metrics, results, other[0], other[1], args.compare, malignant)
    write_report(out, metrics, blocks, lambda message: print(f"evaluate: {message}", file=sys.stderr))
    _print_summary(metrics, out)
    if args.record:
        return _record(args, metrics, split, dataset)
    return 0


def _record(args: argparse.Namespace, metrics: dict[str, Any], split: str, dataset: str) -> int:
    """Store the run as an evidence record for the identity the model server reports now (it must be the one
    that answered: the identity is read before the run and again after it)."""
    url = (args.model_url or load_settings().model_server_url).rstrip("/")
    before, after = getattr(args, "identity_before", {}), _identity(url)
    if not before or before != after:
        raise BadInput("the model server's identity changed during the run (or it reports none): not recorded")
    sessions = make_sessionmaker(make_engine(load_settings().resolved_database_url, pool_size=1))
    figures = {**metrics["evidence"], "headline": metrics["headline"].get("validated", {})}
    try:
        view = record(sessions, identity=after, dataset=dataset, split=split, ruleset_version=RULESET_VERSION,
                      figures=figures, recorded_by=args.recorded_by)
    except EvidenceError as error:
        raise BadInput(str(error)) from None
    finally:
        sessions.kw["bind"].dispose()
    state = "meets CLINICAL.md's thresholds" if view.meets else "does not meet the thresholds: " + "; ".join(
        view.reasons)
    print(f"evidence record {view.id} for model {view.model_id} ({view.identity[:12]}): {state}")
    return 0


def _identity(url: str) -> dict[str, Any]:
    try:
        body = httpx.get(f"{url}/healthz", timeout=30).json()
    except (httpx.HTTPError, ValueError):
        return {}
    identity = body.get("identity") if isinstance(body, dict) else None
    return identity if isinstance(identity, dict) else {}


def _load_cases(args: argparse.Namespace) -> tuple[str, list[LabelledCase]]:
    if args.csv:
        return str(Path(args.csv).resolve()), load_labelled_csv(Path(args.csv))
    folder = find_pad_dir(args.pad, os.environ, Path(__file__).resolve().parent)
    return str(folder.resolve()), load_pad(folder)


def _select(cases: list[LabelledCase], split: str, only_with_images: bool, limit: int | None) -> list[LabelledCase]:
    if split != "all":
        if not any(case.split for case in cases):
            raise BadInput(f"--split {split}: these cases have no split; use --split all")
        cases = [case for case in cases if case.split == split]
    if only_with_images:
        cases = [case for case in cases if case.images]
    cases = cases[:limit] if limit else cases
    if not cases:
        raise BadInput("no cases left to evaluate after --split, --only-with-images and --limit")
    return cases


def _answerer(args: argparse.Namespace, cases: list[LabelledCase]) -> tuple[Answerer, str, str]:
    """Return how cases get their model answer, the mode as run.json records it, and a description."""
    if args.no_model:
        return rules_only, "rules_only", "rules only (no model)"
    if args.simulate:
        model = load_simulated_model(Path(args.simulate))
        missing = sorted({case.diagnosis for case in cases} - model.confusion.keys())
        if missing:
            raise BadInput(f"{args.simulate}: no confusion row for diagnosis {', '.join(missing[:5])}")
        return simulated(model), f"simulated:{model.digest}", f"simulated model '{model.name}'"
    try:
        settings = load_settings()
    except ConfigError as error:
        raise BadInput(f"configuration error: {error}") from None
    url = (args.model_url or settings.model_server_url).rstrip("/")
    _check_server(url)
    args.identity_before = _identity(url)
    client = ModelClient(url, timeout_s=settings.model_timeout_s, max_attempts=settings.model_max_attempts,
                         backoff_s=settings.model_retry_backoff_s)  # fmt: skip
    server = ServerModel(client, max_image_bytes=settings.max_image_bytes,
                         max_image_pixels=settings.max_image_pixels)  # fmt: skip
    return server, f"model:{url}", f"model server {url}"


class ServerNotAnswering(Exception):
    """The model server does not answer its health check before the run starts."""


def _check_server(url: str) -> None:
    if not url.startswith(("http://", "https://")):
        raise BadInput(f"--model-url must start with http:// or https://, got {url[:60]!r}")
    try:
        response = httpx.get(f"{url}/healthz", timeout=30)
    except httpx.HTTPError as error:
        raise ServerNotAnswering(
            f"model server at {url} is not answering ({error.__class__.__name__}); start it, or use --no-model "
            "or --simulate"
        ) from None
    if response.status_code != 200:
        raise ServerNotAnswering(f"model server at {url} is not ready: /healthz answered {response.status_code}")


def _prepare_folder(out: Path, run: dict[str, Any], restart: bool, wanted: set[str]) -> dict[str, CaseResult]:
    """Create or check the report folder; return the finished results to keep (by case id) when resuming."""
    if out.exists() and not out.is_dir():
        raise BadInput(f"--out {out}: exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not (out / RUN_FILE).exists():
        raise BadInput(f"--out {out}: a folder that is not an evaluation report; give a new or empty folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
        if (out / RUN_FILE).exists() and not restart:
            previous = json.loads((out / RUN_FILE).read_text(encoding="utf-8"))
            changed = sorted(key for key in run if previous.get(key) != run[key])
            if changed:
                raise BadInput(
                    f"--out {out}: holds a run with other settings ({', '.join(changed)}); "
                    "use another --out, or --restart to discard it"
                )
        else:
            for name in REPORT_FILES:
                (out / name).unlink(missing_ok=True)
        (out / RUN_FILE).write_text(json.dumps(run, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    except OSError as error:
        raise BadInput(f"--out {out}: {error.strerror or error}") from None
    except ValueError:
        raise BadInput(f"--out {out}: {RUN_FILE} is not readable JSON; use another --out or --restart") from None
    kept = [r for r in read_results(out / RESULTS_FILE) if not r.error and r.case_id in wanted]
    return {r.case_id: r for r in kept}


def _run(out: Path, kept: list[CaseResult], todo: list[LabelledCase], answerer: Answerer, concurrency: int) -> int:
    """Evaluate ``todo``, appending to the per-case file; return 0, or the exit status of a stopped run."""
    writer = ResultWriter(out / RESULTS_FILE, kept)
    progress = Progress(len(todo), sys.stderr)

    def record(result: CaseResult) -> None:
        writer.add(result)
        progress.step()

    try:
        evaluate_all(todo, answerer, concurrency=concurrency, give_up_after=max(10, 2 * concurrency),
                     on_result=record)  # fmt: skip
    except ModelServerDown as error:
        print(f"evaluate: stopped: {error}; {progress.done} cases done; run the same command again to resume",
              file=sys.stderr)  # fmt: skip
        return EXIT_MODEL_DOWN
    except KeyboardInterrupt:
        print(f"evaluate: interrupted; {progress.done} cases done; run the same command again to resume",
              file=sys.stderr)  # fmt: skip
        return EXIT_INTERRUPTED
    finally:
        writer.close()
    elapsed = progress.elapsed_s()
    rate = f" ({len(todo) / elapsed:.0f} cases/s)" if elapsed > 0 and todo else ""
    print(f"evaluate: evaluated {len(todo)} cases in {elapsed:.2f} s{rate}", file=sys.stderr)
    return 0


def _print_summary(metrics: dict[str, Any], out: Path) -> None:
    for name, head in metrics["headline"].items():
        figures = []
        for key, label in (("malignant_caught", "malignant caught"), ("self_care_npv", "self_care NPV"),
                           ("self_care_rate", "discharge")):  # fmt: skip
            value = head[key]["value"]
            figures.append(f"{label} {'n/a' if value is None else f'{value:.1%}'}")
        print(f"{name}: " + ", ".join(figures))
    print(f"lesion discharge evidence: {'met' if metrics['evidence']['met'] else 'not met'}")
    print(f"report: {out / 'report.html'}")
    sys.stdout.flush()  # a reader that went away is found here, inside main(), not at interpreter exit

