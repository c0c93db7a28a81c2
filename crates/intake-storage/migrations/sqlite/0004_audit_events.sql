-- The audit trail (SPEC section 9): one row per security-relevant event,
-- append-only, each row chained to the one before it by a MAC.
--
-- sequence: 1, 2, 3... with no gap. intake picks it (the last one plus one)
-- inside the transaction that appends, which holds the database's write lock,
-- so a missing number means a deleted row.
--
-- occurred_at: UTC, RFC 3339 with exactly six fractional digits, so that it
-- sorts as text and round-trips to the microsecond the MAC covers.
--
-- The ids are not foreign keys on purpose: the trail must outlive the users
-- and organizations it names, and record events about ids that never existed
-- (a refused login names no user).
--
-- mac: HMAC-SHA-256, in hex, over the row's other columns and previous_mac
-- (see intake-storage's `audit` module). The first row's previous_mac is a
-- fixed genesis value. The key never reaches the database.
CREATE TABLE audit_events (
    sequence        INTEGER PRIMARY KEY NOT NULL CHECK (sequence > 0),
    occurred_at     TEXT NOT NULL,
    event           TEXT NOT NULL CHECK (event <> ''),
    outcome         TEXT NOT NULL CHECK (outcome IN ('success', 'failure')),
    security        INTEGER NOT NULL CHECK (security IN (0, 1)),
    actor_user_id   TEXT,
    organization_id TEXT,
    client_ip       TEXT,
    request_id      TEXT,
    resource_type   TEXT,
    resource_id     TEXT,
    previous_mac    TEXT NOT NULL,
    mac             TEXT NOT NULL
) STRICT;

-- GET /api/audit reads one organization's events in sequence order.
CREATE INDEX audit_events_organization ON audit_events (organization_id, sequence);

-- Append-only. These stop mistakes and casual tampering; whoever can drop a
-- trigger can also edit rows, and that is what the MAC chain detects.
CREATE TRIGGER audit_events_refuse_update BEFORE UPDATE ON audit_events
BEGIN
    SELECT RAISE(ABORT, 'audit_events is append-only');
END;

CREATE TRIGGER audit_events_refuse_delete BEFORE DELETE ON audit_events
BEGIN
    SELECT RAISE(ABORT, 'audit_events is append-only');
END;
