"""How long the lab takes to issue a fleet of eUICC identities (target: 1000 in a few seconds)."""
import sys
import tempfile
import time

from rsplab import pki


def main(count: int = 1000) -> None:
    with tempfile.TemporaryDirectory() as directory:
        started = time.perf_counter()
        pki.generate(directory)
        generated = time.perf_counter()
        pki.add_euiccs(directory, count=count)
        issued = time.perf_counter()
        eids = pki.load(directory).all_eids()
        listed = time.perf_counter()
    print(f"PKI generation:          {1000 * (generated - started):8.1f} ms")
    print(f"{count} fleet eUICCs:      {issued - generated:8.2f} s  ({1e6 * (issued - generated) / count:.0f} us each)")
    print(f"load + list {len(eids)} EIDs:  {1000 * (listed - issued):8.1f} ms")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1000)
