-- Named values the application keeps for itself, such as the development
-- secret key that every instance sharing this database must agree on.
CREATE TABLE settings (
    name       TEXT PRIMARY KEY,
    value      BYTEA NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
