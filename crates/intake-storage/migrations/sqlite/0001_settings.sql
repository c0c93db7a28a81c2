-- Named values the application keeps for itself, such as the development
-- secret key that every instance sharing this database must agree on.
-- STRICT makes SQLite refuse a value of the wrong type instead of storing it.
CREATE TABLE settings (
    name       TEXT PRIMARY KEY NOT NULL,
    value      BLOB NOT NULL,
    -- UTC, RFC 3339 with milliseconds: sorts as text and parses everywhere.
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
) STRICT;
