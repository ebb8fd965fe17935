"""How cheap the engine's state machines are to create and drive: a bulk migration builds
thousands. Compares esimflow's shared compiled definitions with a ``transitions.Machine`` built
per model (what the library does by default). Prints figures; asserts nothing."""
import time

from transitions import Machine

from esimflow.machines import DownloadSession, EuiccContext, ProfileStatus
from esimflow.machines import download_session, profile_status

N = 5000


def per_second(label: str, count: int, run) -> None:
    start = time.perf_counter()
    run()
    elapsed = time.perf_counter() - start
    print(f"{label:<58} {count / elapsed:>12,.0f}/s  ({elapsed * 1e6 / count:.1f} µs each)")


def shared_profiles():
    for _ in range(N):
        ProfileStatus()


def per_instance_profiles():
    class Model:
        pass

    for _ in range(N):
        Machine(model=Model(), states=[str(s) for s in profile_status.STATES],
                transitions=[{**t, "source": [str(s) for s in t["source"]] if isinstance(t["source"], list)
                              else str(t["source"]), "dest": str(t["dest"])} for t in profile_status.TRANSITIONS],
                initial="AVAILABLE", auto_transitions=False)


def download_lifecycles():
    for _ in range(N):
        session = DownloadSession("tid", cc_required=False)
        session.authenticate()
        session.review_metadata()
        session.prepare()
        session.receive_package()
        session.load()
        session.finish_install()
        session.notify()


def switches():
    for i in range(N):
        euicc = EuiccContext()
        euicc.add(f"old{i}", state="enabled")
        euicc.add(f"new{i}").enable()


if __name__ == "__main__":
    per_second("ProfileStatus, shared definitions", N, shared_profiles)
    per_second("ProfileStatus, transitions.Machine per model", N, per_instance_profiles)
    per_second(f"DownloadSession full lifecycle ({len(download_session.TRANSITIONS)} defs, 7 triggers)", N,
               download_lifecycles)
    per_second("EuiccContext with two profiles + switch", N, switches)
