"""A tracked lesion's new photo measured against the visit before, in the worker (`triage.pipeline`).

The photos of this visit and of the previous one are decrypted through the image store and measured with
`triage.lesions` (each visit: the best of its photos, preferring one with the scale coin, then the clearest
outline). A visit's measurement is stored with its case (`Case.lesion_measurement`), so a later visit compares
with the stored numbers even once the earlier photos are gone.

Sizes are measured against the coin beside the spot: in millimetres when the deployment names its diameter
(`LESION_COIN_DIAMETER_MM`), else in coin diameters (any coin, the same one every time), so that a size change is
still measured without knowing the coin. A visit measured on one scale is not compared in size with one measured on
the other.

A change the module calls `changed` becomes a finding of the weighted 7-point checklist (`changing_size`,
`changing_shape`, `changing_colour`) with the measurement as its evidence, passed to `assess(...,
extra_findings=...)`: it can only add to what the patient answered, so it can only raise the tier. `unchanged`
and `unknown` add nothing and take nothing away. Any change counts, smaller as well as larger: when in doubt, a
clinician looks.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, fields, replace
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from triage import logs
from triage.db import transaction
from triage.images import ImageStore
from triage.lesions import Estimate, FeatureChange, LesionChange, LesionMeasurement, compare_lesions, measure_lesion
from triage.models import Case, CaseImage
from triage.rules import Finding
from triage.tracking import VISIT_STATUSES

log = logging.getLogger(__name__)

FORMAT = 1  # the stored measurement's layout
CHECKLIST_CONCEPTS = {"size": "changing_size", "shape": "changing_shape", "colour": "changing_colour"}
MEASURED = "measured"  # a finding's source: read from the photos, not from the words
_ESTIMATES = ("area_px", "diameter_px", "mm_per_px", "area_mm2", "diameter_mm", "colour_spread", "compactness",
              "solidity")
# Without a known coin diameter, lengths are in coin diameters: the coin is measured as 1 unit across.
COIN_UNITS = {"mm": "coin diameters", "mm²": "coin diameters²", "mm/px": "coin diameters/px"}


def _in_coin_units(text: str) -> str:
    """A length or area in millimetres said in coin diameters (the module writes "mm" for any unit it is given)."""
    for mm, coin in sorted(COIN_UNITS.items(), key=lambda pair: -len(pair[0])):
        text = text.replace(f" {mm}", f" {coin}")
    return text


@dataclass(frozen=True)
class VisitMeasurement:
    """What the worker found on a visit: the record stored with the case, and the findings it adds."""

    record: dict[str, Any]
    findings: tuple[Finding, ...]

    @property
    def changed(self) -> bool:
        return bool(self.findings)


# -- to and from the stored form ----------------------------------------------------------------------------------
def _estimate(value: Estimate | None, *, relative: bool = False) -> list[Any] | None:
    if value is None:
        return None
    return [value.value, value.uncertainty, COIN_UNITS.get(value.unit, value.unit) if relative else value.unit]


def _from_estimate(value: Any) -> Estimate | None:
    if not (isinstance(value, list) and len(value) == 3):
        return None
    return Estimate(float(value[0]), float(value[1]), str(value[2]))


def measurement_record(m: LesionMeasurement, image_id: int | None, coin_mm: float | None) -> dict[str, Any]:
    """A measurement as stored: every number as [value, ±band, unit], the outline as points. `coin_mm` None: the
    sizes are in coin diameters."""
    record: dict[str, Any] = {
        "problem": m.problem, "image_id": image_id, "coin_mm": coin_mm, "width": m.width, "height": m.height,
        "photo_quality": m.photo_quality, "confidence": m.confidence, "touches_border": m.touches_border,
        "coin_found": m.coin_found, "coin_confidence": m.coin_confidence, "colour_clusters": m.colour_clusters,
        "colour": {k: _estimate(v) for k, v in m.colour.items()},
        "outline": [list(point) for point in m.outline],
    }
    record.update({name: _estimate(getattr(m, name), relative=coin_mm is None) for name in _ESTIMATES})
    return record


def measurement_of(record: dict[str, Any] | None) -> LesionMeasurement | None:
    """The stored measurement back as a `LesionMeasurement` (None when there is none or it cannot be read)."""
    if not isinstance(record, dict) or "problem" not in record:
        return None
    try:
        known = {f.name for f in fields(LesionMeasurement)}
        values: dict[str, Any] = {k: record[k] for k in ("problem", "width", "height", "photo_quality", "confidence",
                                                         "touches_border", "coin_found", "coin_confidence",
                                                         "colour_clusters") if k in record and k in known}
        values.update({name: _from_estimate(record.get(name)) for name in _ESTIMATES})
        colour = {k: _from_estimate(v) for k, v in (record.get("colour") or {}).items()}
        values["colour"] = {k: v for k, v in colour.items() if v is not None}
        values["outline"] = tuple((float(x), float(y)) for x, y in record.get("outline") or [])
        return LesionMeasurement(**values)
    except (TypeError, ValueError, KeyError):
        return None


def _said(change: LesionChange, relative: bool) -> LesionChange:
    """The change with its size's words in coin diameters when the sizes are."""
    if not relative:
        return change
    return replace(change, size=replace(change.size, detail=_in_coin_units(change.size.detail)))


def change_record(change: LesionChange) -> dict[str, Any]:
    return {name: {"verdict": fc.verdict, "change": _estimate(fc.change), "detail": fc.detail}
            for name, fc in (("size", change.size), ("shape", change.shape), ("colour", change.colour))}


