"""The lab SM-DS (ES11): the same mutual authentication, answered with event entries.

An event is a released AVAILABLE profile bound to the authenticated EID; its eventId is the
profile's matching ID and its rspServerAddress the lab SM-DP+, so the LPA downloads it from
there with that matching ID exactly as it would after an SM-DS lookup in the field.
"""
from __future__ import annotations

from rsplab.smdp.authentication import authenticate_client, initiate_authentication, session_for
from rsplab.smdp.config import SmdpConfig
from rsplab.smdp.inventory import Inventory
from rsplab.smdp.sessions import SessionStore
from sgp22.es9_functions import ES11


class Es11Service:
    def __init__(self, config: SmdpConfig, smdp_address: str, inventory: Inventory, sessions: SessionStore) -> None:
        self.config = config
        self.smdp_address = smdp_address
        self.inventory = inventory
        self.sessions = sessions

    def initiate_authentication(self, body: dict) -> dict:
        return initiate_authentication(self.config, self.sessions, body, "es11")

    def authenticate_client(self, body: dict) -> dict:
        session = session_for(self.sessions, body, "es11")
        try:
            euicc = authenticate_client(self.config, session, body)
        finally:
            self.sessions.close(session)
        self.inventory.remember_euicc(euicc.eid, euicc.euicc_der, euicc.eum_der)
        return ES11.authenticate_client.encode_response({
            "transactionId": session.transaction_id_hex,
            "eventEntries": [
                {"eventId": profile.matching_id, "rspServerAddress": self.smdp_address}
                for profile in self.inventory.waiting_for(euicc.eid)
            ],
        })
