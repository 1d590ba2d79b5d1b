"""The status as one HTML page: per project, a calendar of upload hours (a day per row).

Each hour is a cell coloured by its rows (darker is more), outlined when lines were rejected,
and marked when it is missing or failed; hovering shows the numbers. The page is static (no
script, no request), so it can be mailed, attached to a ticket or served from the lake's folder.
"""

from __future__ import annotations

import html
import math
from collections import defaultdict
from datetime import date, datetime

from loader.amplitude.hour_status import HourStatus, hour_figures

_STYLE = """
body { font: 14px system-ui, sans-serif; margin: 24px; color: #1f2328; }
h1 { font-size: 20px; } h2 { font-size: 16px; margin-top: 28px; }
.summary span { margin-right: 18px; }
table.calendar { border-collapse: separate; border-spacing: 2px; margin-top: 8px;
  table-layout: fixed; }
table.calendar th { font-weight: normal; font-size: 11px; color: #57606a; padding: 0 6px 0 0;
  text-align: left; white-space: nowrap; }
table.calendar th.hh { width: 14px; max-width: 14px; padding: 0; overflow: visible; }
.h { width: 14px; height: 14px; border-radius: 2px; padding: 0; }
.loaded { background: hsl(145, 55%, calc(88% - var(--v) * 55%)); }
.empty { background: #e8f3ec; }
.missing { background: repeating-linear-gradient(45deg, #f6f8fa, #f6f8fa 3px, #d0d7de 3px,
  #d0d7de 5px); }
.failed { background: #cf222e; }
.rejects { box-shadow: inset 0 0 0 2px #bf8700; }
.none { background: transparent; }
.legend span.h { display: inline-block; vertical-align: middle; margin: 0 4px 0 14px; }
.legend span.h:first-child { margin-left: 0; }
"""


def _cell(status: HourStatus, top_rows: int) -> str:
    classes = ["h", status.state]
    style = ""
    if status.state == "loaded":
        share = math.log1p(status.rows) / math.log1p(top_rows) if top_rows else 0.0
        style = f' style="--v:{share:.2f}"'
    if status.rejects:
        classes.append("rejects")
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


def _calendar(hours: list[HourStatus]) -> str:
    by_day: dict[date, dict[int, HourStatus]] = defaultdict(dict)
    for status in hours:
        by_day[status.hour.date()][status.hour.hour] = status
    top = max((s.rows for s in hours), default=0)
    header = "".join(
        f'<th class="hh">{h:02d}</th>' if h % 3 == 0 else '<th class="hh"></th>' for h in range(24)
    )
    rows = [f"<tr><th></th>{header}</tr>"]
    for day in sorted(by_day):
        cells = "".join(
            _cell(by_day[day][h], top) if h in by_day[day] else '<td class="h none"></td>'
            for h in range(24)
        )
        rows.append(f"<tr><th>{day:%Y-%m-%d}</th>{cells}</tr>")
    return f'<table class="calendar">{"".join(rows)}</table>'


def _summary(hours: list[HourStatus]) -> str:
    parts = [f"<span>{value:,} {name}</span>" for name, value in hour_figures(hours).items()]
    return f'<p class="summary">{"".join(parts)}</p>'


def _legend() -> str:
    items = [
        ("loaded", "--v:0.2", "few rows"),
        ("loaded", "--v:1", "many rows"),
        ("empty", "", "no events"),
        ("loaded rejects", "--v:0.5", "with rejected lines"),
        ("missing", "", "missing"),
        ("failed", "", "failed"),
    ]
    swatches = "".join(
        f'<span class="h {kind}" style="{style}"></span>{label}' for kind, style, label in items
    )
    return f'<p class="legend">{swatches}</p>'


def status_page(projects: list[tuple[str, list[HourStatus]]], *, generated: datetime) -> str:
    """Render the page.

    Args:
        projects: Each project's label and hours.
        generated: When the figures were read (shown on the page).

    Returns:
        The HTML document.
    """
    sections = []
    for label, hours in projects:
        span = (
            f"{hours[0].hour:%Y-%m-%d %H}:00 .. {hours[-1].hour:%Y-%m-%d %H}:00 UTC"
            if hours
            else "nothing wanted yet: no start configured and nothing loaded"
        )
        sections.append(
            f'<section class="project"><h2>project {html.escape(label)}</h2>'
            f"<p>{span}</p>{_summary(hours)}{_calendar(hours)}</section>"
        )
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>amplitude-loader status</title><style>{_STYLE}</style></head><body>"
        f"<h1>What is loaded</h1><p>Upload hours (UTC), one day per row; read"
        f" {generated:%Y-%m-%d %H:%M} UTC. Hover a cell for its numbers.</p>{_legend()}"
        f"{''.join(sections)}</body></html>"
    )
