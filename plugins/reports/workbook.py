"""Impact workbook: XLSX with a summary sheet of the headline figures and a chart, the
figures by province, center, teacher, course and month, and the attendance detail."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import msgspec
import xlsxwriter

from hub import method
from hub.exports import DATETIME_FORMAT, TIME_COLUMNS, Dataset, local_datetime
from hub.hookspecs import hookimpl
from hub.impact import FIGURE_NAMES, Impact
from hub.reporter_base import ReporterBase
from hub.reporting import FIGURE_LABELS, ReportData
from hub.sheetcells import WORKBOOK_OPTIONS, write_cells

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


class ImpactWorkbook(ReporterBase):
    name = "impact_workbook"
    label = "影响力工作簿（XLSX） Impact workbook (XLSX)"
    media_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    extension = "xlsx"
    settings_model = WorkbookSettings
    needs_detail = True

    def render(self, data: ReportData, options: WorkbookSettings) -> bytes:
        out = io.BytesIO()
        # every text cell with write_string: a course named "=1+2" stays text
        book = xlsxwriter.Workbook(out, {"in_memory": True, **WORKBOOK_OPTIONS})
        when = book.add_format({"num_format": DATETIME_FORMAT})
        day_format = book.add_format({"num_format": "yyyy-mm-dd"})
        bold = book.add_format({"bold": True})
        title = book.add_format({"bold": True, "font_size": 16})
        percent = book.add_format({"num_format": "0.0%"})

        def value_format(name: str) -> Any:
            return percent if name == "attendance_rate" else None

        summary = book.add_worksheet("概览 Summary")
        summary.set_column(0, 0, 28)
        summary.set_column(1, 1, 30)
        summary.set_column(2, 2, 14)
        summary.write_string(0, 0, f"{data.programme} 影响力报告 Impact report", title)
        summary.write_string(
            1, 0, f"{data.period.start} – {data.period.end} ({data.period.tz.key})"
        )
        write_cells(summary, 3, ["指标", "Figure", "数值 Value"], bold)
        totals = msgspec.to_builtins(data.impact.totals)
        for i, name in enumerate(FIGURE_NAMES):
            zh, en = FIGURE_LABELS[name]
            write_cells(summary, 4 + i, [zh, en])
            value = totals[name]
            if value is None:
                summary.write_blank(4 + i, 2, None)
            else:
                summary.write_number(4 + i, 2, value, value_format(name))

        def table(sheet_name: str, first: list[str], rows: list[tuple[list[Any], Any]]) -> Any:
            sheet = book.add_worksheet(sheet_name)
            write_cells(sheet, 0, [*first, *(_header(n) for n in FIGURE_NAMES)], bold)
            sheet.freeze_panes(1, len(first))
            sheet.set_column(0, len(first) + len(FIGURE_NAMES), 14)
            for r, (keys, figures) in enumerate(rows, start=1):
                values = msgspec.to_builtins(figures)
                write_cells(sheet, r, [str(k) for k in keys])
                for c, name in enumerate(FIGURE_NAMES, start=len(first)):
                    if values[name] is not None:
                        sheet.write_number(r, c, values[name], value_format(name))
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
        write_cells(detail, 0, data.attendance_headers, bold)
        times = TIME_COLUMNS[Dataset.attendance]
        detail.freeze_panes(1, 0)
        detail.set_column(0, len(data.attendance_headers) - 1, 16)
        for r, row in enumerate(data.attendance, start=1):
            cells = list(row)
            for c in times:
                cells[c] = local_datetime(cells[c])
            write_cells(detail, r, cells, None, None, when)
        if data.attendance_truncated:
            detail.write_string(
                len(data.attendance) + 1, 0, "… 更多行请用导出 (more rows: use the export)"
            )
        lessons = book.add_worksheet("课次记录 Lessons by center and term")
        write_cells(
            lessons,
            0,
            [
                "学期 Term",
                "开始 From",
                "结束 To",
                "共享中心 Center",
                "省 Province",
                "预约 Booked",
                "到课 Attended",
                "仅屏幕观看 Screen only",
                "缺席 Absent",
                "到课小时 Hours attended",
            ],
            bold,
        )
        lessons.set_column(0, 9, 14)
        for r, ct in enumerate(data.lessons, start=1):
            write_cells(
                lessons,
                r,
                [ct.term, ct.term_start, ct.term_end, ct.center, ct.province, ct.booked,
                 ct.attended, ct.screen_only, ct.absent, ct.hours],
                None,
                day_format,
            )  # fmt: skip
        annex = book.add_worksheet("计算方法 Method")
        annex.set_column(0, 1, 24)
        annex.set_column(2, 3, 70)
        write_cells(annex, 0, [method.HEADINGS["title"][0], method.HEADINGS["title"][1]], title)
        write_cells(annex, 1, [data.public_url.rstrip("/") + method.METHOD_PATH])
        write_cells(annex, 3, ["名称", "Name", "定义", "Definition"], bold)
        for r, line in enumerate(method.annex_rows(), start=4):
            write_cells(annex, r, list(line))
        book.close()
        return out.getvalue()


@hookimpl
def register_reporters(register: Callable[[Any], None]) -> None:
    register(ImpactWorkbook())
