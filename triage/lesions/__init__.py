"""Lesion measurement for tracking one skin lesion over months, from phone photos. Pure: no I/O, clock or database.

`measure_lesion(photo, coin_diameter_mm=...)` finds, in one photo:
- the **outline**: the largest central region whose CIELAB colour differs from the surrounding skin (the median of
  the photo's outer ring), cut at Otsu's threshold on that colour distance, cleaned by morphology;
- its **area** and **longest diameter** (maximum Feret) in pixels and, when a silver-grey coin lies beside it and
  its diameter is given, in mm² and mm (the coin's long axis is its true diameter even when tilted);
- its **colour**: the 10th/50th/90th percentiles of lightness and the median a*, b*, all relative to the skin (so
  a change of light or white balance between visits largely cancels), the RMS spread of its colours, and the
  number of distinct colour clusters;
- its **border**: compactness (perimeter² / 4π·area, 1 for a circle) and solidity (area / convex hull area).

`compare_lesions(earlier, later)` and `track_lesion(photos)` say per feature `changed`, `unchanged` or `unknown`.

Uncertainty model. Every number is an `Estimate`: a value and the half-width of a ~95 % band (two standard
uncertainties), rounded to what the band allows. A standard uncertainty adds, in quadrature:
- the **segmentation's**: the lesion is cut again at thresholds 15 % of its contrast either side of Otsu's; the
  spread of the three outlines (area, diameter, colour, shape) counts as four standard uncertainties, so a fuzzy
  border widens every band;
- the **scale's** (mm only): one pixel on the coin's diameter, half its apparent tilt (1 - minor/major axis), and
  2 % because the coin does not lie exactly in the lesion's plane;
- the **capture's**, which no single photo can show: 5 % on an area (2.5 % on a length) for the camera's angle,
  distance and the skin's curvature; 3 CIELAB units on a colour for the light; 0.04 on compactness and 0.015
  on solidity. These are plausible values for a hand-held phone, not measured ones.
A change is `changed` only beyond three standard uncertainties (1.5 times its band), `unchanged` within them.
It is `unknown` when a photo is unreadable or poor (the quality gate says too small, dark, bright or blurred),
no lesion stands out, or, for size, the lesion runs off a photo, either photo lacks a coin (pixels depend on the
camera's distance), or the size change is known no better than ±50 %.

Known failure modes: a lesion the colour of the skin around it (a skin-coloured papule, a scar) is not found; a
strong shadow, tan line, tattoo, pen mark or a second lesion near the centre can be taken for it or merged with
it; a lesion filling most of the photo leaves no skin to compare with; copper or gold coins are not recognised
as coins (only grey ones), and a grey round object (a button, a grey nevus on pale skin) can be; hair over the
lesion enlarges its colour spread; lighting colour changes larger than the floor (a warm lamp then daylight)
can read as a colour change. It measures what a photo shows, not depth or texture, and is no diagnosis.
"""

from triage.lesions.compare import FeatureChange, LesionChange, LesionTrack, compare_lesions, track_lesion
from triage.lesions.measure import Estimate, LesionMeasurement, measure_lesion

__all__ = ["Estimate", "FeatureChange", "LesionChange", "LesionMeasurement", "LesionTrack", "compare_lesions",
           "measure_lesion", "track_lesion"]
