"""PNG charts draw Chinese and Tibetan with real glyphs (no tofu boxes): matplotlib warns "Glyph ... missing
from font(s)" for every character no configured font covers, so a chart drawn without such a warning covers
its text. Needs a CJK font on the machine (fonts-noto-cjk); the Tibetan font ships with the console."""

from __future__ import annotations

import warnings

import pytest

from web import charts
from workflows.console.stats import CaseStats


def _families() -> list[str]:
    return charts.font_families()


@pytest.mark.skipif(not any("CJK" in f or "Hei" in f or "SC" in f for f in _families()),
                    reason="no CJK font on this machine: apt-get install fonts-noto-cjk (.ci/run does)")
@pytest.mark.parametrize("lang", ["zh", "bo", "en"])
def test_charts_cover_chinese_and_tibetan(world_stats, lang):
    assert "Noto Serif Tibetan" in _families()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        pngs = [charts.units_chart(world_stats, lang), charts.weeks_chart(world_stats, lang, "urgency"),
                charts.weeks_chart(world_stats, lang, "category")]
    missing = [str(w.message) for w in caught if "missing from font" in str(w.message)]
    assert missing == []
    assert all(p.startswith(b"\x89PNG") and len(p) > 5000 for p in pngs)
    assert charts.summary_line(world_stats, lang)


@pytest.fixture
def world_stats(database, sample_org):
    from runtime.config import BotConfig, Config, DatabaseConfig
    from runtime.wiring import build_services
    from workflows.ports import FakeClock

    services = build_services(Config(bot=BotConfig(), database=DatabaseConfig(url=database.url)), clock=FakeClock(),
                              db=database)
    for code, text in (("P1111", "路灯坏了"), ("P2111", "着火了 快来人"), ("P1211", "牛病了")):
        services.case_service.file_report(sample_org[code], text=text)
    stats = CaseStats(services.case_service).compute(sample_org["P002"], lang="bo")
    assert any("\u0f00" <= ch <= "\u0fff" for r in stats.townships for ch in r.label)  # Tibetan unit names
    return stats


def test_a_machine_without_a_chinese_font_is_told_once(monkeypatch) -> None:
    """`lianhu run` prints web.charts.NO_CJK_FONT when no CJK font is installed (charts would show boxes)."""
    from web import charts

    monkeypatch.setattr(charts, "font_families", lambda: ["Noto Serif Tibetan", "DejaVu Sans"])
    assert charts.cjk_font_missing() and "fonts-noto-cjk" in charts.NO_CJK_FONT
    monkeypatch.setattr(charts, "font_families", lambda: ["Noto Sans CJK SC", "Noto Serif Tibetan", "DejaVu Sans"])
    assert not charts.cjk_font_missing()


def test_a_chinese_font_installed_after_matplotlib_cached_its_list_is_found(monkeypatch) -> None:
    """matplotlib's font cache predates an `apt-get install fonts-noto-cjk`: charts still find the font."""
    from matplotlib import font_manager

    if not any("CJK" in p for p in font_manager.findSystemFonts()):
        pytest.skip("no CJK font file on this machine: apt-get install fonts-noto-cjk (.ci/run does)")
    stale = [f for f in font_manager.fontManager.ttflist if "CJK" not in f.name]  # as cached before the install
    monkeypatch.setattr(font_manager.fontManager, "ttflist", stale)
    monkeypatch.setattr(charts, "_READY", False)
    import matplotlib

    monkeypatch.setitem(matplotlib.rcParams, "font.family", ["DejaVu Sans"])
    assert any("CJK" in f for f in charts.font_families())
