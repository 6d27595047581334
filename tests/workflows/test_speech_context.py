"""Biasing names per reporter from the org tree (workflows.speech_context): nearest first, cached, rebuilt
when the org tree changes."""

from __future__ import annotations

from sqlalchemy import select

from storage.models import Household
from storage.orgtree import SAMPLE_DIR, import_org_dir
from workflows.cases import AudioIn
from workflows.speech_context import SpeechContext, reporter_names


def test_a_liaison_workers_names_start_with_their_own_households(sworld):
    with sworld.db.session() as s:
        names = reporter_names(s, sworld.org.person("P1111"))  # 扎西, 多卡村第一网格, households H111101-...
    # own households: heads and members, in file order (仁青's family first)
    assert names[:3] == ("仁青", "曲珍", "昂秀")
    at = names.index
    # then own places (grid, village, bare village name, township), then the grid's and village's people
    assert at("加措") < at("多卡村第一网格") < at("多卡村") < at("多卡") < at("扎西乡")
    assert at("扎西乡") < at("卓玛") and at("扎西乡") < at("王建国")  # co-worker, grid leader
    assert at("王建国") < at("陈志强")  # the township commander comes after the grid
    assert at("陈志强") < at("多卡村第二网格") < at("拉日村")  # neighbouring units after the officials
    assert at("扎西") == at("扎西乡") + 1  # the township's bare name; the reporter is not listed as a person
    assert "尕玛示范县" not in names  # the county's name is rarely said in a report
    assert len(names) == len(set(names)) and all(len(n) >= 2 for n in names)
    # people of another township never appear
    assert "多杰加" not in names and "曲隆村" not in names


def test_an_official_gets_their_unit_and_the_people_under_it(sworld):
    with sworld.db.session() as s:
        names = reporter_names(s, sworld.org.person("P100"))  # township commander of 扎西乡
    assert names[0] == "扎西乡"
    assert "王建国" in names and "扎西才让" in names  # the grid leaders of its villages
    assert "多卡村" in names and "拉日村" in names


def test_unknown_reporter_gets_no_names(sworld):
    with sworld.db.session() as s:
        assert reporter_names(s, 999_999) == ()


def test_cached_per_reporter_and_rebuilt_after_an_org_import(sworld, tmp_path):
    now = [0.0]
    context = SpeechContext(sworld.db, check_every_s=30, clock=lambda: now[0])
    worker = sworld.org.person("P1111")
    first = context.names(worker)
    assert context.names(worker) is first  # cached
    # an import (another process, say) renames a household head
    folder = tmp_path / "org"
    folder.mkdir()
    for name in ("units.csv", "people.csv", "households.csv", "members.csv"):
        text = (SAMPLE_DIR / name).read_text(encoding="utf-8-sig")
        if name == "households.csv":
            text = text.replace("H111102,加措,", "H111102,贡却加,")
        (folder / name).write_text(text, encoding="utf-8")
    with sworld.db.session() as s:
        import_org_dir(s, folder)
        assert s.scalars(select(Household.head_name).where(Household.code == "H111102")).one() == "贡却加"
    assert context.names(worker) is first  # not looked at again before check_every_s
    now[0] = 31.0
    fresh = context.names(worker)
    assert "贡却加" in fresh and fresh.index("贡却加") < fresh.index("多卡村")
    context.invalidate()
    assert context.names(worker) == fresh


def test_names_for_a_case_are_its_reporters(sworld):
    view = sworld.cases.file_report(
        sworld.org.person("P1212"), audio=AudioIn(content=b"OggS...", mime_type="audio/ogg")
    )
    context = SpeechContext(sworld.db)
    names = context.for_case(view.id)
    assert names == context.names(sworld.org.person("P1212"))
    assert "拉日村" in names[:40]
    assert context.for_case(123_456) == ()


class RecordingTranscriber:
    """Takes a bias like the faster-whisper backend does and records what it was given."""

    name = "recording"
    accepts_bias = True

    def __init__(self, biasing: bool = True, bias_names: bool = True) -> None:
        self.biasing = biasing
        self.bias_names = bias_names  # [transcription] names = true
        self.lexicon = ("羊圈", "牦牛")
        self.calls: list[tuple[str, object]] = []
        self.warmed = 0

    def warm_up(self) -> None:
        self.warmed += 1

    def transcribe(self, audio: bytes, language: str, bias=None):
        from transcription.base import Transcript

        self.calls.append((language, bias))
        return Transcript(text="二社的羊圈着火了", language=language, model=self.name)


