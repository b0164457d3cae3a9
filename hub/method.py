"""How each figure is counted: the one text behind ``/impact/method``, the README section, the
annex of the workbook and printable reports, and the link in the IATI file.

Each entry is (figure name, Chinese name, English name, Chinese definition, English
definition); ``RULES`` are the view rules and ``NOT_COUNTED`` what no figure counts.
"""

from __future__ import annotations

METHOD_PATH = "/impact/method"

FIGURES: list[tuple[str, str, str, str, str]] = [
    (
        "centers_active",
        "活跃共享中心",
        "Share-centers active",
        "在报告期内至少签到一次的共享中心数。",
        "Share-centers that checked in to at least one class of the period.",
    ),
    (
        "teachers_taught",
        "授课教师",
        "Teachers who taught",
        "报告期内已举办课次的不同教师数。",
        "Distinct teachers of the period's held sessions.",
    ),
    (
        "sessions_held",
        "直播课次",
        "Live sessions held",
        "在报告期内开始、状态为直播中、已结束或已归档的课次；取消的课次从不计入。",
        "Sessions starting in the period whose status is live, ended or archived; cancelled "
        "sessions never count.",
    ),
    (
        "online_views",
        "线上观看",
        "Online views",
        "直播与回放观看之和；观看的计数规则见下。",
        "Live plus replay views; see the view rules below.",
    ),
    (
        "center_screen_views",
        "中心屏幕观看",
        "Center-screen views",
        "已登录共享中心屏幕的观看（每个中心算一位观众；教室里的儿童只按签到人数计）。",
        "Views from signed-in share-center screens (one viewer per center; the children in the "
        "room are counted only by the check-in head count).",
    ),
    (
        "unique_viewers",
        "独立观众",
        "Unique viewers",
        "报告期内有计数观看的不同观众（浏览器的随机编号，只存其加密散列）。",
        "Distinct viewers (a browser's random id, stored only as a keyed hash) with a counted view "
        "in the period.",
    ),
    (
        "peak_concurrent",
        "最高同时在线",
        "Peak concurrent viewers",
        "报告期内各课次最高同时在线人数中的最大值（30 秒内发过信标的观众）。",
        "The highest peak of the period's sessions (viewers seen within 30 s).",
    ),
    (
        "children_served",
        "线下服务儿童人次",
        "Child visits",
        "共享中心签到时填写的到场儿童人数之和；一名儿童上十节课计十人次。",
        "The check-in head counts added up; a child at ten classes is ten visits.",
    ),
    (
        "children_reached",
        "覆盖儿童",
        "Children reached",
        "报告期内签到过的共享中心登记的儿童人数（报告期最后一天有效的登记，保留历史）之和。",
        "The enrolment (in effect on the period's last day; its history is kept) of the "
        "share-centers that checked in during the period.",
    ),
    (
        "attendance_rate",
        "到课率",
        "Center-attendance rate",
        "已签到的预约 ÷ 已举办且已结束课次的预约；尚未举办或正在直播的课次不算缺席。",
        "Checked-in bookings / bookings of held sessions whose slot has ended; a class not yet "
        "held or on air now is not counted as missed.",
    ),
    (
        "teaching_hours",
        "授课小时",
        "Teaching hours",
        "已举办课次的实际推流时长，未知时取排定时长。",
        "Per held session the actual stream time, else the scheduled length.",
    ),
    (
        "volunteer_hours",
        "志愿服务小时",
        "Volunteer hours",
        "教师志愿服务记录中计入的小时：已举办课次从开播到下课的时长（以排定时间前后各加宽限为限，彩排不计），"
        "加上经批准的备课、培训、送教条目与更正；不含路途时间。",
        "Hours counted in the teachers' volunteer records: each held class from going live to "
        "its end (within its slot widened by the grace; rehearsals not counted), plus approved "
        "preparation, training and teaching-visit entries and corrections; travel never counts.",
    ),
    (
        "volunteers_active",
        "有服务记录的志愿教师",
        "Volunteer teachers active",
        "报告期内有计入志愿服务小时的教师数。",
        "Teachers with counted volunteer hours in the period.",
    ),
    (
        "hours_watched",
        "观看小时",
        "Hours watched",
        "信标报告的观看秒数之和（直播、回放分列），归入观看当天（中心时区）。",
        "Seconds watched as reported by beacons (live and replay apart), on the local day watched.",
    ),
    (
        "regions",
        "覆盖省份与县",
        "Provinces and counties reached",
        "签到过的共享中心所在的不同省份与县。",
        "Distinct provinces and counties of the share-centers that checked in.",
    ),
    (
        "by_center",
        "按中心与按省份",
        "By center and by province",
        "按中心或省份分组时：该中心（省份内各中心）的预约与签到，观看只计其中心屏幕的观看。"
        "按中心或省份筛选的观看统计导出列出这些中心预约的课次的全部观看。",
        "Grouped by center or province: that center's (the province's centers') bookings and "
        "check-ins, and as views only its center-screen views. The views export filtered by "
        "center or province lists all the views of the sessions those centers booked.",
    ),
]

