"""The ISD-R's ES10a/b/c functions: one reassembled STORE DATA request in, one response out.

Requests are recognised by their outer tag and decoded with ``sgp22.codec``; a request that
does not decode answers ``6A80`` and an unknown function ``6A88`` (APDU-level errors), while
every functional refusal is a ``9000`` answer carrying the SGP.22 result code. A bound profile
package may arrive in many STORE DATA sequences, each ending at an element boundary: while one
is being loaded, a sequence that does not open another ES10 function continues it, and one that
ends inside an element ends the load with an error result.
"""
from __future__ import annotations

from collections.abc import Callable

from sgp22 import codec
from sgp22.errors import MalformedDataError

from rsplab.euicc.apdu_io import SW_DATA_NOT_FOUND, SW_WRONG_DATA, ApduStatus
from rsplab.euicc.bpp_stream import peek_header
from rsplab.euicc.config import EuiccConfig
from rsplab.euicc.crl import load_crl
from rsplab.euicc.download import DownloadFunctions
from rsplab.euicc.euicc_info import euicc_info1, euicc_info2
from rsplab.euicc.faults import Faults
from rsplab.euicc.identity import EuiccIdentity
from rsplab.euicc.notifications import list_response, retrieve_response
from rsplab.euicc.profiles import ProfileFunctions
from rsplab.euicc.state import StateStore

NOTIFICATION_REMOVED, NOTHING_TO_DELETE = 0, 1
LPAE_NOT_SUPPORTED = 1


class Es10Server:
    def __init__(self, identity: EuiccIdentity, store: StateStore, config: EuiccConfig, faults: Faults) -> None:
        self.identity = identity
        self.store = store
        self.config = config
        self.download = DownloadFunctions(identity, config, store)
        self.profiles = ProfileFunctions(identity, config, store, faults, lambda: self.download.session is not None)
        # tag -> (request type, handler taking the decoded request and the raw bytes)
        self._functions: dict[int, tuple[str, Callable[[object, bytes], bytes | None]]] = {
            0xBF3E: ("GetEuiccDataRequest", lambda req, raw: self._get_eid()),
            0xBF20: ("GetEuiccInfo1Request", lambda req, raw: euicc_info1(identity, config)),
            0xBF22: ("GetEuiccInfo2Request", lambda req, raw: euicc_info2(identity, config, store.state)),
            0xBF2E: ("GetEuiccChallengeRequest", lambda req, raw: self.download.get_challenge()),
            0xBF38: (None, lambda req, raw: self.download.authenticate_server(raw)),
            0xBF21: (None, lambda req, raw: self.download.prepare_download(raw)),
            0xBF36: (None, lambda req, raw: self.download.load_bound_profile_package(raw)),
            0xBF41: (None, lambda req, raw: self.download.cancel_session(raw)),
            0xBF28: ("ListNotificationRequest", lambda req, raw: list_response(store.state, req)),
            0xBF2B: ("RetrieveNotificationsListRequest", lambda req, raw: retrieve_response(store.state, req)),
            0xBF30: ("NotificationSentRequest", lambda req, raw: self._remove_notification(req)),
            0xBF2D: ("ProfileInfoListRequest", lambda req, raw: self.profiles.get_profiles_info(req)),
            0xBF31: ("EnableProfileRequest", lambda req, raw: self.profiles.enable(req)),
            0xBF32: ("DisableProfileRequest", lambda req, raw: self.profiles.disable(req)),
            0xBF33: ("DeleteProfileRequest", lambda req, raw: self.profiles.delete(req)),
            0xBF34: ("EuiccMemoryResetRequest", lambda req, raw: self.profiles.memory_reset(req)),
            0xBF29: ("SetNicknameRequest", lambda req, raw: self.profiles.set_nickname(req)),
            0xBF43: ("GetRatRequest", lambda req, raw: self.profiles.get_rat()),
            0xBF3C: ("EuiccConfiguredAddressesRequest", lambda req, raw: self._configured_addresses()),
            0xBF3F: ("SetDefaultDpAddressRequest", lambda req, raw: self._set_default_dp_address(req)),
            0xBF35: ("LoadCRLRequest", lambda req, raw: load_crl(identity, store, req)),
            0xBF42: ("LpaeActivationRequest", lambda req, raw: codec.encode(
                "LpaeActivationResponse", {"lpaeActivationResult": LPAE_NOT_SUPPORTED})),
        }

    def reset(self) -> None:
        self.download.reset()

    def handle(self, request: bytes) -> bytes | None:
        """Answer one ES10 request (None: accepted, nothing to say yet, as for BPP segments)."""
        loading = self.download.loading
        try:
            header = peek_header(request)
        except MalformedDataError as error:
            if loading:
                return self._load_segment(request)
            raise ApduStatus(SW_WRONG_DATA, str(error)) from error
        tag = header[0] if header is not None else None
        if loading and (tag == 0xBF36 or tag not in self._functions):
            return self._load_segment(request)
        if header is None:
            raise ApduStatus(SW_WRONG_DATA, "ES10 request shorter than its tag and length")
        entry = self._functions.get(tag)
        if entry is None:
            raise ApduStatus(SW_DATA_NOT_FOUND, f"no ES10 function with tag {tag:X}")
        type_name, handler = entry
        decoded = None
        if type_name is not None:
            try:
                decoded = codec.decode(type_name, request)
            except MalformedDataError as error:
                raise ApduStatus(SW_WRONG_DATA, str(error)) from error
        return handler(decoded, request)

    def _load_segment(self, segment: bytes) -> bytes | None:
        """One STORE DATA sequence of a BPP. The LPA cuts a BPP at element boundaries
        (SGP.22 2.5.5), so a sequence that ends inside an element is a broken session: the load
        ends here with its error result, instead of taking whatever comes next (another
        function's request, from any channel) as the missing bytes."""
        answer = self.download.load_bound_profile_package(segment)
        if answer is None and not self.download.loader_at_boundary:
            return self.download.fail_load_inside_element()
        return answer

    # --- small functions

    def _get_eid(self) -> bytes:
        return codec.encode("GetEuiccDataResponse", {"eidValue": bytes.fromhex(self.identity.eid)})

    def _configured_addresses(self) -> bytes:
        value = {"rootDsAddress": self.config.root_ds_address}
        if self.store.state.default_dp_address:
            value["defaultDpAddress"] = self.store.state.default_dp_address
        return codec.encode("EuiccConfiguredAddressesResponse", value)

    def _set_default_dp_address(self, request: dict) -> bytes:
        with self.store.transaction() as state:
            state.default_dp_address = request["defaultDpAddress"] or None
        return codec.encode("SetDefaultDpAddressResponse", {"setDefaultDpAddressResult": 0})

    def _remove_notification(self, request: dict) -> bytes:
        seq = request["seqNumber"]
        if not any(n.seq == seq for n in self.store.state.notifications):
            return codec.encode("NotificationSentResponse", {"deleteNotificationStatus": NOTHING_TO_DELETE})
        with self.store.transaction() as state:
            state.notifications = [n for n in state.notifications if n.seq != seq]
        return codec.encode("NotificationSentResponse", {"deleteNotificationStatus": NOTIFICATION_REMOVED})
