"""Small server-made SVG charts (no chart library to download on a slow connection)."""

from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup, escape

BAR = "#0b5cad"


def _fmt(value: float) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def hbars(
    rows: Sequence[tuple[str, float]], *, title: str, unit: str = "", width: int = 640
) -> Markup:
    """Horizontal bars, one per row (label, value), labelled with the value."""
    bar_h, gap, label_w = 18, 6, 190
    height = max(1, len(rows)) * (bar_h + gap) + 10
    top = max((v for _, v in rows), default=0) or 1
    room = width - label_w - 70
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'role="img" aria-label="{escape(title)}"><title>{escape(title)}</title>'
    ]
    for i, (label, value) in enumerate(rows):
        y = 5 + i * (bar_h + gap)
        w = max(1.0, room * value / top) if value else 0
        parts.append(
            f'<text x="{label_w - 6}" y="{y + 13}" text-anchor="end" font-size="12">'
            f"{escape(label[:24])}</text>"
            f'<rect x="{label_w}" y="{y}" width="{w:.1f}" height="{bar_h}" fill="{BAR}"/>'
            f'<text x="{label_w + w + 4:.1f}" y="{y + 13}" font-size="12">'
            f"{escape(_fmt(value))}{escape(unit)}</text>"
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def vbars(rows: Sequence[tuple[str, float]], *, title: str, width: int = 640) -> Markup:
    """Vertical bars (columns), one per row (label, value), e.g. views per week."""
    height, base, left = 220, 190, 10
    n = max(1, len(rows))
    slot = (width - left * 2) / n
    top = max((v for _, v in rows), default=0) or 1
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'role="img" aria-label="{escape(title)}"><title>{escape(title)}</title>',
        f'<line x1="{left}" y1="{base}" x2="{width - left}" y2="{base}" stroke="#9fb3c8"/>',
    ]
    for i, (label, value) in enumerate(rows):
        h = 160 * value / top
        x = left + i * slot + slot * 0.15
        w = slot * 0.7
        parts.append(
            f'<rect x="{x:.1f}" y="{base - h:.1f}" width="{w:.1f}" height="{h:.1f}" fill="{BAR}"/>'
            f'<text x="{x + w / 2:.1f}" y="{base - h - 4:.1f}" text-anchor="middle" '
            f'font-size="11">{escape(_fmt(value))}</text>'
            f'<text x="{x + w / 2:.1f}" y="{base + 16}" text-anchor="middle" font-size="11">'
            f"{escape(label)}</text>"
        )
    parts.append("</svg>")
    return Markup("".join(parts))
