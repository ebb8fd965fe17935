"""The ``esimflow`` command: one click group, each verb family in a module of its own."""
import contextlib
import sys

import click

from esimcli.commands import LazyGroup
from esimcli.secrets import mask_arguments
from sgp22.secret_text import activation_code_secrets
from sgp22.masking import mask_secrets_in


class _MaskingGroup(LazyGroup):
    """click's usage errors quote the arguments they refuse ("unexpected extra argument
    (LPA:1$...)"): a matching ID typed in the wrong place is masked in them like anywhere else."""

    def make_context(self, info_name, args, parent=None, **extra):
        self._argv = list(args)
        with _masked(self._argv):
            return super().make_context(info_name, args, parent, **extra)

    def invoke(self, ctx):
        argv = getattr(self, "_argv", [])
        with _masked(argv), _scrubbed_output(argv):
            return super().invoke(ctx)


@contextlib.contextmanager
def _masked(argv: list[str]):
    try:
        yield
    except click.ClickException as error:
        error.message = mask_arguments(error.message, argv)
        raise


class _Scrubbing:
    """A text stream that masks the given secrets, and anything shaped like one, in everything
    written to it."""

    def __init__(self, stream, secrets: list[str]) -> None:
        self._stream = stream
        self._secrets = secrets

    def write(self, text: str) -> int:
        return self._stream.write(mask_secrets_in(text, self._secrets))

    @property
    def unmasked(self):
        """The stream itself, for what the user asked to see in clear (``--show-secrets``)."""
        return self._stream

    def __getattr__(self, name):
        return getattr(self._stream, name)


@contextlib.contextmanager
def _scrubbed_output(argv: list[str]):
    """A matching ID or an activation code typed as any argument (the wrong one, or a path, a
    namespace, a nickname, an OID) is masked in whatever a command prints about it: no verb
    has to remember to."""
    secrets = [secret for argument in argv if "$" in argument for secret in activation_code_secrets(argument)]
    streams = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = _Scrubbing(sys.stdout, secrets), _Scrubbing(sys.stderr, secrets)
    try:
        yield
    finally:
        sys.stdout, sys.stderr = streams


@click.group(cls=_MaskingGroup)
@click.version_option(package_name="esimflow")
def main() -> None:
    """esimflow: durable eSIM lifecycle engine (SGP.22)."""
