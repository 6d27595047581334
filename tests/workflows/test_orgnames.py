"""The org tree's names for triage masking (workflows.orgnames), and the triage inputs the case engine passes:
names attached to the classifier, ``source="speech"`` for voice transcripts."""

from __future__ import annotations

from sqlalchemy import select

from storage.models import Household, HouseholdMember
from workflows.cases import AudioIn, CaseService
from workflows.orgnames import OrgNames, name_variants
from workflows.triage import default_classifier
from workflows.triage.base import DEFAULT_CATEGORIES, TriageResult

from .conftest import ROUTING


def test_name_variants_cover_bare_unit_names_and_halves_of_tibetan_names():
    assert {"多卡村第一网格", "多卡村", "多卡"} <= name_variants("多卡村第一网格", unit=True)
    assert name_variants("才让多杰") == {"才让多杰", "才让", "多杰"}
    assert name_variants("王丽") == {"王丽"}
    assert name_variants("李") == set()  # one character is a word far more often than a name


def test_org_names_lists_people_households_and_units_and_sees_a_change(sworld):
    now = [0.0]
    names = OrgNames(sworld.db, check_every_s=30, clock=lambda: now[0])
    first = names.names()
    assert {"仁青", "加措", "扎西乡", "扎西", "多卡村", "李明"} <= first
    with sworld.db.session() as s:
        members = {m.name for m in s.scalars(select(HouseholdMember))}
    assert members and {n for n in members if len(n) >= 2} <= first  # members.csv names too
    with sworld.db.session() as s:
        s.scalars(select(Household).where(Household.code == "H111101")).one().head_name = "贡却加"
    assert names.names() is first  # cached: no query before check_every_s
    now[0] = 31.0
    changed = names.names()
    assert "贡却加" in changed
    names.invalidate()
    assert names.names() == changed


def test_case_engine_attaches_org_names_to_the_shipped_classifier(sworld):
    clf = default_classifier()
    CaseService(sworld.db, sworld.clock, clf, None, ROUTING)
    # 仁青 is a household head of the sample county: masked like any name
    plain = clf.classify("家里着火了，快来人", "zh")
    named = clf.classify("仁青家里着火了，快来人", "zh")
    assert (plain.urgency, plain.category) == (named.urgency, named.category) == ("urgent", "safety")
    assert not any("仁青" in c.text for c in named.cues)


class SourceRecorder:
    """Records the ``source`` the case engine passes."""

    name = "recorder"
    categories = DEFAULT_CATEGORIES

    def __init__(self) -> None:
        self.sources: list[str] = []

    def classify(self, text: str, language: str, *, source: str = "text") -> TriageResult:
        self.sources.append(source)
        return TriageResult("general", "other", 0.5)


def test_voice_transcripts_are_triaged_as_speech_and_typed_reports_as_text(sworld):
    recorder = SourceRecorder()
    service = CaseService(sworld.db, sworld.clock, recorder, None, ROUTING)
    service.file_report(sworld.id("P1111"), text="村里的路坏了")
    audio = AudioIn(b"OggS-fake-opus", mime_type="audio/ogg", duration_s=3.0, telegram_file_id="F9")
    voice = service.file_report(sworld.id("P1111"), audio=audio, source_key="tg:v:9")
    service.attach_transcript(voice.id, "二社的洋剑着火了", model="whisper-base", language="zh")
    assert recorder.sources == ["text", "speech"]


def test_a_classifier_without_source_still_works(sworld):
    """The KeywordClassifier of these tests (and an operator's own) takes no ``source``: it is not passed."""
    audio = AudioIn(b"OggS-fake-opus", mime_type="audio/ogg", duration_s=3.0, telegram_file_id="F10")
    voice = sworld.cases.file_report(sworld.id("P1111"), audio=audio, source_key="tg:v:10")
    routed = sworld.cases.attach_transcript(voice.id, "家里着火了", model="whisper-base", language="zh")
    assert routed.urgency == "urgent"
