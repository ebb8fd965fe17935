"""The console's two pictures, as SVG made here (no chart library, nothing fetched by the
browser): the profile status diagram drawn from the ProfileStatus machine's own transitions
with one state marked, and a migration's finished devices over time."""
from __future__ import annotations

import math
from datetime import datetime
from html import escape

from esimflow.machines.profile_status import TRANSITIONS, Status

BOX_W, BOX_H = 108, 34
# where each state sits (column, row); which states and arrows exist comes from the machine
_PLACES = {
    Status.AVAILABLE: (0, 0), Status.DOWNLOADED: (1, 0), Status.INSTALLED: (2, 0), Status.ENABLED: (3, 0),
    Status.DISABLED: (4, 0), Status.DELETED: (4, 1.2), Status.EXPIRED: (0, 2), Status.CANCELED: (1, 2),
    Status.REMOVED: (2.3, 2.9),
}
_COLUMN, _ROW, _MARGIN = 180, 84, 24


def _center(status: Status) -> tuple[float, float]:
    column, row = _PLACES[status]
    return _MARGIN + BOX_W / 2 + column * _COLUMN, _MARGIN + BOX_H / 2 + row * _ROW


def _edges() -> list[tuple[str, Status, Status]]:
    """One arrow per (from, to), labelled with every trigger that makes that move."""
    found: dict[tuple[Status, Status], list[str]] = {}
    for transition in TRANSITIONS:
        sources = transition["source"] if isinstance(transition["source"], list) else [transition["source"]]
        for source in sources:
            if source != transition["dest"]:
                found.setdefault((Status(source), Status(transition["dest"])), []).append(transition["trigger"])
    return [(", ".join(triggers), source, dest) for (source, dest), triggers in found.items()]


def _border(center: tuple[float, float], toward: tuple[float, float], gap: float = 3) -> tuple[float, float]:
    """Where the line from a box's center toward a point leaves the box."""
    dx, dy = toward[0] - center[0], toward[1] - center[1]
    scale = min((BOX_W / 2 + gap) / abs(dx) if dx else math.inf, (BOX_H / 2 + gap) / abs(dy) if dy else math.inf)
    return center[0] + dx * scale, center[1] + dy * scale


def _hits_a_box(start, control, end, skip: set[Status]) -> bool:
    for status in _PLACES:
        if status in skip:
            continue
        cx, cy = _center(status)
        for step in range(1, 20):
            t = step / 20
            x = (1 - t) ** 2 * start[0] + 2 * (1 - t) * t * control[0] + t ** 2 * end[0]
            y = (1 - t) ** 2 * start[1] + 2 * (1 - t) * t * control[1] + t ** 2 * end[1]
            if abs(x - cx) < BOX_W / 2 + 4 and abs(y - cy) < BOX_H / 2 + 4:
                return True
    return False


def status_diagram(current: Status | str | None) -> str:
    edges = _edges()
    pairs = {(source, dest) for _, source, dest in edges}
    width = _MARGIN * 2 + BOX_W + 4 * _COLUMN
    height = _MARGIN * 2 + BOX_H + 2.9 * _ROW
    parts = [f'<svg class="status-diagram" viewBox="0 0 {width} {height}" role="img" '
             f'aria-label="profile status diagram, current status {escape(str(current or "unknown"))}">',
             '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
             'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z"/></marker></defs>']
    for trigger, source, dest in edges:
        start, end = _center(source), _center(dest)
        mid = ((start[0] + end[0]) / 2, (start[1] + end[1]) / 2)
        length = math.dist(start, end)
        normal = ((start[1] - end[1]) / length, (end[0] - start[0]) / length)
        bends = [14.0] if (dest, source) in pairs else [0.0]
        bends += [b for k in (40, 70, 100, 130) for b in (k, -k)]
        for bend in bends:
            control = (mid[0] + normal[0] * bend, mid[1] + normal[1] * bend)
            if not _hits_a_box(start, control, end, {source, dest}):
                break
        a, b = _border(start, control), _border(end, control)
        t = 0.3  # off the middle, so the labels of two crossing arrows do not meet
        label = ((1 - t) ** 2 * a[0] + 2 * (1 - t) * t * control[0] + t ** 2 * b[0],
                 (1 - t) ** 2 * a[1] + 2 * (1 - t) * t * control[1] + t ** 2 * b[1])
        parts.append(f'<path class="edge" d="M{a[0]:.1f},{a[1]:.1f} Q{control[0]:.1f},{control[1]:.1f} '
                     f'{b[0]:.1f},{b[1]:.1f}" marker-end="url(#arrow)"><title>{escape(trigger)}: {source} → {dest}'
                     f'</title></path>')
        parts.append(f'<text class="trigger" x="{label[0]:.1f}" y="{label[1] - 3:.1f}">{escape(trigger)}</text>')
    for status in _PLACES:
        x, y = _center(status)
        marked = " current" if current is not None and str(current) == status else ""
        parts.append(f'<g class="state{marked}" data-status="{status}"><rect x="{x - BOX_W / 2:.1f}" '
                     f'y="{y - BOX_H / 2:.1f}" width="{BOX_W}" height="{BOX_H}" rx="8"/>'
                     f'<text x="{x:.1f}" y="{y + 4:.1f}">{status}</text></g>')
    parts.append("</svg>")
    return "".join(parts)


def finishes_chart(finished_at: list[datetime], total: int, *, now: datetime) -> str:
    """Devices finished over time: a step line from the first finish to ``now``, the fleet size
    as the top of the scale."""
    width, height, left, bottom, top, right = 640, 180, 44, 26, 12, 12
    plot_w, plot_h = width - left - right, height - top - bottom
    times = sorted(finished_at)
    parts = [f'<svg class="finishes-chart" viewBox="0 0 {width} {height}" role="img" '
             f'aria-label="{len(times)} of {total} devices finished">',
             f'<line class="axis" x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}"/>',
             f'<line class="axis" x1="{left}" y1="{top}" x2="{left}" y2="{top + plot_h}"/>',
             f'<text class="tick" x="{left - 6}" y="{top + 4}" text-anchor="end">{total}</text>',
             f'<text class="tick" x="{left - 6}" y="{top + plot_h}" text-anchor="end">0</text>']
    if times:
        first = times[0].timestamp()
        span = max(now.timestamp() - first, 1.0)
        scale_y = plot_h / max(total, len(times), 1)
        points, count = [(left, top + plot_h)], 0
        for at in times:
            x = left + (at.timestamp() - first) / span * plot_w
            points.append((x, top + plot_h - count * scale_y))
            count += 1
            points.append((x, top + plot_h - count * scale_y))
        points.append((left + plot_w, top + plot_h - count * scale_y))
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
        parts.append(f'<polyline class="finishes" points="{path}"/>')
        parts.append(f'<text class="tick" x="{left}" y="{height - 6}">{times[0]:%H:%M:%S}</text>')
        parts.append(f'<text class="tick" x="{left + plot_w}" y="{height - 6}" text-anchor="end">{now:%H:%M:%S} UTC</text>')
    else:
        parts.append(f'<text class="tick" x="{left + plot_w / 2}" y="{top + plot_h / 2}" text-anchor="middle">'
                     'no device finished yet</text>')
    parts.append("</svg>")
    return "".join(parts)
