"""Bulk fleet migration's domain: what a fleet is and how its outcomes are kept.

``fleet`` reads and validates fleet files, ``model`` holds the inputs, results and pacing state,
``policy`` the pacing rules, ``store`` keeps fleets and outcomes, ``report`` writes the
per-device report and ``client`` starts and steers migrations. The workflows are
``workflows.bulk_migration`` and ``workflows.device_migration``, their steps
``activities.migration`` and the worker ``workers.migration``. See ``docs/migration.md``.
"""
