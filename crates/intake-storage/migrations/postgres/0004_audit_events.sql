-- The audit trail (SPEC section 9): one row per security-relevant event,
-- append-only, each row chained to the one before it by a MAC.
--
-- sequence: 1, 2, 3... with no gap. intake picks it (the last one plus one)
-- inside the transaction that appends, which holds an EXCLUSIVE lock on the
-- table, so a missing number means a deleted row. (A sequence object would
-- leave gaps at every rolled-back append.)
--
-- The ids are not foreign keys on purpose: the trail must outlive the users
-- and organizations it names, and record events about ids that never existed
-- (a refused login names no user).
--
-- mac: HMAC-SHA-256, in hex, over the row's other columns and previous_mac
-- (see intake-storage's `audit` module). The first row's previous_mac is a
-- fixed genesis value. The key never reaches the database.
CREATE TABLE audit_events (
    sequence        BIGINT PRIMARY KEY CHECK (sequence > 0),
    occurred_at     TIMESTAMPTZ NOT NULL,
    event           TEXT NOT NULL CHECK (event <> ''),
    outcome         TEXT NOT NULL CHECK (outcome IN ('success', 'failure')),
    security        BOOLEAN NOT NULL,
    actor_user_id   TEXT,
    organization_id TEXT,
    client_ip       TEXT,
    request_id      TEXT,
    resource_type   TEXT,
    resource_id     TEXT,
    previous_mac    TEXT NOT NULL,
    mac             TEXT NOT NULL
);

-- GET /api/audit reads one organization's events in sequence order.
CREATE INDEX audit_events_organization ON audit_events (organization_id, sequence);

-- Append-only. These stop mistakes and casual tampering; the owner of the
-- table can drop a trigger and then edit rows, and that is what the MAC
-- chain detects. Granting intake's role only INSERT and SELECT on this table
-- is the stronger control where the deployment allows it.
CREATE FUNCTION audit_events_refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_events is append-only: % refused', TG_OP;
END;
$$;

CREATE TRIGGER audit_events_refuse_update_delete
    BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_refuse_change();

CREATE TRIGGER audit_events_refuse_truncate
    BEFORE TRUNCATE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION audit_events_refuse_change();
