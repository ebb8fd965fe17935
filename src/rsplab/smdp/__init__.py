"""The lab SM-DP+: ES9+ and a lab SM-DS (ES11) over TLS, a SQLite profile inventory that follows
the operator platform's status model, admin through HTTP and the CLI, and fault injection.

``rsplab.smdp.server.LabSmdp`` runs one on 127.0.0.1 for tests, benchmarks and ``esimflow lab up``.
"""
