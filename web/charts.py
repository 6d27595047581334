"""PNG charts of a jurisdiction's statistics, drawn on the server with matplotlib (Agg, no display).

Why on the server, as pictures: county networks are often offline and phones old; a PNG needs no script and
no chart library from the internet, is the same on the console's statistics page and in Telegram (``/stats``
sends it), and can be saved or forwarded. Tibetan needs shaping (stacked consonants): matplotlib 3.11 lays text
out with HarfBuzz (libraqm), and the console ships Noto Serif Tibetan (OFL), so labels in bo render; Chinese
comes from the system's Noto CJK (``fonts-noto-cjk``), with a fallback list of common CJK fonts.

Imports nothing of the bot or of Starlette, so the bot's ``/stats`` can use it too.
"""

from __future__ import annotations

import io
import threading
from pathlib import Path
from typing import Any

from i18n import label, t

TIBETAN_FONT = Path(__file__).with_name("static") / "fonts" / "NotoSerifTibetan-Regular.ttf"
#: Tried in order for each glyph (matplotlib's font fallback): Latin and CJK first, Tibetan for U+0F00-0FFF.
FAMILIES = ["Noto Sans CJK SC", "Noto Sans CJK JP", "Noto Sans SC", "WenQuanYi Zen Hei", "Droid Sans Fallback",
            "Noto Serif Tibetan", "DejaVu Sans"]
URGENCY_COLOURS = {"urgent": "#c62828", "priority": "#ef6c00", "general": "#546e7a"}
_LOCK = threading.Lock()  # pyplot's state machine is not thread-safe; charts are drawn one at a time
_READY = False


def _setup() -> Any:
    global _READY
    import matplotlib

    matplotlib.use("Agg", force=True)
    from matplotlib import font_manager

    if not _READY:
        if TIBETAN_FONT.is_file():
            font_manager.fontManager.addfont(str(TIBETAN_FONT))
        known = {f.name for f in font_manager.fontManager.ttflist}
        if not known & set(FAMILIES[:5]):
            known |= _add_system_cjk_fonts(font_manager)
        matplotlib.rcParams["font.family"] = [f for f in FAMILIES if f in known] or ["DejaVu Sans"]
        matplotlib.rcParams["axes.unicode_minus"] = False
        _READY = True
    from matplotlib.figure import Figure

    return Figure


#: File names of CJK fonts Debian/Ubuntu install (fonts-noto-cjk, fonts-wqy-zenhei, fonts-droid-fallback).
_CJK_FILES = ("NotoSansCJK", "NotoSerifCJK", "wqy-zenhei", "DroidSansFallback", "SourceHanSans")


def _add_system_cjk_fonts(font_manager: Any) -> set[str]:
    """matplotlib keeps its list of system fonts in a cache (~/.cache/matplotlib) written the first time it
    runs; a CJK font installed afterwards (as ``lianhu run`` tells operators to do) is not in it, and every
    Chinese label would stay an empty box. Look for the font files themselves and add them."""
    for path in font_manager.findSystemFonts():
        if any(key in Path(path).name for key in _CJK_FILES) and "Bold" not in Path(path).name:
            try:
                font_manager.fontManager.addfont(path)
            except (OSError, RuntimeError, ValueError):  # an unreadable file: skip it, the others may do
                continue
    return {f.name for f in font_manager.fontManager.ttflist}


def _locator() -> Any:
    from matplotlib.ticker import MaxNLocator

    return MaxNLocator


#: What to tell an operator whose machine has no Chinese font (charts would show empty boxes for Chinese).
NO_CJK_FONT = ("Charts: no Chinese font on this machine, so Chinese labels in the PNG charts would be empty boxes; "
               "install one: sudo apt-get install fonts-noto-cjk (the pages themselves use the browser's fonts).")


def cjk_font_missing() -> bool:
    """True when none of the CJK fonts charts look for is installed (Tibetan ships with the console)."""
    return not any(f in FAMILIES[:5] for f in font_families())


