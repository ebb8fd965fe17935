"""The ``esimflow`` command: one click group, each verb family in a module of its own."""
import click

from esimcli.commands import LazyGroup


@click.group(cls=LazyGroup)
@click.version_option(package_name="esimflow")
def main() -> None:
    """esimflow: durable eSIM lifecycle engine (SGP.22)."""
