"""Reading a letter back: its pages' text, where every character and image sits, and PNG renders to look at."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c

MM = 72 / 25.4  # PDF points per millimetre
# The letter's page margins (letter.css @page): nothing but the page number may sit outside them.
MARGIN_TOP, MARGIN_RIGHT, MARGIN_BOTTOM, MARGIN_LEFT = 18 * MM, 16 * MM, 20 * MM, 16 * MM
TOLERANCE = 1.0  # points: glyph boxes may overhang their advance a little


@dataclass
class Page:
    width: float
    height: float
    text: str
    char_boxes: list[tuple[float, float, float, float]]  # left, bottom, right, top
    image_boxes: list[tuple[float, float, float, float]]


def read(data: bytes) -> list[Page]:
    pdf = pdfium.PdfDocument(data)
    pages = []
    try:
        for page in pdf:
            width, height = page.get_size()
            textpage = page.get_textpage()
            boxes = [textpage.get_charbox(i) for i in range(textpage.count_chars())]
            images = [obj.get_bounds() for obj in page.get_objects(filter=[pdfium_c.FPDF_PAGEOBJ_IMAGE], max_depth=5)]
            pages.append(Page(width, height, textpage.get_text_range(), boxes, images))
            textpage.close()
            page.close()
    finally:
        pdf.close()
    return pages


def outside_the_margins(page: Page) -> list[tuple[float, float, float, float]]:
    """Character and image boxes that cross the page's side or top margins (the page number lives in the
    bottom margin, so the bottom check is the page's edge)."""
    right, top = page.width - MARGIN_RIGHT + TOLERANCE, page.height - MARGIN_TOP + TOLERANCE
    return [box for box in page.char_boxes + page.image_boxes
            if box[2] > box[0] and (box[0] < MARGIN_LEFT - TOLERANCE or box[2] > right or box[3] > top
                                    or box[1] < 0)]


def body_below_bottom_margin(page: Page) -> list[tuple[float, float, float, float]]:
    """Images that reach into the bottom margin (text there is only the page number, checked apart)."""
    return [box for box in page.image_boxes if box[1] < MARGIN_BOTTOM - TOLERANCE]


def render_png(data: bytes, prefix: Path, scale: float = 1.3) -> list[Path]:
    """Each page as a PNG `<prefix>-<n>.png`, for a person to look at."""
    pdf = pdfium.PdfDocument(data)
    paths = []
    try:
        for n, page in enumerate(pdf, 1):
            path = prefix.with_name(f"{prefix.name}-{n}.png")
            page.render(scale=scale).to_pil().save(path)
            paths.append(path)
            page.close()
    finally:
        pdf.close()
    return paths
