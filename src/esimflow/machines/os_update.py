"""An eUICC OS update as OpenHarmony reports it: the five ``OsuStatus`` outcomes, reached from
idle (no update service at all) or from checking the installed version against the offered one.

SUCCESSFUL and ALREADY_LATEST end an update. FAILED and SERVICE_UNAVAILABLE can be retried,
which starts a new check; an update in progress only ends as SUCCESSFUL or FAILED (a card lost
mid-update is a failed update, never "unavailable").

The workflow does not decide the outcome: it hands each report of the card to
``OsUpdate.report``, which follows it with the triggers of ``REPORTS`` and answers the OsuStatus
the update stands at (a report the table does not list from where the update stands raises
``IllegalTransition``); ``give_up`` ends an update still in progress when the polling budget is
spent, as FAILED.
"""
from __future__ import annotations

from enum import StrEnum

from sgp22.es10_enums import OsuStatus

from esimflow.machines.base import IllegalTransition, StateModel, TransitionSpec


class Phase(StrEnum):
    IDLE = "idle"
    CHECKING = "checking"
    IN_PROGRESS = OsuStatus.EUICC_UPGRADE_IN_PROGRESS.name
    FAILED = OsuStatus.EUICC_UPGRADE_FAILED.name
    SUCCESSFUL = OsuStatus.EUICC_UPGRADE_SUCCESSFUL.name
    ALREADY_LATEST = OsuStatus.EUICC_UPGRADE_ALREADY_LATEST.name
    SERVICE_UNAVAILABLE = OsuStatus.EUICC_UPGRADE_SERVICE_UNAVAILABLE.name


P = Phase
STATES = list(Phase)
FINAL = [P.SUCCESSFUL, P.ALREADY_LATEST]

TRANSITIONS: list[TransitionSpec] = [
    {"trigger": "check", "source": P.IDLE, "dest": P.CHECKING},
    {"trigger": "service_unavailable", "source": [P.IDLE, P.CHECKING], "dest": P.SERVICE_UNAVAILABLE},
    {"trigger": "already_latest", "source": P.CHECKING, "dest": P.ALREADY_LATEST},
    {"trigger": "start", "source": P.CHECKING, "dest": P.IN_PROGRESS},
    {"trigger": "succeed", "source": P.IN_PROGRESS, "dest": P.SUCCESSFUL},
    {"trigger": "fail", "source": [P.CHECKING, P.IN_PROGRESS], "dest": P.FAILED},
    {"trigger": "retry", "source": [P.FAILED, P.SERVICE_UNAVAILABLE], "dest": P.CHECKING},
]


O = OsuStatus

REPORTS: dict[tuple[Phase, OsuStatus], list[str]] = {
    (P.IDLE, O.EUICC_UPGRADE_SERVICE_UNAVAILABLE): ["service_unavailable"],
    (P.CHECKING, O.EUICC_UPGRADE_SERVICE_UNAVAILABLE): ["service_unavailable"],
    (P.CHECKING, O.EUICC_UPGRADE_ALREADY_LATEST): ["already_latest"],
    (P.CHECKING, O.EUICC_UPGRADE_IN_PROGRESS): ["start"],
    (P.CHECKING, O.EUICC_UPGRADE_SUCCESSFUL): ["start", "succeed"],  # done within the call that started it
    (P.CHECKING, O.EUICC_UPGRADE_FAILED): ["fail"],
    (P.IN_PROGRESS, O.EUICC_UPGRADE_IN_PROGRESS): [],  # still loading: poll again
    (P.IN_PROGRESS, O.EUICC_UPGRADE_SUCCESSFUL): ["succeed"],
    (P.IN_PROGRESS, O.EUICC_UPGRADE_FAILED): ["fail"],
    (P.IN_PROGRESS, O.EUICC_UPGRADE_SERVICE_UNAVAILABLE): ["fail"],  # lost mid-update: a failed update
}
"""(where the update stands, what the card reported) -> the triggers that follow the report."""


class OsUpdate(StateModel, label="OsUpdate", states=STATES, transitions=TRANSITIONS,
               initial=P.IDLE, final=FINAL):
    """One eUICC OS update attempt and the OsuStatus it reports."""

    def __init__(self, eid: str | None = None, *, state: Phase | str = P.IDLE) -> None:
        super().__init__(state)
        self.subject = eid

    @property
    def phase(self) -> Phase:
        return Phase(self.state)

    @property
    def osu_status(self) -> OsuStatus | None:
        """The OpenHarmony answer for the current phase (None while idle or checking)."""
        return OsuStatus[self.state] if self.state in OsuStatus.__members__ else None

    @classmethod
    def diagram_notes(cls) -> str:
        rows = [f"| {phase} | {status.name} | {', '.join(triggers) or '- (stays)'} |"
                for (phase, status), triggers in REPORTS.items()]
        return "\n".join(["## What each report of the card fires", "",
                          "| update in | card reports | triggers |", "| --- | --- | --- |", *rows])

    def report(self, reported: OsuStatus | int) -> OsuStatus:
        """Follow the card's report (``REPORTS``) and answer the OsuStatus the update stands at;
        raises IllegalTransition for a report that cannot follow the current phase."""
        status = OsuStatus(int(reported))
        triggers = REPORTS.get((self.phase, status))
        if triggers is None:
            legal = ", ".join(sorted(s.name for phase, s in REPORTS if phase == self.phase)) or "none"
            raise IllegalTransition(
                f"{self.machine.label}: a report of {status.name} cannot follow {self.state} (reports "
                f"that can: {legal})", machine=self.machine.label, trigger="report", state=self.state)
        for trigger in triggers:
            self.fire(trigger, reason=status.name)
        return OsuStatus[self.state]

    def give_up(self) -> OsuStatus:
        """The polling budget is spent and the card still reports the update in progress: it
        ends as FAILED."""
        self.fire("fail", reason="still in progress after the polling budget")
        return OsuStatus[self.state]
