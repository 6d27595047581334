"""The fixed vocabularies of the household archive: certificates, festival-visit marks, relations, gender.

Why fixed codes with Chinese labels: a county clerk fills the CSV in Excel/WPS and writes what is on the paper
records (``低保``, ``五保``, ``户主``, ``女儿``); the product shows the same facts in Chinese, Tibetan and English.
So the files accept the Chinese words *and* the English codes (and a few common variants), the database keeps
the code, the export writes the standard Chinese word back (what the clerk would type), and adapters translate
the code (``i18n`` keys ``certificate.<code>``, ``festival_mark.<code>``, ``relation.<code>``).

A cell may hold several values separated by any of ``、 ; ； , ， / |`` or spaces — whatever a clerk types.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

#: code -> the standard Chinese word (written by the export); extra spellings accepted on import follow.
CERTIFICATES: dict[str, str] = {
    "dibao": "低保",  # 最低生活保障 (minimum living allowance)
    "wubao": "五保",  # 五保供养
    "tekun": "特困",  # 特困人员供养
    "disability": "残疾",  # 残疾人证
    "monitored": "监测户",  # 防返贫监测对象
    "lifted": "脱贫户",  # 脱贫户 (lifted out of poverty, still followed)
    "veteran": "优抚",  # 优抚对象 (veterans, martyrs' families)
}
CERTIFICATE_ALIASES: dict[str, str] = {
    "低保户": "dibao", "最低生活保障": "dibao", "五保户": "wubao", "五保供养": "wubao", "特困户": "tekun",
    "特困供养": "tekun", "特困人员": "tekun", "残疾人": "disability", "残疾证": "disability", "残疾人证": "disability",
    "残疾人家庭": "disability", "监测": "monitored", "监测对象": "monitored", "防返贫监测": "monitored",
    "脱贫": "lifted", "优抚对象": "veteran",
}

#: Why the county marked a household for festival visits (Losar, Spring Festival).
FESTIVAL_MARKS: dict[str, str] = {
    "elderly_alone": "独居老人",
    "left_behind": "留守",  # left-behind elders or children
    "wubao": "五保",
    "tekun": "特困",
    "hardship": "困难",  # families in hardship
    "disability": "残疾",
    "veteran": "优抚",
    "other": "是",  # marked, no reason given ("是" / "yes" / "1" / "√")
}
FESTIVAL_ALIASES: dict[str, str] = {
    "空巢老人": "elderly_alone", "孤寡老人": "elderly_alone", "独居": "elderly_alone", "留守老人": "left_behind",
    "留守儿童": "left_behind", "五保户": "wubao", "特困户": "tekun", "困难家庭": "hardship", "困难户": "hardship",
    "残疾人家庭": "disability", "yes": "other", "y": "other", "1": "other", "√": "other", "✓": "other",
    "其他": "other", "要": "other",
}
#: Cell values meaning "not marked" (the same as an empty cell).
FESTIVAL_NO = frozenset({"否", "no", "n", "0", "×", "不"})

#: Relation to the head of household, as the household register (户口簿) writes it.
RELATIONS: dict[str, str] = {
    "head": "户主",
    "spouse": "配偶",
    "son": "儿子",
    "daughter": "女儿",
    "father": "父亲",
    "mother": "母亲",
    "grandson": "孙子",
    "granddaughter": "孙女",
    "daughter_in_law": "儿媳",
    "son_in_law": "女婿",
    "sibling": "兄弟姐妹",
    "grandparent": "祖父母",
    "other": "其他",
}
RELATION_ALIASES: dict[str, str] = {
    "本人": "head", "妻子": "spouse", "妻": "spouse", "丈夫": "spouse", "夫": "spouse", "子": "son", "长子": "son",
    "次子": "son", "女": "daughter", "长女": "daughter", "次女": "daughter", "父": "father", "母": "mother",
    "外孙": "grandson", "外孙女": "granddaughter", "媳妇": "daughter_in_law", "兄": "sibling", "弟": "sibling",
    "姐": "sibling", "妹": "sibling", "哥哥": "sibling", "弟弟": "sibling", "姐姐": "sibling", "妹妹": "sibling",
    "兄弟": "sibling", "姐妹": "sibling", "祖父": "grandparent", "祖母": "grandparent", "爷爷": "grandparent",
    "奶奶": "grandparent", "外祖父": "grandparent", "外祖母": "grandparent",
}

GENDERS: dict[str, str] = {"m": "男", "f": "女"}
GENDER_ALIASES: dict[str, str] = {"male": "m", "female": "f"}

#: Livestock columns of households.csv -> model attribute (the same names).
LIVESTOCK = ("yaks", "sheep", "goats", "horses")
MAX_LIVESTOCK = 1_000_000

_SEPARATORS = re.compile(r"[、;；,，/|\s]+")


def _lookup(value: str, codes: Mapping[str, str], aliases: Mapping[str, str]) -> str | None:
    v = value.strip()
    low = v.lower()
    if low in codes:
        return low
    for code, word in codes.items():
        if v == word:
            return code
    return aliases.get(v) or aliases.get(low)


def split_cell(cell: str | None) -> list[str]:
    return [p for p in _SEPARATORS.split(cell or "") if p]


def parse_list(cell: str | None, codes: Mapping[str, str], aliases: Mapping[str, str],
               no: frozenset[str] = frozenset()) -> tuple[list[str] | None, list[str]]:
    """``(codes in the order given without repeats, or None when the cell is empty; the unknown words)``."""
    found: list[str] = []
    unknown: list[str] = []
    for part in split_cell(cell):
        if part.lower() in no:
            continue
        code = _lookup(part, codes, aliases)
        if code is None:
            unknown.append(part)
        elif code not in found:
            found.append(code)
    return (found or None), unknown


def parse_one(cell: str | None, codes: Mapping[str, str], aliases: Mapping[str, str]) -> str | None:
    """The code for one value (None when unknown; the caller reports it)."""
    return _lookup(cell, codes, aliases) if cell else None


def words(values: list[str] | None, codes: Mapping[str, str]) -> str:
    """Codes back to the Chinese words a clerk writes, joined with 、 (the export)."""
    return "、".join(codes.get(v, v) for v in values or [])


def accepted(codes: Mapping[str, str]) -> str:
    """The accepted words for an error message: ``低保 (dibao), 五保 (wubao), ...``."""
    return ", ".join(f"{word} ({code})" for code, word in codes.items())