async def test_the_voice_pipeline_biases_each_note_with_its_reporters_names_and_the_lexicon(sworld):
    from runtime.voice import TranscriptionPool, VoicePipeline

    zh = RecordingTranscriber()
    bo = RecordingTranscriber(biasing=False)  # the factory turns biasing off for Tibetan
    pool = TranscriptionPool({"zh": zh, "bo": bo})
    pipeline = VoicePipeline(sworld.cases, pool, kick=lambda: None, retry_delays=())
    await pipeline.resume_pending()
    try:
        view = sworld.cases.file_report(
            sworld.org.person("P1111"), audio=AudioIn(content=b"OggS-fake", mime_type="audio/ogg")
        )
        await pipeline.submit(view.id)
        await pipeline.wait_idle(timeout=10)
        assert zh.warmed == 1  # the model was loaded at start-up, before the first note
        [(language, bias)] = zh.calls
        assert language == "zh"
        assert bias.names[:3] == ("仁青", "曲珍", "昂秀") and bias.lexicon == ("羊圈", "牦牛")
        assert pool.bias("bo", ("仁青",)) is None
        assert sworld.cases.get_case(view.id, sworld.org.person("P1111")).text == "二社的羊圈着火了"
    finally:
        await pipeline.shutdown()


async def test_a_broken_name_lookup_never_stops_a_note(sworld):
    from runtime.voice import TranscriptionPool, VoicePipeline

    zh = RecordingTranscriber()

    def broken(case_id: int) -> tuple[str, ...]:
        raise RuntimeError("database gone")

    pipeline = VoicePipeline(
        sworld.cases, TranscriptionPool({"zh": zh}), kick=lambda: None, retry_delays=(), speech_context=broken
    )
    await pipeline.resume_pending()
    try:
        view = sworld.cases.file_report(
            sworld.org.person("P1111"), audio=AudioIn(content=b"OggS-fake", mime_type="audio/ogg")
        )
        await pipeline.submit(view.id)
        await pipeline.wait_idle(timeout=10)
        [(_, bias)] = zh.calls
        assert bias.names == () and bias.lexicon == ("羊圈", "牦牛")  # the county words still help
    finally:
        await pipeline.shutdown()


def test_the_officials_card_says_in_one_line_that_a_tibetan_transcript_is_a_stand_ins(sworld):
    """Tibetan stays honest: Whisper base's Tibetan text is a hint; the card tells the official to listen."""
    from bot.render import case_card
    from i18n import t

    worker = sworld.org.person("P2111")  # a Tibetan-speaking liaison worker of 曲隆村
    view = sworld.cases.file_report(worker, audio=AudioIn(content=b"OggS-bo", mime_type="audio/ogg"))
    routed = sworld.cases.attach_transcript(
        view.id, "ཕྱུགས་ནད།", model="faster-whisper:bo-fallback", language="bo", reliable=False
    )
    assert routed.needs_review and routed.state == "assigned"
    line = t("zh", "card.stand_in_speech")
    card = case_card("zh", routed)
    assert line in card and card.count("\n") >= 5 and len(line) < 40  # one short line
    assert t("bo", "card.stand_in_speech") in case_card("bo", routed)
    assert line not in case_card("zh", routed, for_official=False)  # the worker's echo stays plain
    # a Mandarin transcript from the trusted model: no such line
    zh = sworld.cases.file_report(
        sworld.org.person("P1111"), audio=AudioIn(content=b"OggS-zh", mime_type="audio/ogg")
    )
    assert line not in case_card(
        "zh", sworld.cases.attach_transcript(zh.id, "二社的羊圈着火了", language="zh")
    )


def test_names_stay_out_of_the_bias_unless_turned_on():
    """[transcription] names = false (the default, measured): only the county lexicon is handed over."""
    from runtime.voice import TranscriptionPool
    from transcription.factory import build_transcribers

    default = build_transcribers({})["zh"]
    pool = TranscriptionPool({"zh": default})
    bias = pool.bias("zh", ("仁青", "卓玛"))
    assert bias is not None and bias.names == () and "羊圈" in bias.lexicon
    pool.shutdown()
    pool = TranscriptionPool({"zh": build_transcribers({"names": True})["zh"]})
    assert pool.bias("zh", ("仁青", "卓玛")).names == ("仁青", "卓玛")
    pool.shutdown()
