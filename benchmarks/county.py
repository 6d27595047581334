"""A synthetic county (or prefecture) org tree for the scale benchmarks, written as the CSV files
``lianhu import-org`` reads.

Why synthetic: the shipped sample county has 15 units; routing, lists and the org cache must be measured on
a tree of realistic size (a county: ~8 townships x 12 villages x 4 grids; a prefecture: 8 such counties).
Codes are deterministic so two runs build the same tree.
"""

from __future__ import annotations

from pathlib import Path

UNITS_HEADER = "code,name,name_bo,level,parent_code,default_language"
PEOPLE_HEADER = "code,name,role,unit_code,department,phone,ui_language,speech_language"
HOUSEHOLDS_HEADER = "code,head_name,unit_code,liaison_code,members,note"


def write_tree(
    folder: Path,
    *,
    counties: int = 1,
    townships: int = 8,
    villages: int = 12,
    grids: int = 4,
    workers_per_grid: int = 1,
    households_per_worker: int = 0,
) -> dict[str, int]:
    """Write units.csv, people.csv, households.csv into ``folder``; returns the counts written.

    Per county: a county commander, a governance operator, a health department contact; per township a
    commander; per village a grid leader; per grid ``workers_per_grid`` liaison workers, each with
    ``households_per_worker`` households. One admin for the whole tree."""
    units = [UNITS_HEADER]
    people = [PEOPLE_HEADER, "A1,管理员,admin,C1,,,zh,zh"]
    households = [HOUSEHOLDS_HEADER]
    n_workers = 0
    for c in range(1, counties + 1):
        county = f"C{c}"
        units.append(f"{county},第{c}县,,county,,zh")
        people += [
            f"P{c}CC,县指挥长{c},county_commander,{county},,,zh,zh",
            f"P{c}GO,综治员{c},governance_operator,{county},,,zh,zh",
            f"P{c}HE,卫健联络员{c},department_contact,{county},health,,zh,zh",
        ]
        for t in range(1, townships + 1):
            town = f"T{c}-{t}"
            units.append(f"{town},{c}县第{t}乡,,township,{county},zh")
            people.append(f"P{town},乡指挥长{c}-{t},township_commander,{town},,,zh,zh")
            for v in range(1, villages + 1):
                village = f"V{c}-{t}-{v}"
                units.append(f"{village},{c}县{t}乡{v}村,,village,{town},zh")
                people.append(f"P{village},网格长{c}-{t}-{v},grid_leader,{village},,,zh,zh")
                for g in range(1, grids + 1):
                    grid = f"G{c}-{t}-{v}-{g}"
                    units.append(f"{grid},{c}县{t}乡{v}村第{g}网格,,grid,{village},zh")
                    for w in range(1, workers_per_grid + 1):
                        worker = f"W{c}-{t}-{v}-{g}-{w}"
                        people.append(f"{worker},联户员{c}-{t}-{v}-{g}-{w},liaison_worker,{grid},,,zh,zh")
                        n_workers += 1
                        for h in range(1, households_per_worker + 1):
                            households.append(
                                f"H{c}-{t}-{v}-{g}-{w}-{h},户主{c}{t}{v}{g}{w}{h},{grid},{worker},4,"
                            )
    (folder / "units.csv").write_text("\n".join(units) + "\n", "utf-8")
    (folder / "people.csv").write_text("\n".join(people) + "\n", "utf-8")
    (folder / "households.csv").write_text("\n".join(households) + "\n", "utf-8")
    return {
        "units": len(units) - 1,
        "people": len(people) - 1,
        "workers": n_workers,
        "households": len(households) - 1,
    }
