"""The lab's virtual cellular modem: a pseudo-terminal that speaks the AT commands of a modem's
UICC access (AT+CCHO/CGLA/CCHC, AT+CSIM) in front of a virtual eUICC, with fault injection."""
from rsplab.modem.at_server import AtInterpreter
from rsplab.modem.faults import ModemFaults
from rsplab.modem.virtual_modem import VirtualModem

__all__ = ["AtInterpreter", "ModemFaults", "VirtualModem"]
