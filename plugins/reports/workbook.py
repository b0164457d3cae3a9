"""Impact workbook: XLSX with a summary sheet of the headline figures and a chart, the
figures by province, center, teacher, course and month, and the attendance detail."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import msgspec
import xlsxwriter

from hub.hookspecs import hookimpl
from hub.impact import FIGURE_NAMES, Impact
from hub.reporting import FIGURE_LABELS, ReportData

GROUP_SHEETS = {
    "province": "省份 Provinces",
    "center": "共享中心 Centers",
    "teacher": "教师 Teachers",
    "course": "课程 Courses",
}


class WorkbookSettings(msgspec.Struct, forbid_unknown_fields=True):
    monthly: bool = True
    """Make one every month (for the month before)."""


def _header(name: str) -> str:
    zh, en = FIGURE_LABELS[name]
    return f"{zh} {en}"


class ImpactWorkbook:
    name = "impact_workbook"
    label = "Impact workbook (XLSX)"
    media_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    extension = "xlsx"
    settings_model = WorkbookSettings
    needs_detail = True

    def render(self, data: ReportData, options: WorkbookSettings) -> bytes:
        out = io.BytesIO()
        book = xlsxwriter.Workbook(out, {"in_memory": True})
        bold = book.add_format({"bold": True})
        title = book.add_format({"bold": True, "font_size": 16})
        percent = book.add_format({"num_format": "0.0%"})

        def value_format(name: str) -> Any:
            return percent if name == "attendance_rate" else None

        summary = book.add_worksheet("概览 Summary")
        summary.set_column(0, 0, 28)
        summary.set_column(1, 1, 30)
        summary.set_column(2, 2, 14)
        summary.write(0, 0, f"{data.programme} 影响力报告 Impact report", title)
        summary.write(1, 0, f"{data.period.start} – {data.period.end} ({data.period.tz.key})")
        summary.write_row(3, 0, ["指标", "Figure", "数值 Value"], bold)
        totals = msgspec.to_builtins(data.impact.totals)
        for i, name in enumerate(FIGURE_NAMES):
            zh, en = FIGURE_LABELS[name]
            summary.write_row(4 + i, 0, [zh, en])
            value = totals[name]
            if value is None:
                summary.write_blank(4 + i, 2, None)
            else:
                summary.write(4 + i, 2, value, value_format(name))

        def table(sheet_name: str, first: list[str], rows: list[tuple[list[Any], Any]]) -> Any:
            sheet = book.add_worksheet(sheet_name)
            sheet.write_row(0, 0, [*first, *(_header(n) for n in FIGURE_NAMES)], bold)
            sheet.freeze_panes(1, len(first))
            sheet.set_column(0, len(first) + len(FIGURE_NAMES), 14)
            for r, (keys, figures) in enumerate(rows, start=1):
                values = msgspec.to_builtins(figures)
                sheet.write_row(r, 0, keys)
                for c, name in enumerate(FIGURE_NAMES, start=len(first)):
                    if values[name] is not None:
                        sheet.write(r, c, values[name], value_format(name))
            return sheet

        for group, sheet_name in GROUP_SHEETS.items():
            impact: Impact = data.by_group[group]
            table(
                sheet_name,
                ["编号 Key", "名称 Name"],
                [([g.key, g.label], g) for g in impact.groups],
            )

        months = data.monthly
        table("月度 Monthly", ["月份 Month"], [([m], impact.totals) for m, impact in months])
        if months:
            chart = book.add_chart({"type": "column"})
            col: Callable[[str], int] = lambda n: 1 + FIGURE_NAMES.index(n)  # noqa: E731
            for name in ("online_views", "children_served"):
                chart.add_series(
                    {
                        "name": _header(name),
                        "categories": ["月度 Monthly", 1, 0, len(months), 0],
                        "values": ["月度 Monthly", 1, col(name), len(months), col(name)],
                    }
                )
            chart.set_title({"name": "线上观看与线下儿童 Online views and children served"})
            chart.set_size({"width": 720, "height": 360})
            summary.insert_chart(3, 4, chart)

        detail = book.add_worksheet("签到明细 Attendance")
        detail.write_row(0, 0, data.attendance_headers, bold)
        detail.freeze_panes(1, 0)
        detail.set_column(0, len(data.attendance_headers) - 1, 16)
        for r, row in enumerate(data.attendance, start=1):
            detail.write_row(r, 0, row)
        if data.attendance_truncated:
            detail.write(
                len(data.attendance) + 1, 0, "… 更多行请用导出 (more rows: use the export)"
            )
        book.close()
        return out.getvalue()


@hookimpl
def register_reporters(register: Callable[[Any], None]) -> None:
    register(ImpactWorkbook())
