"""Bulk fleet migration: move thousands of eUICCs from one profile to another, durably.

``fleet`` reads and validates fleet files, ``store`` keeps fleets and outcomes, ``bulk`` and
``device`` are the workflows, ``activities`` their steps, ``client`` starts and steers them,
``report`` writes the per-device report, ``worker`` builds the migration worker. See
``docs/migration.md``.
"""
