"""`esimflow lab modem` as a user starts it: a process that prints its port, answers AT on it
(and on the symlink asked for) until Ctrl-C, then removes the link."""
from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

from carddrivers.spec import ReaderSpec, open_transport
from sgp22 import es10
from sgp22.apdu import IsdrChannel

ESIMFLOW = str(Path(sys.executable).parent / "esimflow")


def test_lab_modem_serves_its_euicc_on_a_pseudo_terminal_until_ctrl_c(lab_pki, tmp_path):
    link = tmp_path / "modem0"
    process = subprocess.Popen([ESIMFLOW, "lab", "modem", "--identities", str(lab_pki.root), "--link", str(link),
                                "--no-cgla", "--fault", "urc=2"], stdout=subprocess.PIPE, text=True)
    try:
        said = [process.stdout.readline() for _ in range(6)]
        eid = said[0].split()[-1]
        reader = next(line.split()[-1] for line in said if line.strip().startswith("reader:"))
        assert reader.startswith("at:/dev/pts/") and link.is_symlink()
        for spec in (reader, f"at:{link}"):
            with IsdrChannel(open_transport(ReaderSpec.parse(spec))) as isdr:
                assert isdr.transport.mode == "csim"
                assert es10.get_eid(isdr) == eid
    finally:
        process.send_signal(signal.SIGINT)
        assert process.wait(30) == 0
    assert not link.exists()
