"""A teacher's basic volunteer information (个人基本信息) and dated awards (表彰奖励) and
evaluations (评价). The volunteer is identified by the volunteer number of the national or
city system; a national ID number (居民身份证号码) is refused wherever it would be stored."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Any

from hub.accounts import Principal
from hub.errors import Invalid
from hub.volunteer import audit
from hub.volunteer.ledger import admin_needed, may_see, teacher_exists
from hub.volunteer.tables import RecordKind, VolunteerProfile, VolunteerRecord

ID_NUMBER = re.compile(
    r"(?<![0-9])[1-9][0-9]{5}(18|19|20)[0-9]{2}[01][0-9][0-3][0-9]{4}[0-9Xx](?![0-9])"
)
"""The shape of an 18-digit resident ID number: area code, birth date, sequence, check digit."""
FIELDS = ("volunteer_number", "organisation", "organisation_contact")


def refuse_id_number(value: str, field_name: str) -> None:
    """400 when ``value`` holds something shaped like a national ID number."""
    compact = re.sub(r"[\s-]", "", value)
    if ID_NUMBER.search(compact):
        raise Invalid(
            "this looks like a national ID number, which the hub never stores: "
            "give the volunteer number of the volunteer system instead",
            field=field_name,
        )


async def profile(teacher_id: int) -> dict[str, Any]:
    row = (
        await VolunteerProfile.select()
        .where(VolunteerProfile.teacher_id == teacher_id)
        .first()
        .run()
    )
    return {k: (row[k] if row else "") for k in FIELDS}


async def change_profile(
    who: Principal, teacher_id: int, changes: dict[str, str]
) -> dict[str, Any]:
    """The teacher or an administrator sets the volunteer number and the organisation."""
    await teacher_exists(teacher_id)
    may_see(who, teacher_id)
    for name, value in changes.items():
        refuse_id_number(value, name)
    before = await profile(teacher_id)
    after = {**before, **{k: v.strip() for k, v in changes.items()}}
    if after == before:
        return after
    now = datetime.now(UTC)
    exists = await VolunteerProfile.exists().where(VolunteerProfile.teacher_id == teacher_id).run()
    if exists:
        await (
            VolunteerProfile.update({**after, "updated_at": now})
            .where(VolunteerProfile.teacher_id == teacher_id)
            .run()
        )
    else:
        await VolunteerProfile.insert(VolunteerProfile(teacher_id=teacher_id, **after)).run()
    await audit.append(
        who.user_id, "profile.change", "profile", teacher_id, teacher_id, before, after
    )
    return after


async def add_record(
    who: Principal, teacher_id: int, kind: RecordKind, day: date, title: str, issuer: str
) -> int:
    """An administrator records a dated award or evaluation."""
    admin_needed(who)
    await teacher_exists(teacher_id)
    if not title.strip():
        raise Invalid("say what the award or evaluation is", field="title")
    refuse_id_number(title, "title")
    values: dict[str, Any] = {
        "teacher_id": teacher_id,
        "kind": kind.value,
        "day": day,
        "title": title.strip(),
        "issuer": issuer.strip(),
        "recorded_by": who.user_id,
    }
    rows = await VolunteerRecord.insert(VolunteerRecord(**values)).run()
    record_id = int(rows[0]["id"])
    await audit.append(
        who.user_id, f"{kind.value}.add", "record", record_id, teacher_id, None, values
    )
    return record_id


async def records(teacher_id: int | None = None) -> list[dict[str, Any]]:
    query = VolunteerRecord.select().order_by(VolunteerRecord.day).order_by(VolunteerRecord.id)
    if teacher_id is not None:
        query = query.where(VolunteerRecord.teacher_id == teacher_id)
    return list(await query.run())
