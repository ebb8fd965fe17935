"""The ``esimflow`` command: one click group, each verb family in a module of its own."""
import contextlib

import click

from esimcli import commands
from esimcli.secrets import mask_arguments


class _MaskingGroup(click.Group):
    """click's usage errors quote the arguments they refuse ("unexpected extra argument
    (LPA:1$...)"): a matching ID typed in the wrong place is masked in them like anywhere else."""

    def make_context(self, info_name, args, parent=None, **extra):
        self._argv = list(args)
        with _masked(self._argv):
            return super().make_context(info_name, args, parent, **extra)

    def invoke(self, ctx):
        with _masked(getattr(self, "_argv", [])):
            return super().invoke(ctx)


@contextlib.contextmanager
def _masked(argv: list[str]):
    try:
        yield
    except click.ClickException as error:
        error.message = mask_arguments(error.message, argv)
        raise


@click.group(cls=_MaskingGroup)
@click.version_option(package_name="esimflow")
def main() -> None:
    """esimflow: durable eSIM lifecycle engine (SGP.22)."""


commands.register(main)
