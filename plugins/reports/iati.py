"""IATI activity file (IATI 2.03): the programme as one activity, its share-centers as
locations, and results with indicators (child visits, children reached, sessions held, online
views)
giving the baseline (everything before the period) and the period's actual value."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import msgspec

from hub import method
from hub.hookspecs import hookimpl
from hub.impact import Figures
from hub.reporter_base import ReporterBase
from hub.reporting import ReportData

XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
INDICATORS = [
    (
        "children_served",
        "Child visits in share-centers (check-in head counts; a child at ten classes is ten)",
        "共享中心线下服务儿童人次（签到人数之和）",
    ),
    (
        "children_reached",
        "Children reached (enrolment of the share-centers that held a class)",
        "覆盖儿童（举办课程的共享中心登记人数）",
    ),
    ("sessions_held", "Live sessions held", "直播课次"),
    ("online_views", "Online views (live and replay)", "线上观看（直播与回放）"),
    ("centers_active", "Share-centers active", "活跃共享中心"),
    (
        "volunteer_hours",
        "Volunteer teaching hours (on-air time and approved entries)",
        "志愿服务小时",
    ),
]


class IatiSettings(msgspec.Struct, forbid_unknown_fields=True):
    org_ref: str = "XI-SHAREHUB"
    """The reporting organisation's IATI identifier (e.g. CN-... from org-id.guide)."""
    org_name: str = "Sharehub"
    org_type: str = "22"
    """IATI OrganisationType code (22 = national NGO)."""
    activity_id: str = ""
    """The activity's IATI identifier; default ``<org_ref>-SHAREHUB``."""
    sector: str = "11220"
    """DAC 5-digit sector (11220 = primary education)."""
    monthly: bool = True


def _narrative(parent: ET.Element, tag: str, zh: str, en: str, **attrs: str) -> ET.Element:
    element = ET.SubElement(parent, tag, attrs)
    ET.SubElement(element, "narrative").text = zh
    ET.SubElement(element, "narrative", {XML_LANG: "en"}).text = en
    return element


class IatiActivity(ReporterBase):
    name = "iati_activity"
    label = "IATI 2.03 活动文件（XML） IATI 2.03 activity file (XML)"
    media_type = "application/xml"
    extension = "xml"
    settings_model = IatiSettings

    def render(self, data: ReportData, options: IatiSettings) -> bytes:
        now = datetime.now(UTC).replace(microsecond=0).isoformat()
        root = ET.Element("iati-activities", {"version": "2.03", "generated-datetime": now})
        activity = ET.SubElement(
            root,
            "iati-activity",
            {"last-updated-datetime": now, XML_LANG: "zh", "default-currency": "CNY"},
        )
        ET.SubElement(activity, "iati-identifier").text = (
            options.activity_id or f"{options.org_ref}-SHAREHUB"
        )
        org = ET.SubElement(
            activity, "reporting-org", {"ref": options.org_ref, "type": options.org_type}
        )
        ET.SubElement(org, "narrative").text = options.org_name
        _narrative(
            activity, "title", f"{data.programme} 共享课堂", f"{data.programme} live classes"
        )
        _narrative(
            activity,
            "description",
            "城市公立学校教师为乡村共享中心免费直播授课。",
            "Public-school teachers in the city give free live classes to rural share-centers.",
            type="1",
        )
        partner = ET.SubElement(
            activity,
            "participating-org",
            {"role": "4", "type": options.org_type, "ref": options.org_ref},
        )
        ET.SubElement(partner, "narrative").text = options.org_name
        ET.SubElement(activity, "activity-status", {"code": "2"})
        ET.SubElement(
            activity, "activity-date", {"type": "1", "iso-date": data.period.start.isoformat()}
        )
        ET.SubElement(activity, "recipient-country", {"code": "CN", "percentage": "100"})
        for center in data.by_group["center"].groups:
            if not center.checked_in:
                continue
            location = ET.SubElement(activity, "location", {"ref": f"share-center-{center.key}"})
            ET.SubElement(location, "location-reach", {"code": "1"})
            name = ET.SubElement(location, "name")
            ET.SubElement(name, "narrative").text = center.label
            ET.SubElement(location, "location-class", {"code": "3"})
        ET.SubElement(activity, "sector", {"vocabulary": "1", "code": options.sector})
        link = ET.SubElement(
            activity,
            "document-link",
            {"format": "text/html", "url": data.public_url.rstrip("/") + method.METHOD_PATH},
        )
        _narrative(link, "title", "各项数字如何计算", "How each figure is counted")
        ET.SubElement(link, "category", {"code": "A08"})  # results, outcomes and outputs
        ET.SubElement(link, "language", {"code": "zh"})
        ET.SubElement(link, "language", {"code": "en"})
        self._results(activity, data)
        ET.indent(root)
        return ET.tostring(root, encoding="utf-8", xml_declaration=True)

    def _results(self, activity: ET.Element, data: ReportData) -> None:
        actual: Figures = data.impact.totals
        base: Figures | None = data.baseline.totals if data.baseline else None
        base_day = data.baseline.period_end if data.baseline else data.period.start
        for name, en, zh in INDICATORS:
            result = ET.SubElement(activity, "result", {"type": "1", "aggregation-status": "1"})
            _narrative(result, "title", zh, en)
            indicator = ET.SubElement(result, "indicator", {"measure": "1", "ascending": "1"})
            _narrative(indicator, "title", zh, en)
            ET.SubElement(
                indicator,
                "baseline",
                {
                    "year": str(base_day.year),
                    "iso-date": base_day.isoformat(),
                    "value": _value(getattr(base, name) if base else 0),
                },
            )
            period = ET.SubElement(indicator, "period")
            ET.SubElement(period, "period-start", {"iso-date": data.period.start.isoformat()})
            ET.SubElement(period, "period-end", {"iso-date": data.period.end.isoformat()})
            ET.SubElement(period, "actual", {"value": _value(getattr(actual, name))})


def _value(value: float) -> str:
    """An indicator value: counts as they are, hours with at most two decimals (0, 3.5)."""
    if isinstance(value, float):
        return f"{value:.2f}".rstrip("0").rstrip(".")
    return str(value)


@hookimpl
def register_reporters(register: Callable[[Any], None]) -> None:
    register(IatiActivity())
