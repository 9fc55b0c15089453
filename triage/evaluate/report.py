"""The report folder: report.md (plots beside it), a self-contained report.html, and metrics.json."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from triage.evaluate import plots
from triage.evaluate.document import Block, Heading, Items, Paragraph, Picture, Table, to_html, to_markdown
from triage.evaluate.results import FLAGS
from triage.evaluate.summary import flag_name

FLAG_TITLES = {
    "unvalidated": "model not validated (lesion_discharge_validated false)",
    "validated": "model validated (lesion_discharge_validated true)",
}
HEADLINE_ROWS = (
    ("malignant_caught", "malignant: soon or above, or forwarded (sensitivity)"),
    ("malignant_soon_or_above", "malignant: soon or above"),
    ("self_care_npv", "self_care: not malignant (NPV)"),
    ("self_care_rate", "self_care (discharge rate)"),
    ("not_forwarded_rate", "kept out of the clinicians' queue (not forwarded)"),
)


def percent(figure: dict[str, Any]) -> str:
    """Return a metrics.json proportion as ``95.2% (40/42; 95% CI 84.2-99.2%)``, or ``n/a (0 cases)``."""
    if figure["value"] is None:
        return "n/a (0 cases)"
    return (
        f"{figure['value']:.1%} ({figure['successes']}/{figure['total']}; "
        f"95% CI {figure['low']:.1%}-{figure['high']:.1%})"
    )


def short_percent(figure: dict[str, Any]) -> str:
    """Return a metrics.json proportion as ``95.2% (40/42)``, or ``n/a``."""
    return "n/a" if figure["value"] is None else f"{figure['value']:.1%} ({figure['successes']}/{figure['total']})"


def build_blocks(metrics: dict[str, Any], comparison: list[Block], on_plot_error: Callable[[str], None]) -> list[Block]:
    """Return the report's blocks for ``metrics`` (metrics.json), followed by ``comparison`` when given."""
    run = metrics["run"]
    cases = metrics["cases"]
    blocks: list[Block] = [
        Heading(1, f"Evaluation: {run['mode_description']}"),
        Items(
            (
                f"data: {run['dataset']}, split {run['split']}"
                + (", cases with photos only" if run["only_with_images"] else ""),
                f"cases: {cases['total']} ({cases['evaluated']} evaluated, {cases['errored']} errored, "
                f"{cases['model_used']} with a model answer)",
                "model: " + ("; ".join(_model_line(m) for m in metrics["models"]) or "none"),
                f"rule set: {', '.join(metrics['ruleset_versions']) or 'n/a'}",
                f"malignant: {', '.join(run['malignant'])}",
                f"command: {run['command']}",
            )
        ),
        Heading(2, "Lesion cases"),
        Paragraph(
            "Each case is assessed twice from the same model answer: with model.lesion_discharge_validated false and "
            "true. Caught = soon or above, or forwarded to a clinician. Until the rules read the flag, both columns "
            "are equal."
        ),
        _headline_table(metrics),
        Heading(2, "Lesion discharge evidence (CLINICAL.md)"),
        Paragraph(
            ("MET: " if metrics["evidence"]["met"] else "NOT MET: ")
            + "the figures with the flag true against CLINICAL.md's thresholds."
        ),
    ]
    if metrics["evidence"]["reasons"]:
        blocks.append(Items(tuple(metrics["evidence"]["reasons"])))
    blocks += [Heading(2, "By diagnosis"), _class_table(metrics)]
    for validated in FLAGS:
        name = flag_name(validated)
        blocks += [Heading(3, f"Tier by diagnosis, {FLAG_TITLES[name]}"), _tier_table(metrics["tiers"][name])]
    blocks += _calibration_blocks(metrics)
    for grouping, title in (("skin_type", "By Fitzpatrick skin type"), ("age_band", "By age band")):
        blocks += [Heading(2, title), _strata_table(metrics["strata"][grouping])]
    blocks += _plots(metrics, on_plot_error)
    if cases["errored"]:
        blocks += [
            Heading(2, "Errors"),
            Paragraph("Errored cases count in no figure; run the same command again to retry them."),
            Table(("kind", "cases"), tuple((kind, str(n)) for kind, n in sorted(metrics["cases"]["errors"].items()))),
        ]
    return blocks + comparison


def write_report(folder: Path, metrics: dict[str, Any], comparison: list[Block],
                 on_plot_error: Callable[[str], None]) -> None:
    """Write metrics.json, report.md with its PNG plots, and report.html into ``folder``."""
    blocks = build_blocks(metrics, comparison, on_plot_error)
    for block in blocks:
        if isinstance(block, Picture):
            (folder / block.file).write_bytes(block.png)
    _write(folder / "metrics.json", json.dumps(metrics, indent=2, sort_keys=True) + "\n")
    _write(folder / "report.md", to_markdown(blocks))
    _write(folder / "report.html", to_html(blocks, f"Evaluation: {metrics['run']['mode_description']}"))


