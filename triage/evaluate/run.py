"""Evaluating cases: the model's answer (asked concurrently, so the model server batches), then the rules twice.

The triage case is built by `triage.pipeline.triage_input`, as the worker builds it, with
``model.lesion_discharge_validated`` set to each of FLAGS; answers.skipped travels inside the stored answers.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from triage.evaluate.answers import Answerer, ModelAnswer, snapshot_of
from triage.evaluate.labels import LabelledCase
from triage.evaluate.results import DIFFERENTIAL_KEPT, FLAGS, CaseResult, Outcome
from triage.pipeline import triage_input
from triage.rules import RULESET_VERSION, CaseError, assess, parse_case


class ModelServerDown(Exception):
    """The model server stopped answering: this many cases in a row could not reach it."""


def evaluate_case(case: LabelledCase, answer: ModelAnswer) -> CaseResult:
    """Return the result of ``case`` given the model's ``answer``: one Outcome per value of the flag."""
    response = answer.response
    quality = ""
    outcomes: tuple[Outcome, ...] = ()
    error = answer.error
    if not error:
        triage_case = triage_input(snapshot_of(case, answer.own_quality), response)
        quality = str(triage_case.get("model", {}).get("image_quality", ""))
        try:
            outcomes = tuple(_outcome(triage_case, validated, response is None) for validated in FLAGS)
        except CaseError as problem:
            error = f"answers: {problem}"
    return CaseResult(
        case_id=case.case_id,
        split=case.split,
        diagnosis=case.diagnosis,
        skin_type=case.skin_type,
        age_years=case.age_years,
        sex=case.sex,
        images=len(case.images),
        model_used=response is not None,
        backend=response.backend if response else "",
        model_id=response.model_id if response else "",
        model_revision=response.model_revision if response else "",
        image_quality=quality,
        differential=tuple((d.condition, d.likelihood) for d in response.differential[:DIFFERENTIAL_KEPT])
        if response
        else (),
        outcomes=outcomes if not error else (),
        ruleset_version=RULESET_VERSION,
        error=error,
    )


def _outcome(triage_case: dict[str, Any], validated: bool, no_model_output: bool) -> Outcome:
    """Return the rules' Outcome for ``triage_case`` with ``model.lesion_discharge_validated`` = ``validated``."""
    if "model" in triage_case:
        triage_case = {**triage_case, "model": {**triage_case["model"], "lesion_discharge_validated": validated}}
    decision = assess(parse_case(triage_case))
    # As the worker stores it (pipeline.store_outcome): no model output always goes to a clinician.
    forwarded = decision.forward_to_clinician or no_model_output
    return Outcome(decision.tier, forwarded, tuple(reason.code for reason in decision.reasons))


def evaluate_all(
    cases: Iterable[LabelledCase],
    answerer: Answerer,
    *,
    concurrency: int,
    give_up_after: int,
    on_result: Callable[[CaseResult], None],
) -> None:
    """Evaluate every case, calling ``on_result`` for each as it finishes (in the calling thread).

    Up to ``concurrency`` model answers are in flight at once. Raises ModelServerDown when ``give_up_after``
    cases in a row could not reach the model server; the results already passed on are complete.
    """
    unreachable_in_a_row = 0
    for case, answer in _answers(cases, answerer, concurrency):
        unreachable_in_a_row = unreachable_in_a_row + 1 if answer.unreachable else 0
        on_result(evaluate_case(case, answer))
        if unreachable_in_a_row >= give_up_after:
            raise ModelServerDown(f"{unreachable_in_a_row} cases in a row could not reach the model server")


def _answers(
    cases: Iterable[LabelledCase], answerer: Answerer, concurrency: int
) -> Iterator[tuple[LabelledCase, ModelAnswer]]:
    """Yield each case with its answer, in order; a bounded window of them asked at once in worker threads."""
    if concurrency <= 1:
        for case in cases:
            yield case, answerer(case)
        return
    pending: deque[tuple[LabelledCase, Future[ModelAnswer]]] = deque()
    executor = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="evaluate")
    try:
        for case in cases:
            pending.append((case, executor.submit(answerer, case)))
            # Twice the concurrency queued keeps every worker busy without reading all photos up front.
            if len(pending) >= 2 * concurrency:
                done_case, future = pending.popleft()
                yield done_case, future.result()
        while pending:
            done_case, future = pending.popleft()
            yield done_case, future.result()
    finally:
        executor.shutdown(wait=False, cancel_futures=True)
