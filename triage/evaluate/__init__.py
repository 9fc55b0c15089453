"""Evaluation of the triage on labelled cases: ``python -m triage.evaluate`` (docs/evaluation.md).

Adapters turn labelled data (PAD-UFES-20, a generic CSV) into cases as the bot stores them; each case gets a
model answer (a running model server through the worker's own client, a simulated model, or none) and is
assessed by the rules with ``model.lesion_discharge_validated`` false and true. The figures (malignant
sensitivity, self-care NPV, discharge rate, top-k, calibration, by skin type and age band) go into a report
folder. ``lesion_discharge_verdict`` says whether a run meets CLINICAL.md's thresholds for lesion discharge.
"""

from triage.evaluate.evidence import (
    MIN_LESION_CASES,
    MIN_MALIGNANT_CASES,
    MIN_MALIGNANT_SENSITIVITY,
    MIN_SELF_CARE_NPV,
    LesionEvidence,
    Verdict,
    evidence_from_metrics,
    lesion_discharge_verdict,
)

__all__ = [
    "MIN_LESION_CASES",
    "MIN_MALIGNANT_CASES",
    "MIN_MALIGNANT_SENSITIVITY",
    "MIN_SELF_CARE_NPV",
    "LesionEvidence",
    "Verdict",
    "evidence_from_metrics",
    "lesion_discharge_verdict",
]
