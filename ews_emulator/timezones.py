"""The server's time zones as EWS describes them, and the availability service's own
zone format (Bias with StandardTime/DaylightTime rules), both built from the IANA rules of
each Windows zone id.

Exchange reads its zones from the Windows registry; the emulator has no registry, so each
Windows id is mapped to its IANA zone (exchangelib's table, as for recurring series) and
the transitions of the year asked for are read from the IANA data and written the way the
registry states them: "the Nth (or last) weekday of a month at a local time".
"""

from __future__ import annotations

import calendar
import datetime as dt
import functools
from dataclasses import dataclass
from zoneinfo import ZoneInfo

WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


@dataclass(frozen=True)
class Transition:
    """A yearly change of offset: in `month`, the `occurrence`-th `weekday` (-1: the last),
    at `minutes` after local midnight on the clock in force before it."""

    month: int
    weekday: int  # 0 = Monday
    occurrence: int
    minutes: int


@dataclass(frozen=True)
class Rule:
    """A zone's offsets in minutes east of UTC and, with daylight saving time, when each
    begins."""

    standard: int
    daylight: int | None = None
    to_daylight: Transition | None = None
    to_standard: Transition | None = None


def ms_zone_ids() -> list[str]:
    """The Windows zone ids the server knows (those exchangelib maps to IANA zones)."""
    from exchangelib.winzone import CLDR_TO_MS_TIMEZONE_MAP, MS_TIMEZONE_TO_IANA_MAP

    ids = {ms_id for ms_id, _ in CLDR_TO_MS_TIMEZONE_MAP.values()}
    return sorted(i for i in ids if i in MS_TIMEZONE_TO_IANA_MAP)


def _minutes(offset: dt.timedelta | None) -> int:
    return int((offset or dt.timedelta()).total_seconds() // 60)


def _transition(local_before: dt.datetime) -> Transition:
    day = local_before.day
    last_day = calendar.monthrange(local_before.year, local_before.month)[1]
    occurrence = -1 if day + 7 > last_day else (day - 1) // 7 + 1
    minutes = local_before.hour * 60 + local_before.minute
    return Transition(local_before.month, local_before.weekday(), occurrence, minutes)


@functools.lru_cache(maxsize=512)
def rule(ms_id: str, year: int) -> Rule:
    """The zone's rule in `year`: the offsets in force and the two changes of the year.
    A zone whose year has not exactly two changes (no DST, or a one-off change) is given
    the offset of the year's start as a zone without DST."""
    from exchangelib.winzone import MS_TIMEZONE_TO_IANA_MAP

    zone = ZoneInfo(MS_TIMEZONE_TO_IANA_MAP[ms_id])
    start = dt.datetime(year, 1, 1, tzinfo=dt.UTC)
    changes: list[tuple[dt.datetime, dt.timedelta, dt.timedelta]] = []
    previous = start.astimezone(zone).utcoffset()
    day = start
    while day.year == year:
        following = day + dt.timedelta(days=1)
        offset = following.astimezone(zone).utcoffset()
        if offset != previous:
            moment = day
            while moment < following:  # to the quarter hour within the day
                if (moment + dt.timedelta(minutes=15)).astimezone(zone).utcoffset() != previous:
                    break
                moment += dt.timedelta(minutes=15)
            changes.append((moment + dt.timedelta(minutes=15), previous, offset))  # type: ignore[arg-type]
            previous = offset
        day = following
    first = start.astimezone(zone)
    if len(changes) != 2:
        return Rule(standard=_minutes(first.utcoffset() - (first.dst() or dt.timedelta())))  # type: ignore[operator]
    rules: dict[str, Transition] = {}
    offsets: dict[str, int] = {}
    for moment, before, after in changes:
        kind = "daylight" if (moment.astimezone(zone).dst() or dt.timedelta()) else "standard"
        rules[kind] = _transition((moment + before).replace(tzinfo=None))
        offsets[kind] = _minutes(after)
    if set(rules) != {"daylight", "standard"}:
        return Rule(standard=_minutes(first.utcoffset()))
    return Rule(offsets["standard"], offsets["daylight"], rules["daylight"], rules["standard"])


def offset_name(minutes: int) -> str:
    sign = "-" if minutes < 0 else "+"
    hours, mins = divmod(abs(minutes), 60)
    return f"(UTC{sign}{hours:02d}:{mins:02d})"


def duration(minutes: int) -> str:
    """An xs:duration of whole minutes (`-PT60M`)."""
    return f"{'-' if minutes < 0 else ''}PT{abs(minutes)}M"


# -- the availability service's zone: Bias + StandardTime/DaylightTime ----------------------


@dataclass(frozen=True)
class SerializableZone:
    """ "TimeZone (Availability)": Bias (minutes west of UTC), and for each of standard and
    daylight time its extra Bias and when it begins (Time, DayOrder 1-5 with 5 the last,
    Month, DayOfWeek)."""

    bias: int
    standard_bias: int = 0
    daylight_bias: int = 0
    standard: Transition | None = None
    daylight: Transition | None = None

    def offset_at(self, local: dt.datetime) -> int:
        """Minutes east of UTC in force at naive local time `local`."""
        if self.standard is None or self.daylight is None:
            return -(self.bias + self.standard_bias)
        begins = _occurs(self.daylight, local.year)
        ends = _occurs(self.standard, local.year)
        in_daylight = begins <= local < ends if begins < ends else not ends <= local < begins
        return -(self.bias + (self.daylight_bias if in_daylight else self.standard_bias))

    def to_utc(self, local: dt.datetime) -> dt.datetime:
        return (local - dt.timedelta(minutes=self.offset_at(local))).replace(tzinfo=dt.UTC)

    def from_utc(self, moment: dt.datetime) -> dt.datetime:
        naive = moment.astimezone(dt.UTC).replace(tzinfo=None)
        guess = naive + dt.timedelta(minutes=-(self.bias + self.standard_bias))
        return naive + dt.timedelta(minutes=self.offset_at(guess))


def _occurs(transition: Transition, year: int) -> dt.datetime:
    first = dt.date(year, transition.month, 1)
    days = calendar.monthrange(year, transition.month)[1]
    matching = [
        first + dt.timedelta(days=i)
        for i in range(days)
        if (first + dt.timedelta(days=i)).weekday() == transition.weekday
    ]
    day = matching[-1] if transition.occurrence in (-1, 5) else matching[transition.occurrence - 1]
    return dt.datetime.combine(day, dt.time()) + dt.timedelta(minutes=transition.minutes)


def serializable(rule_: Rule) -> SerializableZone:
    if rule_.daylight is None:
        return SerializableZone(bias=-rule_.standard)
    return SerializableZone(
        bias=-rule_.standard,
        daylight_bias=rule_.standard - rule_.daylight,
        standard=rule_.to_standard,
        daylight=rule_.to_daylight,
    )
