"""A small document model rendered twice: Markdown (report.md, plots as files beside it) and a self-contained
HTML page (report.html, plots embedded as PNG data URLs). One list of blocks, so the two never disagree."""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass


@dataclass(frozen=True)
class Heading:
    level: int
    text: str


@dataclass(frozen=True)
class Paragraph:
    text: str


@dataclass(frozen=True)
class Items:
    lines: tuple[str, ...]


@dataclass(frozen=True)
class Table:
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


@dataclass(frozen=True)
class Picture:
    """A PNG plot; ``file`` is its name in the report folder, where report.md links to it."""

    file: str
    alt: str
    png: bytes


Block = Heading | Paragraph | Items | Table | Picture


def to_markdown(blocks: list[Block]) -> str:
    """Return the blocks as Markdown."""
    out: list[str] = []
    for block in blocks:
        if isinstance(block, Heading):
            out.append(f"{'#' * block.level} {block.text}")
        elif isinstance(block, Paragraph):
            out.append(block.text)
        elif isinstance(block, Items):
            out.append("\n".join(f"- {line}" for line in block.lines))
        elif isinstance(block, Table):
            lines = [_md_row(block.header), "|" + "---|" * len(block.header)]
            lines += [_md_row(row) for row in block.rows]
            out.append("\n".join(lines))
        else:
            out.append(f"![{block.alt}]({block.file})")
    return "\n\n".join(out) + "\n"


def to_html(blocks: list[Block], title: str) -> str:
    """Return the blocks as one self-contained HTML page (no external file, script or style sheet)."""
    body: list[str] = []
    for block in blocks:
        if isinstance(block, Heading):
            body.append(f"<h{block.level}>{html.escape(block.text)}</h{block.level}>")
        elif isinstance(block, Paragraph):
            body.append(f"<p>{html.escape(block.text)}</p>")
        elif isinstance(block, Items):
            body.append("<ul>" + "".join(f"<li>{html.escape(line)}</li>" for line in block.lines) + "</ul>")
        elif isinstance(block, Table):
            head = "".join(f"<th>{html.escape(cell)}</th>" for cell in block.header)
            rows = "".join(
                "<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in row) + "</tr>" for row in block.rows
            )
            body.append(f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>")
        else:
            data = base64.b64encode(block.png).decode("ascii")
            body.append(f'<p><img alt="{html.escape(block.alt)}" src="data:image/png;base64,{data}"></p>')
    style = (
        "body{font-family:sans-serif;max-width:75em;margin:2em auto;padding:0 1em;color:#222}"
        "table{border-collapse:collapse;margin:1em 0;font-size:90%}"
        "th,td{border:1px solid #ccc;padding:.25em .5em;text-align:left}th{background:#f3f3f3}"
    )
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        f"<style>{style}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n"
    )


def _md_row(cells: tuple[str, ...]) -> str:
    return "| " + " | ".join(cell.replace("|", "\\|").replace("\n", " ") for cell in cells) + " |"
