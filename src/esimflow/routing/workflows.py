"""The two small workflows that route operations to cards.

- ``CardLocation`` (``card-<EID>``): the last announcement of one eUICC: which card host
  serves it, in which reader, on which queue its operations run. A card host announces with
  signal-with-start, so the first announcement starts it and the last one wins (a card moved to
  another host is routed there from its next operation). A withdrawal by the host that owns the
  card ends it; a withdrawal by a host the card has left is ignored. The announcement is also
  the workflow's memo, so ``esimflow devices`` lists every card from one visibility query.
- ``CardHost`` (``card-host-<NAME>``): whether a card host is alive. The host signals it every
  third of its lease; when a lease runs out without a signal (the host was killed, or cut off
  from Temporal) the workflow marks the host gone, a server timer deciding, so no host clock
  matters. Cards announced by a gone host are not found, which bounds how long an operation
  for them can wait.

What a lookup needs is in each workflow's memo (the device; whether the host is alive), so the
engine reads it with DescribeWorkflowExecution: served by the Temporal server from the
workflow's state, without a worker replaying anything, however busy the workers are. The
queries say the same, for operators.

Both run on the engine's workflow queue, carry their whole state across continue-as-new, and
keep a handful of events per card.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from esimflow.contract import DeviceInfo

CARD_LOCATION_WORKFLOW = "CardLocation"
CARD_HOST_WORKFLOW = "CardHost"
SIGNAL_ANNOUNCE = "announce"
SIGNAL_WITHDRAW = "withdraw"
SIGNAL_ALIVE = "alive"
SIGNAL_RETIRE = "retire"
QUERY_LOCATION = "location"
QUERY_LIVENESS = "liveness"
MEMO_DEVICE = "device"
MEMO_ALIVE = "alive"
SIGNALS_PER_RUN = 200
"""Signals one run takes before it continues as new: a card that moves or a host that renews
for months keeps a short history."""
GONE_HOST_KEPT = timedelta(days=7)
"""How long a gone host's workflow waits for the host to come back before it ends."""


def card_location_id(eid: str) -> str:
    return f"card-{eid}"


def card_host_id(card_host: str) -> str:
    return f"card-host-{card_host}"


@dataclass
class Announcement:
    device: DeviceInfo


@dataclass
class Withdrawal:
    card_host: str


@dataclass
class CardLocationState:
    """Carried across continue-as-new; the answer to the ``location`` query."""

    eid: str
    device: DeviceInfo | None = None
    moves: int = 0  # announcements by a host other than the previous owner


@workflow.defn(name=CARD_LOCATION_WORKFLOW)
class CardLocationWorkflow:
    @workflow.init
    def __init__(self, state: CardLocationState) -> None:
        self._state = state
        self._signals = 0

    @workflow.run
    async def run(self, state: CardLocationState) -> CardLocationState:
        while True:
            seen = self._signals
            await workflow.wait_condition(lambda: self._signals != seen)
            if self._state.device is None:
                await workflow.wait_condition(workflow.all_handlers_finished)
                if self._state.device is None:
                    return self._state  # withdrawn: no host serves the card
            if self._signals >= SIGNALS_PER_RUN:
                await workflow.wait_condition(workflow.all_handlers_finished)
                workflow.continue_as_new(self._state)

    @workflow.signal(name=SIGNAL_ANNOUNCE)
    def announce(self, announcement: Announcement) -> None:
        device = announcement.device
        if device.eid != self._state.eid:
            workflow.logger.warning("announcement of eUICC %s sent to the location of %s ignored",
                                    device.eid, self._state.eid)
            return
        previous = self._state.device
        if previous is not None and previous.card_host != device.card_host:
            self._state.moves += 1
        self._state.device = device
        self._signals += 1
        if previous != device:
            workflow.upsert_memo({MEMO_DEVICE: device})

    @workflow.signal(name=SIGNAL_WITHDRAW)
    def withdraw(self, withdrawal: Withdrawal) -> None:
        self._signals += 1
        if self._state.device is not None and self._state.device.card_host == withdrawal.card_host:
            self._state.device = None
            workflow.upsert_memo({MEMO_DEVICE: None})

    @workflow.query(name=QUERY_LOCATION)
    def location(self) -> CardLocationState:
        return self._state


@dataclass
class Beat:
    lease_seconds: float
    cards: int = 0


@dataclass
class CardHostState:
    """Carried across continue-as-new; the answer to the ``liveness`` query."""

    card_host: str
    lease_seconds: float = 60.0
    alive: bool = True
    cards: int = 0
    beats: int = 0
    retired: bool = False
    last_beat: str = field(default="")  # workflow time of the last signal, for operators


@workflow.defn(name=CARD_HOST_WORKFLOW)
class CardHostWorkflow:
    @workflow.init
    def __init__(self, state: CardHostState) -> None:
        self._state = state
        self._signals = 0

    @workflow.run
    async def run(self, state: CardHostState) -> CardHostState:
        while not self._state.retired:
            seen = self._signals
            wait = timedelta(seconds=self._state.lease_seconds) if self._state.alive else GONE_HOST_KEPT
            try:
                await workflow.wait_condition(lambda: self._signals != seen, timeout=wait)
            except TimeoutError:
                if not self._state.alive:
                    return self._state  # gone for a week: its cards were re-announced elsewhere or are gone
                self._state.alive = False
                workflow.upsert_memo({MEMO_ALIVE: False})
                workflow.logger.warning("card host %s missed its lease of %.0f s", self._state.card_host,
                                        self._state.lease_seconds)
                continue
            if self._signals >= SIGNALS_PER_RUN and not self._state.retired:
                await workflow.wait_condition(workflow.all_handlers_finished)
                workflow.continue_as_new(self._state)
        return self._state

    @workflow.signal(name=SIGNAL_ALIVE)
    def alive(self, beat: Beat) -> None:
        self._signals += 1
        if not self._state.alive:
            workflow.upsert_memo({MEMO_ALIVE: True})
        self._state = replace(self._state, lease_seconds=beat.lease_seconds, alive=True, cards=beat.cards,
                              beats=self._state.beats + 1, retired=False, last_beat=workflow.now().isoformat())

    @workflow.signal(name=SIGNAL_RETIRE)
    def retire(self) -> None:
        """The host stopped (after withdrawing its cards)."""
        self._signals += 1
        self._state = replace(self._state, alive=False, retired=True)
        workflow.upsert_memo({MEMO_ALIVE: False})

    @workflow.query(name=QUERY_LIVENESS)
    def liveness(self) -> CardHostState:
        return self._state


ROUTING_WORKFLOWS = [CardLocationWorkflow, CardHostWorkflow]
