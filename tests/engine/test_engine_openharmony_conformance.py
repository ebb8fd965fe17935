"""docs/openharmony.md against the seed API, the code and a real run.

The seed (the OpenHarmony eSIM system API users asked for) is parsed here, independently of the
table: a function, parameter, type field or enum member without a row fails, and so does a row
naming an input field, CLI flag, table column or result key that the code does not have. The
result keys are read from the answers of a real run (time-skipping server, in-process virtual
eUICC, lab SM-DP+), so a key the engine stopped answering fails too."""
from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import click
import pytest

from esimcli import openharmony_table as table
from esimcli.main import main
from esimcli.render import profile_table
from esimflow import contract
from tests.engine.engine_stack import new_iccid, running_engine
from tests.engine.test_engine_workflow_euicc import card, smdp  # noqa: F401  (fixtures)

ROOT = Path(__file__).resolve().parents[2]
SEED = ROOT.parent / "shared" / "seeds" / "openharmony-esim-system-api.md"
DOC = ROOT / "docs" / "openharmony.md"

_FUNCTION = re.compile(r"^## eSIM\.(\w+)18\+ \w+\\\((.*?)\\\)", re.M)
_TYPE = re.compile(r"^## (\w+)18\+", re.M)
_FIELD = re.compile(r"\|\s*(\w+)\s*\|\s*[^|]+?\s*\|\s*(?:Yes|No)\s*\|")
_MEMBER = re.compile(r"\|\s*([A-Z][A-Z0-9_]+)\s*\|\s*(-?\d+(?:\s*<<\s*\d+)?)\s*\|")
_EXAMPLE_PROFILE = re.compile(r"let profile: eSIM\.DownloadableProfile = \{(.*?)\}; ", re.S)


def seed_sections() -> dict[str, str]:
    text = SEED.read_text()
    starts = [(match.start(), match.group(1)) for match in _TYPE.finditer(text)]
    return {name: text[start:(starts[index + 1][0] if index + 1 < len(starts) else len(text))]
            for index, (start, name) in enumerate(starts)}


def seed_functions() -> dict[str, list[str]]:
    return {name: [param.split(":")[0].strip().rstrip("?") for param in params.split(",") if param.strip()]
            for name, params in _FUNCTION.findall(SEED.read_text())}


def seed_struct_fields() -> dict[str, list[str]]:
    fields = {name: _FIELD.findall(section.split("**System capability**", 1)[-1])
              for name, section in seed_sections().items()}
    fields = {name: found for name, found in fields.items() if found and name not in table.ENUMS}
    # DownloadableProfile is documented in the public API page; the seed shows its fields in the examples
    example = _EXAMPLE_PROFILE.search(SEED.read_text()).group(1)
    fields["DownloadableProfile"] = [key for key in re.findall(r"(\w+):", example)
                                     if key not in ("certificateHashHexStr", "packageName", "accessType")]
    return fields


def seed_enums() -> dict[str, dict[str, int]]:
    return {name: {member: eval(value) for member, value in _MEMBER.findall(section)}  # "1 << 2": seed's notation
            for name, section in seed_sections().items() if name in table.ENUMS}


ROWS = {row.seed: row for row in table.ROWS}


def test_the_seed_parses_into_what_the_api_has():
    """Guards the parser itself: the seed's 16 functions and 18 types are all found."""
    assert len(seed_functions()) == 16
    assert len(seed_struct_fields()) + len(seed_enums()) == 18
    assert seed_struct_fields()["DownloadableProfile"] == ["activationCode", "confirmationCode", "carrierName",
                                                          "accessRules"]


def test_every_function_and_parameter_has_a_row():
    missing = [item for name, params in seed_functions().items()
               for item in [name] + [f"{name}.{param}" for param in params] if item not in ROWS]
    assert missing == []


def test_every_field_of_every_type_has_a_row():
    missing = [f"{name}.{field}" for name, fields in seed_struct_fields().items() for field in fields
               if f"{name}.{field}" not in ROWS]
    assert missing == []


def test_every_enum_member_keeps_its_name_and_number():
    for name, members in seed_enums().items():
        assert members, name
        for member, value in members.items():
            engine = table.engine_member(table.ENUMS[name], member)
            assert engine is not None, f"{name}.{member} has no engine member"
            assert int(engine.value) == value, f"{name}.{member}"


def test_no_row_names_something_the_seed_does_not_have():
    known = {item for name, params in seed_functions().items() for item in [name] + [f"{name}.{p}" for p in params]}
    known |= {f"{name}.{field}" for name, fields in seed_struct_fields().items() for field in fields}
    assert sorted(set(ROWS) - known) == []