def font_families() -> list[str]:
    """The fonts charts will use (for `lianhu check` and the tests)."""
    _setup()
    import matplotlib

    return list(matplotlib.rcParams["font.family"])


def _png(fig: Any) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    return buf.getvalue()


def units_chart(stats: Any, lang: str, *, title: str | None = None) -> bytes:
    """Open and overdue cases now per township (or village when there is one township), with on-time rates."""
    with _LOCK:
        Figure = _setup()
        MaxNLocator = _locator()
        rows = stats.townships if len(stats.townships) > 1 else (stats.villages or stats.townships)
        rows = rows[:15]
        fig = Figure(figsize=(8, max(2.6, 0.5 * len(rows) + 1.4)))
        ax = fig.subplots()
        names = [r.label for r in rows][::-1]
        opened = [r.opened for r in rows][::-1]
        open_now = [r.open_now for r in rows][::-1]
        overdue = [r.overdue_now for r in rows][::-1]
        y = range(len(rows))
        ax.barh([i + 0.27 for i in y], opened, height=0.27, color="#90a4ae", label=t(lang, "web.stats.opened"))
        ax.barh(list(y), open_now, height=0.27, color="#1e88e5", label=t(lang, "web.stats.open_now"))
        ax.barh([i - 0.27 for i in y], overdue, height=0.27, color="#c62828", label=t(lang, "web.stats.overdue_now"))
        ax.set_yticks(list(y), names)
        for i, r in enumerate(rows[::-1]):
            rate = r.on_time_rate
            if rate is not None:
                ax.annotate(f"{t(lang, 'web.stats.on_time_rate')} {rate * 100:.0f}%", (max(r.opened, r.open_now), i),
                            xytext=(6, 0), textcoords="offset points", va="center", fontsize=8, color="#37474f")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # cases are whole numbers
        ax.set_title(title or t(lang, "web.stats.chart_units"))
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), borderaxespad=0, fontsize=8)  # beside, not on, the bars
        ax.spines[["top", "right"]].set_visible(False)
        if not rows:
            ax.text(0.5, 0.5, t(lang, "web.stats.nothing"), ha="center", va="center", transform=ax.transAxes)
        return _png(fig)


def weeks_chart(stats: Any, lang: str, by: str = "urgency") -> bytes:
    """Cases reported per week, stacked by urgency (or by the six largest categories)."""
    with _LOCK:
        Figure = _setup()
        MaxNLocator = _locator()
        fig = Figure(figsize=(8, 3.4))
        ax = fig.subplots()
        labels = [w.strftime("%m-%d") for w in stats.weeks]
        x = list(range(len(labels)))
        bottom = [0] * len(x)
        if by == "urgency":
            series = [(label(lang, "urgency", u), counts, URGENCY_COLOURS.get(u)) for u, counts in stats.by_urgency.items()]
        else:
            items = list(stats.by_category.items())
            top, rest = items[:6], items[6:]
            series = [(label(lang, "category", c), counts, None) for c, counts in top]
            if rest:
                series.append((t(lang, "web.stats.other_categories"),
                               [sum(col) for col in zip(*(c for _, c in rest), strict=False)], "#bdbdbd"))
        for name, counts, colour in series:
            ax.bar(x, counts, bottom=bottom, label=name, color=colour)
            bottom = [b + c for b, c in zip(bottom, counts, strict=False)]
        ax.set_xticks(x, labels, rotation=45, fontsize=8)
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_title(t(lang, "web.stats.chart_weeks_" + ("urgency" if by == "urgency" else "category")))
        if series:
            ax.legend(fontsize=8, ncols=min(4, len(series)))
        ax.spines[["top", "right"]].set_visible(False)
        return _png(fig)


def summary_line(stats: Any, lang: str) -> str:
    """One line for Telegram under the ``/stats`` picture."""
    tot = stats.total
    rate = "—" if tot.on_time_rate is None else f"{tot.on_time_rate * 100:.0f}%"
    return t(lang, "web.stats.summary", opened=tot.opened, open_now=tot.open_now, overdue=tot.overdue_now, rate=rate,
             weeks=len(stats.weeks))
