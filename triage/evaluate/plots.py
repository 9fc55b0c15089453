"""The report's plots as PNG bytes (matplotlib, Agg backend; the `eval` extra).

matplotlib is imported only when a plot is drawn, so the rest of the evaluation runs without it.
"""

from __future__ import annotations

import io
from typing import Any

from triage.rules import TIERS

TIER_COLOURS = {
    "emergency": "#7f0000",
    "urgent": "#d7301f",
    "soon": "#fc8d59",
    "routine": "#9ecae1",
    "self_care": "#31a354",
}
DPI = 80


class PlotsUnavailable(Exception):
    """matplotlib is not installed: ``pip install '.[eval]'``."""


def _pyplot() -> Any:
    try:
        import matplotlib
    except ImportError:
        raise PlotsUnavailable("matplotlib is not installed (pip install '.[eval]'); the report has no plots") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _png(figure: Any) -> bytes:
    plt = _pyplot()
    out = io.BytesIO()
    figure.tight_layout()
    figure.savefig(out, format="png", dpi=DPI)
    plt.close(figure)
    return out.getvalue()


def reliability_diagram(calibration: dict[str, Any], title: str) -> bytes:
    """Return the reliability diagram of metrics.json's ``calibration``: accuracy against mean likelihood."""
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(4.2, 4.0))
    bins = [b for b in calibration["bins"] if b["count"]]
    axes.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=1, label="perfectly calibrated")
    axes.bar(
        [b["low"] for b in bins], [b["accuracy"] for b in bins], width=0.1, align="edge",
        edgecolor="black", color="#6baed6", label="top-1 accuracy",
    )  # fmt: skip
    axes.plot(
        [b["mean_confidence"] for b in bins], [b["accuracy"] for b in bins], "o", color="black", markersize=3
    )
    ece = calibration["ece"]
    axes.set_title(f"{title}\nECE {ece:.3f} on {calibration['cases']} cases" if ece is not None else title, fontsize=9)
    axes.set_xlabel("top-1 likelihood")
    axes.set_ylabel("share right")
    axes.set_xlim(0, 1)
    axes.set_ylim(0, 1)
    axes.legend(fontsize=7, loc="lower right")
    return _png(figure)


def tier_bars(tiers: dict[str, dict[str, dict[str, int]]], titles: dict[str, str]) -> bytes:
    """Return stacked bars of the tier shares per diagnosis, one panel per flag value in ``tiers``."""
    plt = _pyplot()
    names = list(tiers)
    figure, panels = plt.subplots(1, len(names), figsize=(4.6 * len(names) + 1.2, 3.2), sharey=True, squeeze=False)
    for axes, name in zip(panels[0], names, strict=True):
        table = tiers[name]
        diagnoses = list(table)
        left = [0.0] * len(diagnoses)
        for tier in TIERS:
            shares = [table[d][tier] / max(sum(table[d].values()), 1) for d in diagnoses]
            axes.barh(diagnoses, shares, left=left, color=TIER_COLOURS[tier], label=tier)
            left = [a + b for a, b in zip(left, shares, strict=True)]
        axes.set_xlim(0, 1)
        axes.set_title(titles.get(name, name), fontsize=9)
        axes.set_xlabel("share of cases")
        axes.tick_params(axis="y", labelsize=7)
    panels[0][-1].legend(fontsize=7, loc="center left", bbox_to_anchor=(1.02, 0.5))
    return _png(figure)


def caught_by_group(strata: dict[str, Any], flags: dict[str, str]) -> bytes:
    """Return the malignant sensitivity (soon or above, or forwarded) with its 95 % interval per skin type and
    per age band; one marker per flag value in ``flags`` (metrics name -> legend text)."""
    plt = _pyplot()
    figure, panels = plt.subplots(1, 2, figsize=(8.0, 3.0), sharey=True)
    for axes, (grouping, label) in zip(panels, (("skin_type", "Fitzpatrick skin type"), ("age_band", "age band")),
                                       strict=True):
        groups = list(strata.get(grouping, {}))
        for offset, (flag, text) in zip((-0.12, 0.12), flags.items(), strict=False):
            xs, ys, low_err, high_err = [], [], [], []
            for index, group in enumerate(groups):
                figure_ = strata[grouping][group][flag]["malignant_caught"]
                if figure_["value"] is None:
                    continue
                xs.append(index + offset)
                ys.append(figure_["value"])
                low_err.append(figure_["value"] - figure_["low"])
                high_err.append(figure_["high"] - figure_["value"])
            axes.errorbar(xs, ys, yerr=[low_err, high_err], fmt="o", capsize=3, markersize=4, label=text)
        axes.axhline(0.95, color="grey", linestyle="--", linewidth=1)
        axes.set_xticks(range(len(groups)), groups, fontsize=8)
        axes.set_xlabel(label)
        axes.set_ylim(0, 1.02)
    panels[0].set_ylabel("malignant caught")
    panels[1].legend(fontsize=7, loc="lower right")
    return _png(figure)
