"""sgp22/codec.py swaps two asn1tools DER classes for corrected ones; the corrections lean on
asn1tools' private class layout, which any release may change. The pin in pyproject.toml and the
installed version must both be the one the corrections were written against, so an upgrade stops
here with the reason instead of decoding wrong OIDs or hanging on hostile bytes later."""
import tomllib
from importlib.metadata import version
from pathlib import Path

# The release whose der.ObjectIdentifier, der.SequenceOf and der.SetOf sgp22/codec.py corrects.
CORRECTED_RELEASE = "0.169.0"

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"

MOVE_THE_PIN = (
    "sgp22/codec.py corrects the internals of asn1tools {corrected} (OBJECT IDENTIFIER arcs, "
    "SEQUENCE OF loop); {found}. Before moving the pin, check the new asn1tools.codecs.der still "
    "has the classes codec.py swaps and still has both defects, then update CORRECTED_RELEASE here.")


def test_pyproject_pins_asn1tools_to_the_corrected_release():
    dependencies = tomllib.loads(PYPROJECT.read_text())["project"]["dependencies"]
    pins = [dependency for dependency in dependencies if dependency.startswith("asn1tools")]
    assert pins == [f"asn1tools=={CORRECTED_RELEASE}"], MOVE_THE_PIN.format(
        corrected=CORRECTED_RELEASE, found=f"pyproject.toml asks for {pins}")


def test_installed_asn1tools_is_the_corrected_release():
    installed = version("asn1tools")
    assert installed == CORRECTED_RELEASE, MOVE_THE_PIN.format(
        corrected=CORRECTED_RELEASE, found=f"asn1tools {installed} is installed")
