"""Temporal search attributes that make esimflow workflows findable by eUICC, profile,
operation and outcome, in the Temporal UI and with ``temporal workflow list --query``::

    EsimEid = '89049032123451234512345678901235'
    EsimIccid = '8944476500001224158'           (a keyword list: old and new profile of a migration)
    EsimOperation = 'Migration' AND EsimOutcome = 'rolled_back'
    EsimMigrationId = 'mig-3f2a9c1b0d4e'

They hold identifiers only, never an activation code, a matching ID or a confirmation code:
search attributes are stored and indexed in plain text by the server (the payload codec does not
cover them).

A workflow may set them only once the server knows them (an unknown attribute fails the start
or the workflow task), so clients register them first (:func:`ensure_registered`: the dev
server takes them as ``--search-attribute NAME=TYPE`` flags, see :data:`DEV_SERVER_FLAGS`;
self-hosted clusters through the operator service; Temporal Cloud through its namespace
settings) and tell the workflows whether they may upsert.

Imported inside the workflow sandbox: no I/O at import time.
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from temporalio.common import SearchAttributeKey, SearchAttributePair, TypedSearchAttributes

if TYPE_CHECKING:
    from temporalio.client import Client

EID = SearchAttributeKey.for_keyword("EsimEid")
ICCID = SearchAttributeKey.for_keyword_list("EsimIccid")
OPERATION = SearchAttributeKey.for_keyword("EsimOperation")
OUTCOME = SearchAttributeKey.for_keyword("EsimOutcome")
MIGRATION_ID = SearchAttributeKey.for_keyword("EsimMigrationId")

ALL_KEYS = (EID, ICCID, OPERATION, OUTCOME, MIGRATION_ID)

_TYPE_NAMES = {"KEYWORD": "Keyword", "KEYWORD_LIST": "KeywordList"}

SEARCH_ATTRIBUTES: dict[str, str] = {key.name: _TYPE_NAMES[key.indexed_value_type.name] for key in ALL_KEYS}
"""name -> type, as ``esimflow.workers.devstack.start_dev_server(search_attributes=...)`` takes them."""

DEV_SERVER_FLAGS: list[str] = [arg for name, kind in SEARCH_ATTRIBUTES.items()
                               for arg in ("--search-attribute", f"{name}={kind}")]


def attributes(*, eid: str | None = None, iccids: Iterable[str | None] = (), operation: str | None = None,
               outcome: str | None = None, migration_id: str | None = None) -> TypedSearchAttributes:
    """The attributes to start a workflow with (given values only)."""
    pairs: list[SearchAttributePair] = []
    if eid:
        pairs.append(SearchAttributePair(EID, eid))
    found = _iccids(iccids)
    if found:
        pairs.append(SearchAttributePair(ICCID, found))
    if operation:
        pairs.append(SearchAttributePair(OPERATION, operation))
    if outcome:
        pairs.append(SearchAttributePair(OUTCOME, outcome))
    if migration_id:
        pairs.append(SearchAttributePair(MIGRATION_ID, migration_id))
    return TypedSearchAttributes(pairs)


def upsert(*, iccids: Iterable[str | None] = (), outcome: str | None = None) -> None:
    """From inside a workflow: record the profiles it touched and how it ended."""
    from temporalio import workflow

    updates = []
    found = _iccids(iccids)
    if found:
        updates.append(ICCID.value_set(found))
    if outcome:
        updates.append(OUTCOME.value_set(outcome))
    if updates:
        workflow.upsert_search_attributes(updates)


def _iccids(iccids: Iterable[str | None]) -> list[str]:
    seen: list[str] = []
    for iccid in iccids:
        if iccid and iccid not in seen:
            seen.append(iccid)
    return seen


async def missing(client: Client) -> list[str]:
    """Names of esimflow's attributes the client's namespace does not know yet."""
    from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest

    known = await client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=client.namespace))
    present = set(known.custom_attributes) | set(known.system_attributes)
    return [name for name in SEARCH_ATTRIBUTES if name not in present]


async def ensure_registered(client: Client) -> bool:
    """Register any missing attribute; True when all are usable. False (nothing raised) when
    the server does not let this client register them (Temporal Cloud, a restricted role):
    workflows then run without them rather than fail."""
    from temporalio.api.enums.v1 import IndexedValueType
    from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
    from temporalio.service import RPCError, RPCStatusCode

    try:
        absent = await missing(client)
        if not absent:
            return True
        types = {name: IndexedValueType.Value(f"INDEXED_VALUE_TYPE_{kind.upper().replace('LIST', '_LIST')}")
                 for name, kind in SEARCH_ATTRIBUTES.items() if name in absent}
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(namespace=client.namespace, search_attributes=types))
    except RPCError as error:
        if error.status == RPCStatusCode.ALREADY_EXISTS:
            return True
        return False
    return not await missing(client)
