"""The status as one HTML page: per project, a calendar of days, and the hours of recent days.

Years of hours fit on a screen: each month is a row with a cell per day, coloured by the day's
rows and marked where hours are missing, failed or rejected lines; months with nothing loaded
at all collapse into one row. Only the most recent days (or a chosen range) show their hours,
a row per day and a cell per hour; their day cells link down to them. Hovering any cell shows
its numbers. The page is static (no script, no request), so it can be mailed, attached to a
ticket or served from the lake's folder.
"""

from __future__ import annotations

import html
import math
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from loader.amplitude.hour_status import HourStatus, hour_figures

#: The days whose hours the page shows when no range is chosen: the last two weeks.
DETAIL_DAYS = 14

_STYLE = """
body { font: 14px system-ui, sans-serif; margin: 24px; color: #1f2328; }
h1 { font-size: 20px; } h2 { font-size: 16px; margin-top: 28px; }
h3 { font-size: 13px; font-weight: 600; margin: 14px 0 0; }
.summary span { margin-right: 18px; }
table.calendar { border-collapse: separate; border-spacing: 2px; margin-top: 6px;
  table-layout: fixed; }
table.calendar th { font-weight: normal; font-size: 11px; color: #57606a; padding: 0 6px 0 0;
  text-align: left; white-space: nowrap; }
table.calendar th.hh { width: 14px; max-width: 14px; padding: 0; overflow: visible; }
.h { width: 14px; height: 14px; border-radius: 2px; padding: 0; }
.h a { display: block; width: 100%; height: 100%; }
.loaded { background: hsl(145, 55%, calc(88% - var(--v) * 55%)); }
.empty { background: #e8f3ec; }
.partial { background: repeating-linear-gradient(45deg, hsl(145, 55%, 62%),
  hsl(145, 55%, 62%) 3px, #d0d7de 3px, #d0d7de 5px); }
.missing { background: repeating-linear-gradient(45deg, #f6f8fa, #f6f8fa 3px, #d0d7de 3px,
  #d0d7de 5px); }
.failed { background: #cf222e; }
.rejects { box-shadow: inset 0 0 0 2px #bf8700; }
.none { background: transparent; }
td.gap { font-size: 11px; color: #57606a; background: #f6f8fa; padding: 0 6px; }
.legend span.h { display: inline-block; vertical-align: middle; margin: 0 4px 0 14px; }
.legend span.h:first-child { margin-left: 0; }
"""


@dataclass
class _Day:
    """One day's hours, summed."""

    hours: dict[int, HourStatus] = field(default_factory=dict)

    def count(self, state: str) -> int:
        return sum(1 for h in self.hours.values() if h.state == state)

    @property
    def rows(self) -> int:
        return sum(h.rows for h in self.hours.values())

    @property
    def rejects(self) -> int:
        return sum(h.rejects for h in self.hours.values())

    @property
    def state(self) -> str:
        """`failed` if an hour failed, else `missing` (all), `partial` (some), `loaded`, `empty`."""
        missing = self.count("missing")
        if self.count("failed"):
            return "failed"
        if missing == len(self.hours):
            return "missing"
        if missing:
            return "partial"
        return "loaded" if self.rows else "empty"


def _shade(rows: int, top: int) -> str:
    share = math.log1p(rows) / math.log1p(top) if top else 0.0
    return f' style="--v:{share:.2f}"'


def _hour_cell(status: HourStatus, top_rows: int) -> str:
    classes = ["h", status.state, *(["rejects"] if status.rejects else [])]
    style = _shade(status.rows, top_rows) if status.state == "loaded" else ""
    words = {
        "loaded": f"{status.rows:,} rows, {status.rejects:,} rejected",
        "empty": f"no events, {status.rejects:,} rejected",
        "missing": "not loaded",
        "failed": "failed: too many rejects (see `status`)",
    }[status.state]
    title = html.escape(f"{status.hour:%Y-%m-%d %H}:00 UTC: {words}")
    return (
        f'<td class="{" ".join(classes)}"{style} title="{title}"'
        f' data-hour="{status.hour:%Y-%m-%dT%H}" data-rows="{status.rows}"'
        f' data-rejects="{status.rejects}"></td>'
    )


def _day_cell(day: date, summed: _Day, top_rows: int, anchor: str | None) -> str:
    state = summed.state
    classes = ["h", state, *(["rejects"] if summed.rejects else [])]
    style = _shade(summed.rows, top_rows) if state == "loaded" else ""
    loaded = summed.count("loaded") + summed.count("empty")
    title = html.escape(
        f"{day:%Y-%m-%d}: {loaded} hour(s) loaded ({summed.count('empty')} without events),"
        f" {summed.count('missing')} missing, {summed.count('failed')} failed;"
        f" {summed.rows:,} rows, {summed.rejects:,} rejected"
        + ("; click for its hours" if anchor else "")
    )
    link = f'<a href="#{anchor}"></a>' if anchor else ""
    return (
        f'<td class="{" ".join(classes)}"{style} title="{title}" data-day="{day:%Y-%m-%d}"'
        f' data-missing="{summed.count("missing")}">{link}</td>'
    )


