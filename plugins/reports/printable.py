"""Printable impact report: one HTML page (Chinese, English or both) with server-made SVG
charts and print styles, ready for "print to PDF". No JavaScript."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Literal

import jinja2
import msgspec
from markupsafe import Markup, escape

from hub import method
from hub.hookspecs import hookimpl
from hub.impact import FIGURE_NAMES
from hub.reporter_base import ReporterBase
from hub.reporting import FIGURE_LABELS, ReportData

HEADLINE = [
    "centers_active",
    "teachers_taught",
    "sessions_held",
    "online_views",
    "unique_viewers",
    "children_served",
    "children_reached",
    "teaching_hours",
    "volunteer_hours",
    "provinces_reached",
]
TEXT = {
    "title": ("影响力报告", "Impact report"),
    "period": ("报告期", "Period"),
    "headline": ("主要数字", "Headline figures"),
    "all": ("全部指标", "All figures"),
    "monthly": ("每月线上观看", "Online views per month"),
    "children_by_province": ("各省线下服务儿童人次", "Child visits by province"),
    "provinces": ("各省", "By province"),
    "teachers": ("教师", "By teacher"),
    "generated": ("生成时间", "Generated"),
    "note": (
        "线上观看按每位观众每节课每个时间窗计一次；线下儿童人次为共享中心签到人数之和"
        "（一名儿童上十节课计十人次）；覆盖儿童为举办课程的共享中心登记的儿童人数。",
        "An online view counts once per viewer per session per window; child visits are the "
        "share-centers' check-in head counts added up (a child at ten classes is ten visits); "
        "children reached is the enrolment the share-centers that held a class recorded.",
    ),
    "figure": ("指标", "Figure"),
    "value": ("数值", "Value"),
    "name": ("名称", "Name"),
}


class PrintableSettings(msgspec.Struct, forbid_unknown_fields=True):
    language: Literal["zh", "en", "both"] = "both"
    monthly: bool = True


def _number(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:,.1f}"
    return f"{value:,}"


def bar_chart(items: Sequence[tuple[str, float]], width: int = 640, bar: int = 22) -> Markup:
    """A horizontal bar chart as inline SVG (labels escaped)."""
    if not items:
        return Markup("")
    top = max(v for _, v in items) or 1
    label_w, gap = 150, 6
    height = len(items) * (bar + gap) + gap
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" class="chart">'
    ]
    for i, (label, value) in enumerate(items):
        y = gap + i * (bar + gap)
        w = max(1.0, (width - label_w - 80) * value / top)
        parts.append(
            f'<text x="{label_w - 6}" y="{y + bar * 0.7:.1f}" text-anchor="end" '
            f'font-size="12">{escape(label)}</text>'
            f'<rect x="{label_w}" y="{y}" width="{w:.1f}" height="{bar}" fill="#2f7d5b"/>'
            f'<text x="{label_w + w + 6:.1f}" y="{y + bar * 0.7:.1f}" font-size="12">'
            f"{escape(_number(value))}</text>"
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def column_chart(items: Sequence[tuple[str, float]], width: int = 640, height: int = 220) -> Markup:
    """A column chart as inline SVG (one column per month)."""
    if not items:
        return Markup("")
    top = max(v for _, v in items) or 1
    base, left = height - 30, 10
    step = (width - 2 * left) / len(items)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" class="chart">',
        f'<line x1="{left}" y1="{base}" x2="{width - left}" y2="{base}" stroke="#888"/>',
    ]
    for i, (label, value) in enumerate(items):
        h = (base - 20) * value / top
        x = left + i * step + step * 0.15
        parts.append(
            f'<rect x="{x:.1f}" y="{base - h:.1f}" width="{step * 0.7:.1f}" height="{h:.1f}" '
            f'fill="#3b6ea8"/><text x="{x + step * 0.35:.1f}" y="{base - h - 4:.1f}" '
            f'font-size="11" text-anchor="middle">{escape(_number(value))}</text>'
            f'<text x="{x + step * 0.35:.1f}" y="{base + 16}" font-size="11" '
            f'text-anchor="middle">{escape(label)}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("hub.templates", "reports"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )


class PrintableReport(ReporterBase):
    name = "impact_printable"
    label = "可打印的影响力报告（HTML，中英文） Printable impact report (HTML, Chinese and English)"
    media_type = "text/html"  # the server adds the charset
    extension = "html"
    settings_model = PrintableSettings

    def render(self, data: ReportData, options: PrintableSettings) -> bytes:
        lang = options.language

        def t(pair: tuple[str, str]) -> str:
            return {"zh": pair[0], "en": pair[1]}.get(lang, f"{pair[0]} {pair[1]}")

        text: Callable[[str], str] = lambda key: t(TEXT[key])  # noqa: E731
        totals = msgspec.to_builtins(data.impact.totals)
        provinces = data.by_group["province"].groups
        teachers = data.by_group["teacher"].groups
        html = (
            environment()
            .get_template("impact.html")
            .render(
                lang="en" if lang == "en" else "zh",
                text=text,
                label=lambda name: t(FIGURE_LABELS[name]),
                number=_number,
                data=data,
                totals=totals,
                headline=HEADLINE,
                names=FIGURE_NAMES,
                provinces=provinces,
                teachers=teachers[:30],
                monthly_chart=column_chart(
                    [(m, impact.totals.online_views) for m, impact in data.monthly]
                ),
                province_chart=bar_chart([(g.label, g.children_served) for g in provinces]),
                annex_title=t(method.HEADINGS["title"]),
                annex=[
                    (t((zh_name, en_name)), t((zh_text, en_text)))
                    for zh_name, en_name, zh_text, en_text in method.annex_rows()
                ],
                method_url=data.public_url.rstrip("/") + method.METHOD_PATH,
            )
        )
        return html.encode()


@hookimpl
def register_reporters(register: Callable[[Any], None]) -> None:
    register(PrintableReport())
