"""The console's case page shows what a worker sent from Telegram besides words: photos inline, videos playable,
a place as coordinates with a ``geo:`` link (opens the map app; no map tiles from the internet), and a file the
bot could not download (over 20 MB) named with where to open it — through the real HTTP stack."""

from __future__ import annotations

from sqlalchemy import select

from storage.models import Attachment
from tests.bot.clips import png
from workflows.cases import MediaIn


async def test_photos_places_and_files_kept_only_in_telegram_on_the_case_page(console_harness):
    h = console_harness
    cases = h.services.case_service
    photo = png(seed=5)
    filed = cases.file_media(h.org["P1111"], MediaIn("photo", content=photo, mime_type="image/jpeg",
                                                     telegram_file_id="PHOTO-1"),
                             text="尼玛家房子墙裂了一道大缝，怕塌", source_key="tg:1:1")
    case_id = filed.case.id
    cases.add_details(case_id, h.org["P1111"], media=[MediaIn("location", latitude=34.47213, longitude=100.24821)])
    cases.add_details(case_id, h.org["P1111"], media=[MediaIn("document", filename="scan.pdf",
                                                              telegram_file_id="DOC-BIG")])
    with h.services.db.session() as s:
        ids = list(s.scalars(select(Attachment.id).where(Attachment.case_id == case_id).order_by(Attachment.id)))
    owner = cases.get_case(case_id, h.org["P1111"]).owner
    code = next(c for c, pid in h.org.people.items() if pid == owner.id)
    async with h.signed_in(code) as browser:
        page = await browser.get(f"/cases/{case_id}")
        assert page.status_code == 200
        assert f'<img alt="" src="/cases/{case_id}/media/{ids[0]}">' in page.text
        assert '<a href="geo:34.472130,100.248210">34.47213, 100.24821</a>' in page.text
        assert "scan.pdf" in page.text and "Telegram" in page.text
        r = await browser.get(f"/cases/{case_id}/media/{ids[0]}")
        assert r.status_code == 200 and r.content == photo
        assert (await browser.get(f"/cases/{case_id}/media/{ids[1]}")).status_code == 404  # a place has no bytes
