"""What the lab SM-DP+ keeps, as its SQLite tables: profiles, their packages, owners and access
rules, the status history, the notifications handled and the eUICCs it has met. The table
definitions in one place to read; ``rsplab.smdp.inventory`` reads and writes them."""

SCHEMA_VERSION = 1

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS profiles (
    iccid TEXT PRIMARY KEY,
    matching_id TEXT NOT NULL UNIQUE,
    cc_hash BLOB,
    cc_failures INTEGER NOT NULL DEFAULT 0,
    cc_retry_limit INTEGER NOT NULL,
    eid TEXT,
    profile_class TEXT NOT NULL,
    ppr1 INTEGER NOT NULL,
    ppr2 INTEGER NOT NULL,
    released INTEGER NOT NULL,
    reusable INTEGER NOT NULL,
    size INTEGER,
    service_provider_name TEXT NOT NULL,
    profile_name TEXT NOT NULL,
    icon_type INTEGER,
    icon BLOB,
    status TEXT NOT NULL,
    downloaded_eid TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS profiles_by_eid ON profiles (eid, status);
CREATE TABLE IF NOT EXISTS history (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    iccid TEXT NOT NULL,
    at TEXT NOT NULL,
    event TEXT NOT NULL,
    from_status TEXT,
    to_status TEXT,
    reason TEXT,
    error TEXT,
    eid TEXT
);
CREATE INDEX IF NOT EXISTS history_by_iccid ON history (iccid, id);
CREATE TABLE IF NOT EXISTS notifications (
    eid TEXT NOT NULL,
    seq INTEGER NOT NULL,
    iccid TEXT NOT NULL,
    event TEXT NOT NULL,
    at TEXT NOT NULL,
    PRIMARY KEY (eid, iccid, seq)
);
CREATE TABLE IF NOT EXISTS packages (
    iccid TEXT PRIMARY KEY,
    der BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS access_rules (
    iccid TEXT NOT NULL,
    position INTEGER NOT NULL,
    certificate_hash BLOB NOT NULL,
    package_name TEXT,
    permissions INTEGER NOT NULL,
    PRIMARY KEY (iccid, position)
);
CREATE TABLE IF NOT EXISTS profile_owners (
    iccid TEXT PRIMARY KEY,
    mcc_mnc BLOB NOT NULL,
    gid1 BLOB,
    gid2 BLOB
);
CREATE TABLE IF NOT EXISTS euiccs (
    eid TEXT PRIMARY KEY,
    euicc_certificate BLOB NOT NULL,
    eum_certificate BLOB NOT NULL,
    last_seen TEXT NOT NULL
);
"""