def describe(feature: FeatureChange) -> str:
    """One feature's change in words for a clinician, with its band: "size +60 % ± 30 % (area 880 → 1450 mm²)"."""
    if feature.change is None:
        return f"{feature.feature}: {feature.verdict} ({feature.detail})"
    c = feature.change
    unit = f" {c.unit}" if c.unit else ""
    return f"{feature.feature} {c.value:+g}{unit} ± {c.uncertainty:g}{unit} ({feature.detail})"


def change_findings(change: LesionChange) -> tuple[Finding, ...]:
    """The checklist findings of a measured change: one per feature whose verdict is `changed`."""
    found = []
    for name, concept in CHECKLIST_CONCEPTS.items():
        feature: FeatureChange = getattr(change, name)
        if feature.verdict == "changed":
            found.append(Finding(concept, 0, 0, f"measured on the photos: {describe(feature)}", "", source=MEASURED))
    return tuple(found)


def _comparable(before: LesionMeasurement, record: dict[str, Any], coin_mm: float | None) -> LesionMeasurement:
    """The earlier measurement, its sizes dropped when they are on another scale than this visit's (the coin's
    diameter was set, changed or unset meanwhile): size is then `unknown`, never a made-up change."""
    if record.get("coin_mm") == coin_mm:
        return before
    return replace(before, mm_per_px=None, area_mm2=None, diameter_mm=None)


# -- measuring ----------------------------------------------------------------------------------------------------
def _rank(m: LesionMeasurement) -> tuple[bool, bool, float]:
    return (m.problem is None, m.coin_found, m.confidence)


def best_measurement(photos: Sequence[tuple[int, bytes]], coin_mm: float | None
                     ) -> tuple[LesionMeasurement, int | None]:
    """The best measurement among a visit's photos (a measured lesion, then a coin, then the clearest outline)."""
    measured = [(measure_lesion(data, coin_diameter_mm=coin_mm or 1.0), image_id) for image_id, data in photos]
    if not measured:
        return LesionMeasurement(problem="no_photo"), None
    return max(measured, key=lambda pair: _rank(pair[0]))


def _photos(session: Session, case_id: int) -> list[tuple[int, str]]:
    return [(row.id, row.storage_key) for row in session.execute(
        select(CaseImage.id, CaseImage.storage_key).where(CaseImage.case_id == case_id, CaseImage.deleted_at.is_(None))
        .order_by(CaseImage.id))]


def _decrypted(store: ImageStore, keys: Sequence[tuple[int, str]]) -> list[tuple[int, bytes]]:
    out = []
    for image_id, key in keys:
        try:
            out.append((image_id, store.get(key)))
        except (FileNotFoundError, ValueError):  # deleted meanwhile, or unreadable: measured without it
            continue
    return out


def stored_or_measured(factory: sessionmaker[Session], store: ImageStore, case_id: int, coin_mm: float | None
                       ) -> dict[str, Any] | None:
    """A visit's measurement record: the one stored with its case, else measured now from its photos and stored
    (so it outlives them). None when there is neither."""
    with factory() as session:
        found = session.get(Case, case_id)
        if found is None:
            return None
        stored = (found.lesion_measurement or {}).get("photo")
        if isinstance(stored, dict):
            return stored
        keys = _photos(session, case_id)
    photos = _decrypted(store, keys)
    if not photos:
        return None
    measurement, image_id = best_measurement(photos, coin_mm)
    record = measurement_record(measurement, image_id, coin_mm)
    with transaction(factory) as session:
        found = session.get(Case, case_id)
        if found is not None and not (found.lesion_measurement or {}).get("photo"):
            found.lesion_measurement = {**(found.lesion_measurement or {}), "format": FORMAT, "photo": record}
    return record


def previous_visit(factory: sessionmaker[Session], lesion_id: int, case_id: int) -> int | None:
    with factory() as session:
        return session.scalar(select(Case.id).where(Case.lesion_id == lesion_id, Case.id < case_id,
                                                    Case.status.in_(VISIT_STATUSES)).order_by(Case.id.desc()).limit(1))


def measure_visit(factory: sessionmaker[Session], store: ImageStore, *, case_id: int, lesion_id: int,
                  coin_mm: float | None) -> VisitMeasurement:
    """Measure this visit's photos and compare them with the previous visit's. Never raises: a failure is recorded
    as the measurement's problem, and adds no finding."""
    try:
        with factory() as session:
            keys = _photos(session, case_id)
        measurement, image_id = best_measurement(_decrypted(store, keys), coin_mm)
        record: dict[str, Any] = {"format": FORMAT, "photo": measurement_record(measurement, image_id, coin_mm)}
        before_id = previous_visit(factory, lesion_id, case_id)
        before_record = stored_or_measured(factory, store, before_id, coin_mm) if before_id else None
        before = measurement_of(before_record)
        if before_id is None or before is None or before_record is None:
            record["previous_case_id"] = before_id
            return VisitMeasurement(record, ())
        change = _said(compare_lesions(_comparable(before, before_record, coin_mm), measurement), coin_mm is None)
        record.update(previous_case_id=before_id, change=change_record(change))
        return VisitMeasurement(record, change_findings(change))
    except Exception as exc:  # a measurement must never cost the patient their answer
        log.warning("case %s: lesion measurement failed (%s); triaged without it", case_id, logs.describe(exc))
        return VisitMeasurement({"format": FORMAT, "problem": "measurement_failed"}, ())
