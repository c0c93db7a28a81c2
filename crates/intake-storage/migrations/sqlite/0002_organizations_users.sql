-- Organizations (clinics) and the people who sign in to them.
--
-- Ids are random UUID v4 text made by intake, so instances never coordinate
-- to pick one and an id reveals nothing about how many rows exist.
CREATE TABLE organizations (
    id         TEXT PRIMARY KEY NOT NULL,
    name       TEXT NOT NULL UNIQUE CHECK (name <> ''),
    -- UTC, RFC 3339 with milliseconds, as in every table.
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
) STRICT;

-- A user belongs to exactly one organization.
--
-- email: stored lowercased by intake (which also lowercases what it looks
-- up), and unique across all organizations, not per organization: login
-- names no organization, so an address must lead to exactly one user.
-- NULL for an identity-provider user whose token carried no address; UNIQUE
-- lets any number of NULLs through.
--
-- password_hash: an Argon2id PHC string; NULL for a user who signs in only
-- through the identity provider.
--
-- oidc_issuer, oidc_subject: the identity provider's key for the user, both
-- or neither.
CREATE TABLE users (
    id              TEXT PRIMARY KEY NOT NULL,
    organization_id TEXT NOT NULL REFERENCES organizations (id),
    email           TEXT UNIQUE CHECK (email <> ''),
    role            TEXT NOT NULL CHECK (role IN ('admin', 'staff', 'respondent')),
    password_hash   TEXT,
    oidc_issuer     TEXT,
    oidc_subject    TEXT,
    created_at      TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    UNIQUE (oidc_issuer, oidc_subject),
    CHECK ((oidc_issuer IS NULL) = (oidc_subject IS NULL))
) STRICT;

CREATE INDEX users_organization_id ON users (organization_id);
