"""Fleet files: both formats, every kind of bad line reported with its line number, and no
activation code ever quoted back."""
from __future__ import annotations

import json

import pytest

from esimflow.migration.fleet import FleetFileError, load_fleet, parse_fleet

from tests.migration.migration_helpers import activation_code, eid, iccid, write_csv, write_jsonl


def test_csv_and_json_lines_give_the_same_fleet(tmp_path):
    rows = [
        {"eid": eid(1), "device": "host-a/local:card1", "current_iccid": iccid(1), "activation_code": activation_code(1)},
        {"eid": eid(2), "current_iccid": iccid(2), "target_iccid": iccid(2, operator=2)},
        {"eid": eid(3), "current_iccid": iccid(3), "activation_code": activation_code(3),
         "target_iccid": iccid(3, operator=2)},
    ]
    from_csv = load_fleet(write_csv(tmp_path / "fleet.csv", rows))
    from_jsonl = load_fleet(write_jsonl(tmp_path / "fleet.jsonl", rows))
    assert from_csv.errors == [] and from_jsonl.errors == []
    assert (from_csv.format, from_jsonl.format) == ("csv", "jsonl")
    for fleet in (from_csv, from_jsonl):
        assert [(e.index, e.eid, e.device, e.current_iccid, e.target_iccid, e.activation_code) for e in fleet.entries] == [
            (0, eid(1), "host-a/local:card1", iccid(1), None, activation_code(1)),
            (1, eid(2), "", iccid(2), iccid(2, operator=2), None),
            (2, eid(3), "", iccid(3), iccid(3, operator=2), activation_code(3)),
        ]
    assert [e.line for e in from_csv.entries] == [2, 3, 4]
    assert from_csv.sha256 != from_jsonl.sha256


def test_every_bad_line_is_reported_once_with_its_column(tmp_path):
    bad_eid = eid(2)[:-1] + str((int(eid(2)[-1]) + 1) % 10)
    bad_iccid = iccid(3)[:-1] + str((int(iccid(3)[-1]) + 1) % 10)
    rows = [
        {"eid": eid(1), "current_iccid": iccid(1), "activation_code": activation_code(1)},
        {"eid": bad_eid, "current_iccid": iccid(2), "activation_code": activation_code(2)},
        {"eid": eid(3), "current_iccid": bad_iccid, "activation_code": activation_code(3)},
        {"eid": eid(4), "current_iccid": iccid(4), "activation_code": "LPA:1$not a host$SECRET-XYZ"},
        {"eid": eid(1), "current_iccid": iccid(5), "activation_code": activation_code(5)},
        {"eid": eid(6), "current_iccid": iccid(6), "activation_code": activation_code(1)},
        {"eid": eid(7), "current_iccid": iccid(7)},
        {"eid": eid(8), "current_iccid": iccid(8), "target_iccid": iccid(8)},
        {"eid": eid(9), "current_iccid": iccid(9), "target_iccid": iccid(1, operator=2)},
        {"eid": eid(10), "current_iccid": iccid(10), "target_iccid": iccid(1, operator=2)},
        {"eid": "", "current_iccid": iccid(11), "activation_code": activation_code(11)},
    ]
    fleet = load_fleet(write_csv(tmp_path / "fleet.csv", rows))
    found = [(e.line, e.column) for e in fleet.errors]
    assert found == [(3, "eid"), (4, "current_iccid"), (5, "activation_code"), (6, "eid"), (7, "activation_code"),
                     (8, "activation_code"), (9, "target_iccid"), (11, "target_iccid"), (12, "eid")]
    messages = {(e.line, e.column): e.message for e in fleet.errors}
    assert "line 2" in messages[(6, "eid")] and "line 2" in messages[(7, "activation_code")]
    assert "check digit" in messages[(4, "current_iccid")].lower() or "luhn" in messages[(4, "current_iccid")].lower()
    assert "no target" in messages[(8, "activation_code")]
    assert "current profile" in messages[(9, "target_iccid")]
    assert "line 10" in messages[(11, "target_iccid")]
    assert [e.eid for e in fleet.entries] == [eid(1), eid(9)]
    shown = " ".join(str(e) for e in fleet.errors)
    assert "SECRET-XYZ" not in shown and "MIG-SECRET" not in shown


def test_json_lines_problems_and_the_target_column(tmp_path):
    path = tmp_path / "fleet.jsonl"
    path.write_text("\n".join([
        "# comment lines and blank lines are skipped",
        json.dumps({"eid": eid(1), "current_iccid": iccid(1), "target": activation_code(1)}),
        "",
        json.dumps({"eid": eid(2), "current_iccid": iccid(2), "target": iccid(2, operator=2)}),
        "[1, 2]",
        json.dumps({"eid": eid(4), "current_iccid": iccid(4), "target": iccid(4, 2), "colour": "red"}),
        json.dumps({"eid": 5, "current_iccid": iccid(5), "target": iccid(5, 2)}),
        "{not json",
    ]) + "\n")
    fleet = load_fleet(path)
    assert [(e.line, e.column) for e in fleet.errors] == [(5, "*"), (6, "colour"), (7, "eid"), (8, "*")]
    assert [(e.activation_code, e.target_iccid) for e in fleet.entries] == [
        (activation_code(1), None), (None, iccid(2, operator=2))]


def test_an_activation_code_without_matching_id_may_repeat(tmp_path):
    rows = [{"eid": eid(n), "current_iccid": iccid(n), "activation_code": "LPA:1$smdp.example.com$"} for n in (1, 2)]
    fleet = load_fleet(write_csv(tmp_path / "fleet.csv", rows))
    assert fleet.errors == [] and len(fleet.entries) == 2


@pytest.mark.parametrize("text, problem", [
    ("", "empty fleet file"),
    ("eid,current_iccid,colour\n", "unknown column"),
    ("eid,activation_code\n1,2\n", "no current_iccid column"),
    ("eid,eid,current_iccid\n", "named twice"),
])
def test_a_file_that_is_no_fleet_is_refused_as_a_whole(text, problem):
    with pytest.raises(FleetFileError, match=problem):
        parse_fleet(text.encode(), "fleet.csv")


def test_a_repr_never_shows_the_code(tmp_path):
    fleet = load_fleet(write_csv(tmp_path / "fleet.csv", [
        {"eid": eid(1), "current_iccid": iccid(1), "activation_code": activation_code(1)}]))
    assert "MIG-SECRET" not in repr(fleet.entries[0]) and "LPA:" in repr(fleet.entries[0])
