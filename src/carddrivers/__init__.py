"""Card drivers: every way esimflow reaches an eUICC, behind the protocol library's
``sgp22.apdu.CardTransport``.

- ``pcsc``: PC/SC readers through pcscd (pyscard),
- ``local``: in-process cards (the virtual eUICC, scripted test cards),
- ``at``: cellular modems over a serial AT port (pyserial): ``AT+CCHO``/``AT+CGLA``/``AT+CCHC``
  logical channels, or ``AT+CSIM`` on the basic channel.

``carddrivers.spec`` turns a reader spec (``pcsc:<reader>``, ``local:<name>``,
``at:<device>?baud=...&mode=cgla|csim``) into an open transport. The protocol library never
imports this package (tests/test_layering.py), so a new driver (QMI, MBIM: docs/card-drivers.md)
needs no change there.
"""
