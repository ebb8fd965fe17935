"""An eUICC OS update as OpenHarmony reports it: the five ``OsuStatus`` outcomes, reached from
idle (no update service at all) or from checking the installed version against the offered one.

SUCCESSFUL and ALREADY_LATEST end an update. FAILED and SERVICE_UNAVAILABLE can be retried,
which starts a new check; an update in progress only ends as SUCCESSFUL or FAILED (a card lost
mid-update is a failed update, never "unavailable").
"""
from __future__ import annotations

from enum import StrEnum

from sgp22.es10_enums import OsuStatus

from esimflow.machines.base import StateModel, TransitionSpec


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
