"""Every message kind a worker can send is a report or a clear answer (issue 10, finding 1), through the real
bot on the fake Bot API (real HTTP, real database on SQLite and PostgreSQL).

Photos, albums, documents, videos and places are stored with the case first; officials get them sent along
with the card (a place as a Telegram location they can open in their map app); a caption is the report's
text; media without words asks "what happened?" and the answer joins the same case. Stickers and contacts
get a short hint. Sample county: P1111 is a liaison worker in grid G010101 (village V0101), P110 its grid
leader, P016 the county's housing contact, P003/P004 the governance centre.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select

from storage.models import Attachment
from tests.bot.clips import png
from tests.bot.conftest import Harness
from tests.bot.test_case_loop import GENERAL, case_number

CRACK = "尼玛家房子墙裂了一道大缝，怕塌"


def attachments(h: Harness, case_id: int) -> list[Attachment]:
    with h.services.db.session() as s:
        rows = list(s.scalars(select(Attachment).where(Attachment.case_id == case_id).order_by(Attachment.id)))
        s.expunge_all()
        return rows


async def officials(h: Harness) -> dict[str, Any]:
    """Everyone a routine or urgent village report may reach, registered so they can be sent it."""
    return {code: await h.register(code) for code in ("P110", "P016", "P100", "P003", "P004")}


def owner_user(h: Harness, case_id: int, users: dict[str, Any]) -> Any:
    view = h.cases.get_case(case_id, h.person_id("P1111"))
    assert view.owner is not None, view
    code = next(code for code, pid in h.org.people.items() if pid == view.owner.id)
    return users[code]


async def test_photo_with_caption_is_a_case_and_its_owner_sees_the_photo(bot_harness: Harness) -> None:
    h = bot_harness
    worker = await h.register("P1111")
    users = await officials(h)
    photo = png(seed=1)
    await worker.send_photo(photo, caption=CRACK)
    receipt = await worker.wait_for_message(lambda m: "已记下" in m.content)
    case_id = case_number(receipt.content)
    assert CRACK in receipt.content  # the caption is the report, echoed back
    view = h.cases.get_case(case_id, h.person_id("P1111"))
    assert view.category == "housing" and view.text == CRACK
    [stored] = attachments(h, case_id)
    assert stored.kind == "photo" and bytes(stored.content) == photo  # kept with the case

    owner = owner_user(h, case_id, users)
    card = await owner.wait_for_message(lambda m: f"#{case_id}" in m.content and CRACK in m.content)
    assert "附件：📷 照片" in card.content
    sent = await owner.wait_for_message(lambda m: m.photo is not None)
    assert sent.photo == photo and f"#{case_id}" in sent.content
    assert sent.to_dict()["reply_to_message"]["message_id"] == card.message_id  # tied to its card


async def test_photo_without_words_asks_what_happened_and_the_answer_routes_it(bot_harness: Harness) -> None:
    h = bot_harness
    worker = await h.register("P1111")
    leader = await h.register("P110")
    photo = png(seed=2)
    await worker.send_photo(photo)
    question = await worker.wait_for_message()
    assert "发生了什么事" in question.content
    case_id = case_number(question.content)
    view = h.cases.get_case(case_id, h.person_id("P1111"))
    assert view.state == "reported" and view.media_kinds == ("photo",)  # stored before anyone answers
    await h.flush()
    assert not [m for m in leader.messages if f"#{case_id}" in m.content]  # nobody paged for a bare photo yet

    await worker.send_text(GENERAL)
    receipt = await worker.wait_for_message(lambda m: "已记下" in m.content)
    assert case_number(receipt.content) == case_id and GENERAL in receipt.content
    assert len(h.cases.ledger()) == 1  # the answer joined the photo's case, no second case
    card = await leader.wait_for_message(lambda m: f"#{case_id}" in m.content and GENERAL in m.content)
    assert "附件" in card.content
    assert (await leader.wait_for_message(lambda m: m.photo is not None)).photo == photo


async def test_a_bare_photo_nobody_explains_is_routed_after_the_wait(bot_harness: Harness) -> None:
    h = bot_harness
    worker = await h.register("P1111")
    leader = await h.register("P110")
    await worker.send_photo(png(seed=3))
    case_id = case_number((await worker.wait_for_message(lambda m: "发生了什么事" in m.content)).content)
    await h.due()
    assert h.cases.get_case(case_id, h.person_id("P1111")).state == "reported"  # still waiting for words
    h.clock.advance(timedelta(minutes=11))
    await h.due()
    view = h.cases.get_case(case_id, h.person_id("P110"))
    assert view.state == "assigned" and view.needs_review and view.urgency == "priority"
    card = await leader.wait_for_message(lambda m: f"#{case_id}" in m.content)
    assert "附件：📷 照片" in card.content and "需要核对" in card.content
    assert (await leader.wait_for_message(lambda m: m.photo is not None)).photo is not None
    told = await worker.wait_for_message(lambda m: f"#{case_id}" in m.content)
    assert "只有照片或位置" in told.content

    await worker.send_text("是加措家的牛棚顶被雪压塌了")  # a late answer still joins the same case
    await worker.wait_for_message(lambda m: f"#{case_id}" in m.content)
    assert "牛棚" in (h.cases.get_case(case_id, h.person_id("P110")).text or "")
    assert len(h.cases.ledger()) == 1


async def test_an_album_is_one_case_with_all_its_photos(bot_harness: Harness) -> None:
    h = bot_harness
    worker = await h.register("P1111")
    users = await officials(h)
    photos = [png(seed=10 + i) for i in range(3)]
    await worker.send_album(photos, caption=CRACK)
    receipt = await worker.wait_for_message(lambda m: "已记下" in m.content)
    case_id = case_number(receipt.content)
    await h.fake.wait_for(lambda: len(attachments(h, case_id)) == 3, message="all three photos on one case")
    assert sorted(bytes(a.content) for a in attachments(h, case_id)) == sorted(photos)
    assert len(h.cases.ledger()) == 1
    assert not [m for m in worker.messages if "发生了什么事" in m.content]  # the caption said it
    owner = owner_user(h, case_id, users)
    await owner.wait_for_message(lambda m: f"#{case_id}" in m.content and CRACK in m.content)

    def got() -> list[bytes]:
        return sorted(m.photo for m in owner.messages if m.photo is not None)

    # however the album's messages raced (the caption may route the case before the other photos are in),
    # the owner gets every photo once: with the card, or with the notice that added it
    await h.fake.wait_for(lambda: len(got()) >= 3, timeout=30, message="the owner got all three photos")
    await h.settle(timeout=30)
    await h.flush()
    assert got() == sorted(photos)


async def test_an_album_without_a_caption_asks_once(bot_harness: Harness) -> None:
    h = bot_harness
    worker = await h.register("P1111")
    await worker.send_album([png(seed=20), png(seed=21)])
    question = await worker.wait_for_message(lambda m: "发生了什么事" in m.content)
    case_id = case_number(question.content)
    await h.fake.wait_for(lambda: len(attachments(h, case_id)) == 2)
    await h.flush()
    assert len([m for m in worker.messages if "发生了什么事" in m.content]) == 1
    assert len(h.cases.ledger()) == 1


async def test_a_location_joins_the_open_case_and_the_owner_can_open_it(bot_harness: Harness) -> None:
    h = bot_harness
    worker = await h.register("P1111")
    leader = await h.register("P110")
    await worker.send_text(GENERAL)
    case_id = case_number((await worker.wait_for_message(lambda m: "已记下" in m.content)).content)
    await leader.wait_for_message(lambda m: f"#{case_id}" in m.content)

    await worker.send_location(34.4721, 100.2482)
    added = await worker.wait_for_message(lambda m: "已加到案件" in m.content)
    assert case_number(added.content) == case_id
    [place] = [a for a in attachments(h, case_id) if a.kind == "location"]
    assert (place.latitude, place.longitude) == (34.4721, 100.2482)
    notice = await leader.wait_for_message(lambda m: f"#{case_id}" in m.content and "📍" in m.content)
    assert "补充" in notice.content or "附件" in notice.content
    sent = await leader.wait_for_message(lambda m: m.location is not None)
    assert sent.location == (34.4721, 100.2482)  # a Telegram location: opens in the official's map app
    assert len(h.cases.ledger()) == 1


async def test_a_location_first_then_the_words_make_one_case(bot_harness: Harness) -> None:
    h = bot_harness
    worker = await h.register("P1111")
    users = await officials(h)
    await worker.send_location(34.5, 100.3)
    question = await worker.wait_for_message(lambda m: "发生了什么事" in m.content)
    case_id = case_number(question.content)
    await worker.send_text(CRACK)
    receipt = await worker.wait_for_message(lambda m: "已记下" in m.content)
    assert case_number(receipt.content) == case_id
    owner = owner_user(h, case_id, users)
    card = await owner.wait_for_message(lambda m: f"#{case_id}" in m.content and CRACK in m.content)
    assert "📍 位置" in card.content
    assert (await owner.wait_for_message(lambda m: m.location is not None)).location == (34.5, 100.3)


async def test_documents_and_videos_are_kept_and_sent_along(bot_harness: Harness) -> None:
    h = bot_harness
    worker = await h.register("P1111")
    users = await officials(h)
    pdf = b"%PDF-1.4\n% a scanned certificate\n" + b"0" * 200
    await worker.send_document(pdf, file_name="低保申请.pdf", caption=GENERAL)
    case_id = case_number((await worker.wait_for_message(lambda m: "已记下" in m.content)).content)
    [doc] = attachments(h, case_id)
    assert doc.kind == "document" and bytes(doc.content) == pdf and doc.filename == "低保申请.pdf"
    owner = owner_user(h, case_id, users)
    sent = await owner.wait_for_message(lambda m: m.document is not None)
    assert sent.document == pdf and sent.file_name == "低保申请.pdf"

    video = b"\x00\x00\x00\x18ftypmp42" + b"v" * 300
    await worker.send_video(video)  # within the follow-up window, no words: joins the open case
    added = await worker.wait_for_message(lambda m: "已加到案件" in m.content)
    assert case_number(added.content) == case_id
    assert [a.kind for a in attachments(h, case_id)] == ["document", "video"]
    assert (await owner.wait_for_message(lambda m: m.video is not None)).video == video


async def test_a_file_over_the_download_limit_is_stored_by_its_id_and_the_worker_told(bot_harness: Harness) -> None:
    h = bot_harness
    worker = await h.register("P1111")
    users = await officials(h)
    big = b"%PDF-1.4\n" + b"\x00" * (21 * 1024 * 1024)  # over getFile's 20 MB
    await worker.send_document(big, file_name="scan.pdf", caption=CRACK)
    told = await worker.wait_for_message(lambda m: "MB" in m.content)
    assert "20 MB" in told.content and "Telegram" in told.content
    assert all(c.status != 200 for c in h.fake.calls_to("getFile"))  # nothing was downloaded
    receipt = await worker.wait_for_message(lambda m: "已记下" in m.content)
    case_id = case_number(receipt.content)
    [doc] = attachments(h, case_id)
    assert doc.content == b"" and doc.telegram_file_id  # stored first, by its file id
    owner = owner_user(h, case_id, users)
    sent = await owner.wait_for_message(lambda m: m.file is not None)
    assert sent.file is not None and sent.file.file_id == doc.telegram_file_id  # officials still get it


async def test_stickers_contacts_and_other_kinds_get_a_clear_answer(bot_harness: Harness) -> None:
    h = bot_harness
    worker = await h.register("P1111")
    await worker.send_sticker("👍")
    assert "打一句话" in (await worker.wait_for_message()).content
    await worker.send_contact("13900000000", first_name="多杰")
    assert "联系人" in (await worker.wait_for_message()).content
    story = {"chat": {"id": worker.id, "type": "private", "first_name": "扎西"}, "id": 7}  # a forwarded story
    worker._deliver(worker._user_message(None, story=story))
    answer = (await worker.wait_for_message()).content
    assert "收不了" in answer and "照片" in answer
    assert h.cases.ledger() == []  # none of these is a report


async def test_an_official_sending_a_photo_is_told_what_the_bot_takes(bot_harness: Harness) -> None:
    h = bot_harness
    leader = await h.register("P110")
    await leader.send_photo(png(seed=30), caption="看看")
    assert (await leader.wait_for_message()).content
    assert h.cases.ledger() == []


async def test_a_spoken_answer_to_what_happened_is_transcribed_into_the_same_case(bot_harness: Harness) -> None:
    from tests.bot.conftest import fake_ogg

    h = bot_harness
    worker = await h.register("P1111")
    leader = await h.register("P110")
    photo = png(seed=40)
    await worker.send_photo(photo)
    case_id = case_number((await worker.wait_for_message(lambda m: "发生了什么事" in m.content)).content)
    clip = fake_ogg("what-happened")
    h.transcriber.texts[clip] = GENERAL
    await worker.send_voice(clip, duration=4)
    queued = await worker.wait_for_message(lambda m: "正在识别" in m.content)
    assert case_number(queued.content) == case_id
    done = await worker.wait_for_edit(queued, lambda m: "我理解的是" in m.content, timeout=15)
    assert GENERAL in done.content and f"#{case_id}" in done.content
    assert len(h.cases.ledger()) == 1
    view = h.cases.get_case(case_id, h.person_id("P110"))
    assert view.state == "assigned" and view.media_kinds == ("photo", "voice")
    await leader.wait_for_message(lambda m: f"#{case_id}" in m.content)
