"""The virtual eUICC: an SGP.22 v2.2 eUICC in software, reachable in-process or through vpcd."""
from rsplab.euicc.card import DEFAULT_ATR, ECASD_AID, ISDR_AID, VirtualEuicc
from rsplab.euicc.config import ANY_OPERATOR, EuiccConfig, OperatorId, RatRule
from rsplab.euicc.faults import Faults
from rsplab.euicc.identity import EuiccCredential, EuiccIdentity
from rsplab.euicc.osu import build_os_image
from rsplab.euicc.state import StateFileError

__all__ = [
    "ANY_OPERATOR", "DEFAULT_ATR", "ECASD_AID", "ISDR_AID", "EuiccConfig", "EuiccCredential", "EuiccIdentity",
    "Faults", "OperatorId", "RatRule", "StateFileError", "VirtualEuicc", "build_os_image",
]
