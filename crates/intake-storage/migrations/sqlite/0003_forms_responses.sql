-- Forms, their versions, and the responses pinned to them (SPEC section 8).
--
-- A form is one `forms` row (who owns it, its status, which versions exist
-- and which one answers) plus one `form_versions` row per version (what it
-- asks). Publishing freezes the latest version; editing a published form
-- adds a version; a response names the exact version it answered.
--
-- Tenant isolation is also structural: a form's creator, a response's form
-- and a response's respondent must belong to the row's own organization,
-- through foreign keys on (organization_id, id) pairs.

-- The parent key for those pairs. `id` alone is already unique, so this
-- index only exists because a foreign key needs one to point at.
CREATE UNIQUE INDEX users_organization_id_id ON users (organization_id, id);

-- status: `draft` until first published, then `active`, `retired` at the
-- end (reads still work, responses are refused).
--
-- latest_version: the newest version, the one edits go to.
-- published_version: the version responses answer now; NULL until the
-- first publish. Versions are only added on top of a published one, so it
-- is the latest version or the one before.
CREATE TABLE forms (
    id                TEXT PRIMARY KEY NOT NULL,
    organization_id   TEXT NOT NULL REFERENCES organizations (id),
    status            TEXT NOT NULL DEFAULT 'draft'
                      CHECK (status IN ('draft', 'active', 'retired')),
    latest_version    INTEGER NOT NULL DEFAULT 1 CHECK (latest_version >= 1),
    published_version INTEGER,
    created_by        TEXT NOT NULL,
    -- UTC, RFC 3339 with milliseconds, as in every table.
    created_at        TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    updated_at        TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    UNIQUE (organization_id, id),
    FOREIGN KEY (organization_id, created_by) REFERENCES users (organization_id, id),
    CHECK (published_version IS NULL
           OR published_version IN (latest_version - 1, latest_version)),
    CHECK (status = 'retired' OR (status = 'draft') = (published_version IS NULL))
) STRICT;

CREATE INDEX forms_organization_id_created_at ON forms (organization_id, created_at);

-- definition: the form's FHIR Questionnaire items as JSON text, stored as
-- given (not re-encoded) so a version reads back byte for byte.
--
-- published_at: set once, when the version is published; from then on the
-- row never changes (the triggers below refuse it, whatever the caller).
CREATE TABLE form_versions (
    form_id      TEXT NOT NULL REFERENCES forms (id),
    version      INTEGER NOT NULL CHECK (version >= 1),
    title        TEXT NOT NULL,
    description  TEXT,
    definition   TEXT NOT NULL,
    published_at TEXT,
    created_at   TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    PRIMARY KEY (form_id, version)
) STRICT;

CREATE TRIGGER form_versions_published_are_frozen
BEFORE UPDATE ON form_versions
WHEN OLD.published_at IS NOT NULL
BEGIN
    SELECT RAISE(ABORT, 'a published form version cannot change');
END;

CREATE TRIGGER form_versions_published_are_kept
BEFORE DELETE ON form_versions
WHEN OLD.published_at IS NOT NULL
BEGIN
    SELECT RAISE(ABORT, 'a published form version cannot be deleted');
END;

-- A response is PHI. content: the QuestionnaireResponse items as JSON text,
-- stored as given.
--
-- authored_at: when the database stored it; the server's clock, not the
-- client's claim.
CREATE TABLE responses (
    id              TEXT PRIMARY KEY NOT NULL,
    organization_id TEXT NOT NULL REFERENCES organizations (id),
    form_id         TEXT NOT NULL,
    form_version    INTEGER NOT NULL,
    respondent_id   TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('completed', 'in-progress')),
    content         TEXT NOT NULL,
    authored_at     TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    created_at      TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    FOREIGN KEY (organization_id, form_id) REFERENCES forms (organization_id, id),
    FOREIGN KEY (form_id, form_version) REFERENCES form_versions (form_id, version),
    FOREIGN KEY (organization_id, respondent_id) REFERENCES users (organization_id, id)
) STRICT;

CREATE INDEX responses_form ON responses (organization_id, form_id, authored_at);
CREATE INDEX responses_form_version ON responses (form_id, form_version);
CREATE INDEX responses_respondent ON responses (organization_id, respondent_id);