@pytest.mark.parametrize("row", table.ROWS, ids=lambda row: row.seed)
def test_each_row_names_real_input_fields(row):
    for item in row.inputs:
        class_name, field = item.split(".")
        assert field in {f.name for f in dataclasses.fields(getattr(contract, class_name))}, item
    assert row.inputs or row.result or row.reason or row.cli, "a row carries the item or says why not"
    assert row.operation in {value for name, value in vars(contract.Operation).items() if name.isupper()}


def _command(words: list[str]) -> tuple[click.Command, list[str]]:
    """The command a verb path names, as click resolves it (the CLI's groups load lazily)."""
    command: click.Command = main
    context = click.Context(main)
    while isinstance(command, click.Group) and words:
        sub = command.get_command(context, words[0])
        if sub is None:
            break
        command = sub
        words.pop(0)
    return command, words


@pytest.mark.parametrize("row", table.ROWS, ids=lambda row: row.seed)
def test_each_row_names_real_cli_flags_arguments_and_columns(row):
    text, _, column = row.cli.partition(": ")
    command, rest = _command(text.replace(" or ", " ").split())
    assert not isinstance(command, click.Group), row.cli
    options = {opt for param in command.params for opt in getattr(param, "opts", [])}
    arguments = {param.name.upper() for param in command.params if isinstance(param, click.Argument)}
    for word in rest:
        if word.startswith("--"):
            assert word in options, f"{row.cli}: {word}"
        else:
            assert word in arguments, f"{row.cli}: {word}"
    if column and not column.startswith(("result_code", "--")):
        assert column in profile_table([{"iccid": "x"}])[0].split(), f"{row.cli}: column {column}"


def test_the_page_is_current():
    assert DOC.read_text() == table.render_markdown(), "regenerate: esimflow docs openharmony"


# --- the result keys, read from a real run -----------------------------------------------------


def _has_path(data, path: str) -> bool:
    head, _, rest = path.partition(".")
    many = head.endswith("[]")
    key = head.removesuffix("[]")
    if not isinstance(data, dict) or key not in data:
        return False
    value = data[key]
    if many:
        if not isinstance(value, list) or not value:
            return False  # an empty list shows no key of its entries
        return all(_has_path(item, rest) for item in value) if rest else True
    return _has_path(value, rest) if rest else True


@pytest.fixture
async def lab_engine(time_skipping_env, tmp_path, unique_task_queue, smdp, card):  # noqa: F811
    async with running_engine(time_skipping_env.client, tmp_path, unique_task_queue, smdp=smdp,
                              cards={"card": card}) as stack:
        yield stack


@pytest.mark.temporal
async def test_every_result_key_is_in_a_real_answer(lab_engine, smdp, card):  # noqa: F811
    eid = card.eid
    rule = "com.example.dialer"
    # PPR2 (deletion not allowed), not PPR1: the profile is switched away from below
    code = smdp.add_profile(new_iccid(), ppr2=True, access_rules=[("AB" * 32, rule, 0)], profile_owner="310410:0A")
    answers: dict[str, contract.OperationResult] = {}

    async def run(op_input):
        result = await lab_engine.run(op_input)
        assert result.ok, result
        answers[result.operation] = result
        return result

    await run(contract.GetDownloadableProfileMetadataInput(eid, code))
    installed = await run(contract.DownloadProfileInput(eid, code, is_ppr_allowed=True, switch_after_download=True))
    await run(contract.ListProfilesInput(eid))
    await run(contract.GetEuiccInfoInput(eid))
    await run(contract.GetEidInput(device=eid))
    await run(contract.OsUpdateInput(eid, start=False))
    await run(contract.SetDefaultSmdpAddressInput(eid, smdp.address))
    await run(contract.GetDefaultSmdpAddressInput(eid))
    smdp.add_profile(new_iccid(), eid=eid)
    await run(contract.GetDownloadableProfilesInput(eid))
    other = await run(contract.DownloadProfileInput(eid, smdp.add_profile(new_iccid())))
    await run(contract.SwitchProfileInput(eid, other.data["iccid"], force_disable_profile=True))
    await run(contract.SwitchProfileInput(eid, installed.data["iccid"], force_disable_profile=True))
    await run(contract.DeleteProfileInput(eid, other.data["iccid"]))
    await run(contract.ReserveProfilesForFactoryRestoreInput(eid))
    await run(contract.ResetMemoryInput(eid, int(contract.ResetOption.DELETE_OPERATIONAL_PROFILES)))

    for row in table.ROWS:
        if row.result:
            assert row.operation in answers, f"{row.seed}: no run of {row.operation}"
            assert _has_path(answers[row.operation].data, row.result), f"{row.seed}: {row.result}"