FIGURES.append(
    (
        "lessons",
        "课次记录",
        "Lesson delivery record",
        "每个已举办课次的每个预约中心一行：教师在线分钟、是否签到、到场儿童人次、中心屏幕观看分钟；"
        "既未签到也无屏幕观看的预约中心记为缺席。按中心按学期汇总预约、到课、缺席与到课小时。",
        "One row per booked center of each held session: the teacher's on-air minutes, "
        "check-in, child visits, center-screen minutes; a booked center with neither a check-in "
        "nor a screen is absent. Rolled up per center per term: booked, attended, absent, hours.",
    )
)

RULES: list[tuple[str, str]] = [
    (
        "一次观看：同一观众在一个时间窗内累计观看达到阈值（默认 10 秒），且服务器在至少相隔该阈值的"
        "两次以上信标中见到它；信标声称的秒数本身不构成观看。",
        "A view: a viewer has watched the threshold (10 s by default) within one window and the "
        "server saw it in two or more beacons at least that far apart; what a beacon claims never "
        "makes a view on its own.",
    ),
    (
        "每位观众每节课每个时间窗（默认 6 小时，从中心时区午夜起算，不跨午夜）最多计一次；"
        "观看、观众与秒数都归入获得它的当地日期。",
        "At most once per viewer per session per window (6 h by default, from local midnight in "
        "the hub's zone, never across it); a view, its viewer and its seconds belong to the local "
        "day they were earned.",
    ),
    (
        "同一地址每分钟的新观众编号有上限；被拒绝和可疑的信标计入监控指标。",
        "New viewer ids per client address per minute are limited; refused and suspect beacons "
        "are counted in the metrics.",
    ),
]

NOT_COUNTED: list[tuple[str, str]] = [
    (
        "取消的课次、未达到阈值的观看、重复发送的信标、被拒绝的信标。",
        "Cancelled sessions, watching below the threshold, resent beacons, refused beacons.",
    ),
    (
        "共享中心屏幕前的儿童不按观看计（只按签到人数）。",
        "Children in front of a share-center screen are not counted as views (only by check-in).",
    ),
    (
        "没有登记儿童人数的共享中心不计入覆盖儿童。",
        "Share-centers with no enrolment recorded add nothing to children reached.",
    ),
]


def sections(language: str) -> dict[str, list[tuple[str, str]]]:
    """The text in one language (``zh`` or ``en``): figures as (name, definition), rules and
    what is not counted as ("", text)."""
    zh = language.startswith("zh")
    return {
        "figures": [(f[1], f[3]) if zh else (f[2], f[4]) for f in FIGURES],
        "rules": [("", r[0] if zh else r[1]) for r in RULES],
        "not_counted": [("", n[0] if zh else n[1]) for n in NOT_COUNTED],
    }


HEADINGS = {
    "title": ("各项数字如何计算", "How each figure is counted"),
    "figures": ("指标定义", "Figures"),
    "rules": ("观看规则", "View rules"),
    "not_counted": ("不计入的内容", "What is not counted"),
}


def annex_rows() -> list[tuple[str, str, str, str]]:
    """Every line of the annex, both languages: (Chinese heading, English heading, Chinese
    text, English text)."""
    rows = [(f[1], f[2], f[3], f[4]) for f in FIGURES]
    rows += [(HEADINGS["rules"][0], HEADINGS["rules"][1], r[0], r[1]) for r in RULES]
    rows += [
        (HEADINGS["not_counted"][0], HEADINGS["not_counted"][1], n[0], n[1]) for n in NOT_COUNTED
    ]
    return rows