def _months(days: dict[date, _Day], detail: set[date], prefix: str) -> str:
    """A row per month, a cell per day; runs of months with nothing loaded share one row."""
    months: dict[tuple[int, int], list[date]] = defaultdict(list)
    for day in sorted(days):
        months[(day.year, day.month)].append(day)
    top = max((d.rows for d in days.values()), default=0)
    header = "".join(
        f'<th class="hh">{n}</th>' if n in (1, 10, 20, 30) else '<th class="hh"></th>'
        for n in range(1, 32)
    )
    rows = [f"<tr><th></th>{header}</tr>"]
    keys = sorted(months)
    i = 0
    while i < len(keys):
        run = i
        while run < len(keys) and all(days[d].state == "missing" for d in months[keys[run]]):
            run += 1
        if run - i >= 2:  # two months or more with nothing loaded: one row
            first, last = months[keys[i]][0], months[keys[run - 1]][-1]
            missing = sum(len(days[d].hours) for k in keys[i:run] for d in months[k])
            rows.append(
                f'<tr><th>{first:%Y-%m} .. {last:%Y-%m}</th><td class="gap" colspan="31"'
                f' data-from="{first:%Y-%m-%d}" data-to="{last:%Y-%m-%d}">nothing loaded:'
                f" {run - i} months, {missing:,} hours missing</td></tr>"
            )
            i = run
            continue
        year, month = keys[i]
        held = {d.day: d for d in months[keys[i]]}
        cells = "".join(
            _day_cell(held[n], days[held[n]], top, f"{prefix}{held[n]:%Y-%m-%d}")
            if n in held and held[n] in detail
            else _day_cell(held[n], days[held[n]], top, None)
            if n in held
            else '<td class="h none"></td>'
            for n in range(1, 32)
        )
        rows.append(f"<tr><th>{year}-{month:02d}</th>{cells}</tr>")
        i += 1
    return f'<table class="calendar months">{"".join(rows)}</table>'


def _hours(days: dict[date, _Day], detail: list[date], prefix: str) -> str:
    """A row per day of `detail`, a cell per hour."""
    top = max((h.rows for d in detail for h in days[d].hours.values()), default=0)
    header = "".join(
        f'<th class="hh">{h:02d}</th>' if h % 3 == 0 else '<th class="hh"></th>' for h in range(24)
    )
    rows = [f"<tr><th></th>{header}</tr>"]
    for day in detail:
        hours = days[day].hours
        cells = "".join(
            _hour_cell(hours[h], top) if h in hours else '<td class="h none"></td>'
            for h in range(24)
        )
        rows.append(f'<tr id="{prefix}{day:%Y-%m-%d}"><th>{day:%Y-%m-%d}</th>{cells}</tr>')
    return f'<table class="calendar hours">{"".join(rows)}</table>'


def _summary(hours: list[HourStatus]) -> str:
    parts = [f"<span>{value:,} {name}</span>" for name, value in hour_figures(hours).items()]
    return f'<p class="summary">{"".join(parts)}</p>'


def _legend() -> str:
    items = [
        ("loaded", "--v:0.2", "few rows"),
        ("loaded", "--v:1", "many rows"),
        ("empty", "", "no events"),
        ("loaded rejects", "--v:0.5", "with rejected lines"),
        ("partial", "", "some hours missing"),
        ("missing", "", "missing"),
        ("failed", "", "failed"),
    ]
    swatches = "".join(
        f'<span class="h {kind}" style="{style}"></span>{label}' for kind, style, label in items
    )
    return f'<p class="legend">{swatches}</p>'


def _detail_days(
    days: dict[date, _Day], hours_from: date | None, hours_to: date | None
) -> list[date]:
    """The days whose hours are shown: the chosen range, or the last `DETAIL_DAYS`."""
    if not days:
        return []
    last = hours_to or max(days)
    first = hours_from or max(min(days), last - timedelta(days=DETAIL_DAYS - 1))
    return [d for d in sorted(days) if first <= d <= last]


def _section(
    label: str, hours: list[HourStatus], hours_from: date | None, hours_to: date | None
) -> str:
    days: dict[date, _Day] = defaultdict(_Day)
    for status in hours:
        days[status.hour.date()].hours[status.hour.hour] = status
    prefix = "p" + "".join(c if c.isalnum() else "-" for c in label) + "-"
    detail = _detail_days(days, hours_from, hours_to)
    span = (
        f"{hours[0].hour:%Y-%m-%d %H}:00 .. {hours[-1].hour:%Y-%m-%d %H}:00 UTC"
        if hours
        else "nothing wanted yet: no start configured and nothing loaded"
    )
    shown = (
        f"<h3>Hours of {detail[0]:%Y-%m-%d} .. {detail[-1]:%Y-%m-%d}</h3>"
        f"{_hours(days, detail, prefix)}"
        if detail
        else ""
    )
    calendar = f"<h3>Days</h3>{_months(days, set(detail), prefix)}" if days else ""
    return (
        f'<section class="project"><h2>project {html.escape(label)}</h2>'
        f"<p>{span}</p>{_summary(hours)}{calendar}{shown}</section>"
    )


def status_page(
    projects: list[tuple[str, list[HourStatus]]],
    *,
    generated: datetime,
    hours_from: date | None = None,
    hours_to: date | None = None,
) -> str:
    """Render the page.

    Args:
        projects: Each project's label and hours.
        generated: When the figures were read (shown on the page).
        hours_from: The first day whose hours are shown (default: `DETAIL_DAYS` before the
            last).
        hours_to: The last day whose hours are shown (default: the last wanted day).

    Returns:
        The HTML document.
    """
    sections = "".join(_section(label, hours, hours_from, hours_to) for label, hours in projects)
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>amplitude-loader status</title><style>{_STYLE}</style></head><body>"
        f"<h1>What is loaded</h1><p>Upload days and hours (UTC); read"
        f" {generated:%Y-%m-%d %H:%M} UTC. Hover a cell for its numbers; a day of the recent"
        f" weeks links to its hours.</p>{_legend()}{sections}</body></html>"
    )
