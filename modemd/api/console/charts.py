"""Server-rendered SVG bar charts: one ``<rect>`` per bar carrying its number (``data-value``
and a ``<title>``), so a test, a screen reader and a person all read the same figure."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from markupsafe import Markup

from modemd.store.stats import DayCounts

__all__ = ["SERIES", "bar_chart"]

SERIES = (("sent", "#4c78a8"), ("delivered", "#54a24b"), ("failed", "#e45756"))
BAR_W, GAP, GROUP_GAP, HEIGHT, TOP, BOTTOM, LEFT = 9, 1, 8, 160, 14, 34, 34


def bar_chart(chart_id: str, title: str, groups: Sequence[DayCounts], short: int = 5) -> Markup:
    """A grouped bar chart of sent/delivered/failed per group (day or device)."""
    peak = max([1, *(getattr(g, name) for g in groups for name, _ in SERIES)])
    group_w = len(SERIES) * (BAR_W + GAP) + GROUP_GAP
    width = LEFT + max(1, len(groups)) * group_w + 4
    out = [
        f'<svg id="{escape(chart_id)}" class="chart" role="img" viewBox="0 0 {width} '
        f'{TOP + HEIGHT + BOTTOM}" width="{width}" height="{TOP + HEIGHT + BOTTOM}" '
        f'aria-label="{escape(title)}"><title>{escape(title)}</title>',
        f'<text x="2" y="{TOP + 4}" class="axis">{peak}</text>',
        f'<text x="2" y="{TOP + HEIGHT}" class="axis">0</text>',
        f'<line x1="{LEFT - 2}" y1="{TOP + HEIGHT}" x2="{width}" y2="{TOP + HEIGHT}" '
        'class="base"/>',
    ]
    for i, group in enumerate(groups):
        x0 = LEFT + i * group_w
        label = escape(group.label)
        out.append(f'<g class="group" data-label="{label}">')
        for j, (name, colour) in enumerate(SERIES):
            value = getattr(group, name)
            h = round(HEIGHT * value / peak)
            x = x0 + j * (BAR_W + GAP)
            out.append(
                f'<rect class="bar {name}" data-series="{name}" data-label="{label}" '
                f'data-value="{value}" x="{x}" y="{TOP + HEIGHT - h}" width="{BAR_W}" '
                f'height="{max(h, 0)}" fill="{colour}">'
                f"<title>{label} {name}: {value}</title></rect>"
            )
        tail = escape(group.label[-short:])
        out.append(f'<text x="{x0}" y="{TOP + HEIGHT + 12}" class="axis">{tail}</text></g>')
    out.append("</svg>")
    return Markup("".join(out))
