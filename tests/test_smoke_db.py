from sqlalchemy import select

from storage.models import Unit, UnitLevel


def test_store_and_read_a_unit(database):
    with database.session() as s:
        s.add(Unit(code="C1", name="测试县", level=UnitLevel.county))
    with database.session() as s:
        unit = s.scalars(select(Unit).where(Unit.code == "C1")).one()
        assert unit.name == "测试县"
        assert unit.level is UnitLevel.county
