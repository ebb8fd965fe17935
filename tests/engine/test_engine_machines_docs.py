"""The committed state diagrams are the machines' own: a changed transition without a regenerated
page fails here (regenerate with `esimflow docs machines`)."""
import re
from pathlib import Path

from click.testing import CliRunner

from esimcli.main import main
from esimflow.machines import MACHINES, DownloadSession, ProfileStatus
from esimflow.machines.diagram import mermaid

COMMITTED = Path(__file__).resolve().parents[2] / "docs" / "machines"
EDGE = re.compile(r"^    (\[\*\]|\w+) --> (\[\*\]|\w+)(: .+)?$")


def test_committed_diagrams_match_the_machines():
    result = CliRunner().invoke(main, ["docs", "machines", "--check", "--out", str(COMMITTED)])
    assert result.exit_code == 0, result.output


def test_check_fails_on_a_stale_or_missing_page_and_writing_fixes_it(tmp_path):
    runner = CliRunner()
    assert runner.invoke(main, ["docs", "machines", "--out", str(tmp_path)]).exit_code == 0
    page = tmp_path / "profile_status.md"
    page.write_text(page.read_text().replace("DISABLED --> DELETED: delete\n", ""))
    (tmp_path / "os_update.md").unlink()
    stale = runner.invoke(main, ["docs", "machines", "--check", "--out", str(tmp_path)])
    assert stale.exit_code == 1
    assert "profile_status.md" in stale.output and "os_update.md" in stale.output
    assert "download_session.md" not in stale.output
    assert runner.invoke(main, ["docs", "machines", "--out", str(tmp_path)]).exit_code == 0
    assert runner.invoke(main, ["docs", "machines", "--check", "--out", str(tmp_path)]).exit_code == 0


def test_every_transition_is_an_edge_of_the_diagram():
    for model in MACHINES.values():
        lines = mermaid(model).splitlines()
        assert lines[0] == "stateDiagram-v2"
        assert all(EDGE.match(line) for line in lines[1:]), model
        edges = {EDGE.match(line).group(1, 2) for line in lines[1:]}
        machine = model.machine
        expected = {(source, t.dest) for event in machine.events.values()
                    for source, transitions in event.transitions.items() for t in transitions}
        expected |= {("[*]", machine.initial)} | {(s, "[*]") for s, state in machine.states.items() if state.final}
        assert edges == expected


def test_diagram_labels_name_guards_and_legal_cancel_reasons():
    assert "    ENABLED --> DISABLED: disable\n" in mermaid(ProfileStatus)
    session = mermaid(DownloadSession)
    assert "    package_received --> cancelled: cancel(metadataMismatch, undefinedReason)\n" in session
    assert "    metadata_reviewed --> prepared: prepare [confirmation_code_not_required]\n" in session