def _write(path: Path, text: str) -> None:
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)


def _model_line(model: dict[str, str]) -> str:
    revision = f" revision {model['model_revision']}" if model["model_revision"] else ""
    return f"{model['model_id']} ({model['backend']}{revision})"


def _headline_table(metrics: dict[str, Any]) -> Table:
    heads = metrics["headline"]
    rows = [("lesion cases (malignant)", *(f"{h['lesion_cases']} ({h['malignant_cases']})" for h in heads.values()))]
    rows += [(label, *(percent(h[key]) for h in heads.values())) for key, label in HEADLINE_ROWS]
    return Table(("figure", *(FLAG_TITLES[name] for name in heads)), tuple(rows))


def _class_table(metrics: dict[str, Any]) -> Table:
    rows = []
    for diagnosis, entry in metrics["classes"].items():
        off, on = entry["unvalidated"], entry["validated"]
        rows.append((
            diagnosis + (" (malignant)" if entry["malignant"] else ""), str(entry["cases"]),
            short_percent(entry["top1"]), short_percent(entry["top3"]),
            short_percent(off["soon_or_above"]), short_percent(off["caught"]), short_percent(off["self_care"]),
            short_percent(on["caught"]), short_percent(on["self_care"]),
        ))  # fmt: skip
    header = ("diagnosis", "cases", "top-1", "top-3", "soon+ (flag false)", "caught (flag false)",
              "self_care (flag false)", "caught (flag true)", "self_care (flag true)")  # fmt: skip
    return Table(header, tuple(rows))


def _tier_table(table: dict[str, dict[str, int]]) -> Table:
    tiers = next(iter(table.values())).keys() if table else ()
    rows = tuple((diagnosis, *(str(counts[t]) for t in tiers)) for diagnosis, counts in table.items())
    return Table(("diagnosis", *tiers), rows)


def _calibration_blocks(metrics: dict[str, Any]) -> list[Block]:
    calibration = metrics["calibration"]
    if not calibration["cases"]:
        return [Heading(2, "Calibration"), Paragraph("No model answers: nothing to calibrate.")]
    rows = tuple(
        (f"{b['low']:.1f}-{b['high']:.1f}", str(b["count"]),
         "" if b["mean_confidence"] is None else f"{b['mean_confidence']:.3f}",
         "" if b["accuracy"] is None else f"{b['accuracy']:.3f}")
        for b in calibration["bins"]
    )  # fmt: skip
    return [
        Heading(2, "Calibration"),
        Paragraph(
            f"Expected calibration error of the top-1 likelihood: {calibration['ece']:.3f} over "
            f"{calibration['cases']} cases with a model answer (10 equal-width bins)."
        ),
        Table(("top-1 likelihood", "cases", "mean likelihood", "share right"), rows),
    ]


def _strata_table(groups: dict[str, Any]) -> Table:
    rows = []
    for label, entry in groups.items():
        off, on = entry["unvalidated"], entry["validated"]
        rows.append((
            label, str(entry["cases"]), str(off["malignant_cases"]),
            short_percent(off["malignant_caught"]), short_percent(on["malignant_caught"]),
            short_percent(on["self_care_npv"]), short_percent(on["self_care_rate"]),
            short_percent(entry["top1"]), "n/a" if entry["ece"] is None else f"{entry['ece']:.3f}",
        ))  # fmt: skip
    header = ("group", "cases", "malignant", "caught (flag false)", "caught (flag true)", "self_care NPV (flag true)",
              "self_care (flag true)", "top-1", "ECE")  # fmt: skip
    return Table(header, tuple(rows))


def _plots(metrics: dict[str, Any], on_plot_error: Callable[[str], None]) -> list[Block]:
    titles = {name: FLAG_TITLES[name] for name in metrics["tiers"]}
    try:
        blocks: list[Block] = [
            Heading(2, "Plots"),
            Picture("tiers.png", "tier shares by diagnosis", plots.tier_bars(metrics["tiers"], titles)),
            Picture("caught_by_group.png", "malignant caught by skin type and age band",
                    plots.caught_by_group(metrics["strata"], {"unvalidated": "flag false", "validated": "flag true"})),
        ]  # fmt: skip
        if metrics["calibration"]["cases"]:
            blocks.append(
                Picture("reliability.png", "reliability diagram",
                        plots.reliability_diagram(metrics["calibration"], metrics["run"]["mode_description"]))
            )  # fmt: skip
    except plots.PlotsUnavailable as error:
        on_plot_error(str(error))
        return [Heading(2, "Plots"), Paragraph(str(error))]
    return blocks
