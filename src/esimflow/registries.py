"""Which device registry a host uses: the single-host SQLite file (``esimflow.devices``) or the
one kept in Temporal (``esimflow.routing.registry``). It sits above both so that neither has to
import the other to choose."""
from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from esimflow.config import TEMPORAL_REGISTRY
from esimflow.devices import DeviceRegistry
from esimflow.routing.registry import TemporalDeviceRegistry
from sgp22.errors import BadInputError

if TYPE_CHECKING:
    from temporalio.client import Client


def open_registry(location: Path | str, client: Client | None = None, *, task_queue: str | None = None,
                  lease: timedelta | None = None) -> DeviceRegistry | TemporalDeviceRegistry:
    """``temporal`` (needs the client; ``task_queue``: the engine's workflow queue the routing
    workflows run on, ``lease``: a card host's, None for the Temporal registry's defaults), else
    the SQLite registry file at ``location``."""
    if str(location) != TEMPORAL_REGISTRY:
        return DeviceRegistry(location)
    if client is None:
        raise BadInputError("the temporal device registry needs a Temporal client")
    chosen = {name: value for name, value in (("task_queue", task_queue), ("lease", lease)) if value is not None}
    return TemporalDeviceRegistry(client, **chosen)
