"""How the case page writes a tracked lesion's measurements: every number with its ~95 % band, as the worker stored
it (already rounded to what a phone photo allows, `triage.lesions.Estimate`), and never more digits than that."""

from __future__ import annotations

from typing import Any

PROBLEMS = {
    "unreadable": "the photo could not be read",
    "no_lesion": "no lesion stood out from the skin around it",
    "no_photo": "no photo was stored",
    "measurement_failed": "the measurement failed",
}


def estimate(value: Any, *, signed: bool = False) -> str:
    """A stored estimate `[value, band, unit]` as "23 ± 3 mm" ("+60 ± 30 %" when `signed`); "–" for none."""
    if not (isinstance(value, list | tuple) and len(value) == 3):
        return "–"
    number, band, unit = value
    try:
        shown = f"{float(number):+g}" if signed else f"{float(number):g}"
        spread = f"{float(band):g}"
    except (TypeError, ValueError):
        return "–"
    unit = f" {unit}" if unit else ""
    return f"{shown}{unit} ± {spread}{unit}" if float(band) else f"{shown}{unit}"


def problem(record: dict[str, Any] | None) -> str:
    """Why a visit's photo was not measured, in words."""
    code = str((record or {}).get("problem") or "")
    if code.startswith("poor_photo:"):
        return f"the photo failed the quality check ({code.split(':', 1)[1].replace('_', ' ')})"
    return PROBLEMS.get(code, code.replace("_", " "))


def measurement_rows(record: dict[str, Any] | None) -> list[tuple[str, str]]:
    """The measured numbers of one visit as (label, value) rows; none when nothing was measured."""
    if not isinstance(record, dict) or record.get("problem"):
        return []
    colour = record.get("colour") or {}
    scaled = record.get("diameter_mm") is not None
    scale = "" if scaled else " (no scale coin: pixels)"
    return [
        ("Longest diameter", estimate(record.get("diameter_mm") if scaled else record.get("diameter_px")) + scale),
        ("Area", estimate(record.get("area_mm2") if scaled else record.get("area_px")) + scale),
        ("Scale coin", "found" if record.get("coin_found") else "not found"),
        ("Colour against the skin", f"lightness {estimate(colour.get('L50'))}; red {estimate(colour.get('a50'))}; "
                                    f"yellow {estimate(colour.get('b50'))}; {record.get('colour_clusters', '?')} "
                                    "distinct colour(s)"),
        ("Border", f"compactness {estimate(record.get('compactness'))} (1 = circle); solidity "
                   f"{estimate(record.get('solidity'))}"),
        ("Outline confidence", f"{float(record.get('confidence') or 0):.2f}"
                               + (" (runs off the photo)" if record.get("touches_border") else "")),
    ]


def change_rows(change: dict[str, Any] | None) -> list[tuple[str, str, str, str]]:
    """The change since the visit before, per feature: (feature, verdict, change ± band, what moved most)."""
    rows = []
    for feature in ("size", "shape", "colour"):
        item = (change or {}).get(feature)
        if isinstance(item, dict):
            rows.append((feature, str(item.get("verdict", "unknown")), estimate(item.get("change"), signed=True),
                         str(item.get("detail", ""))))
    return rows


def svg_points(outline: Any) -> str:
    """An outline's points as an SVG polygon's `points`."""
    points = []
    for point in outline or []:
        try:
            points.append(f"{float(point[0]):g},{float(point[1]):g}")
        except (TypeError, ValueError, IndexError):
            continue
    return " ".join(points)


def interval_label(days: int) -> str:
    """An interval as clinicians say it: "4 weeks", "3 months"."""
    named = {14: "2 weeks", 28: "4 weeks", 56: "8 weeks", 91: "3 months", 182: "6 months", 365: "1 year"}
    return named.get(days, f"{days} days")
