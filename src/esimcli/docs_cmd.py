"""``esimflow docs``: documentation generated from the code, so it cannot drift from it."""
from __future__ import annotations

import sys
from pathlib import Path

import click

from esimcli import openharmony_table
from esimflow.machines import MACHINES
from esimflow.machines.diagram import markdown


@click.group()
def docs() -> None:
    """Write (or check) documentation generated from the code."""


def _is_current(page: Path, text: str) -> bool:
    """``page`` holds ``text``; a page that cannot be read (not a file, unreadable) does not."""
    try:
        return page.is_file() and page.read_text() == text
    except (OSError, UnicodeDecodeError):
        return False


def stale_machine_pages(out: Path) -> list[Path]:
    """Pages under ``out`` that are missing or differ from what the machines generate now."""
    return [out / f"{name}.md" for name, model in MACHINES.items() if not _is_current(out / f"{name}.md", markdown(model))]


@docs.command("machines")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("docs/machines"),
              show_default=True, help="Directory of the machine pages.")
@click.option("--check", is_flag=True, help="Write nothing; exit 1 if a page is missing or out of date.")
def machines(out: Path, check: bool) -> None:
    """Mermaid state diagrams of the engine's state machines, one page per machine."""
    stale = stale_machine_pages(out)
    if check:
        for page in stale:
            click.echo(f"out of date: {page} (run `esimflow docs machines`)", err=True)
        if stale:
            sys.exit(1)
        click.echo(f"{len(MACHINES)} machine pages up to date in {out}")
        return
    try:
        out.mkdir(parents=True, exist_ok=True)
        for name, model in MACHINES.items():
            (out / f"{name}.md").write_text(markdown(model))
    except OSError as error:
        raise click.FileError(str(out), error.strerror) from None
    click.echo(f"wrote {len(MACHINES)} machine pages to {out} ({len(stale)} changed)")


@docs.command("openharmony")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=Path("docs/openharmony.md"),
              show_default=True, help="The conformance page.")
@click.option("--check", is_flag=True, help="Write nothing; exit 1 if the page is missing or out of date.")
def openharmony(out: Path, check: bool) -> None:
    """Where every function and field of the OpenHarmony eSIM system API lives in esimflow."""
    page = openharmony_table.render_markdown()
    if check:
        if not _is_current(out, page):
            click.echo(f"out of date: {out} (run `esimflow docs openharmony`)", err=True)
            sys.exit(1)
        click.echo(f"{out} up to date")
        return
    try:
        out.write_text(page)
    except OSError as error:
        raise click.FileError(str(out), error.strerror) from None
    click.echo(f"wrote {out}")
