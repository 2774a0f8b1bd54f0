-- Migration 2: inbox column, settings and audit log.
-- Frozen: never edit a released migration; add a new file instead.

ALTER TABLE responses ADD COLUMN inbox_messages_per_day DOUBLE;

CREATE TABLE settings (
            key VARCHAR PRIMARY KEY,
            value JSON NOT NULL,
            updated_by VARCHAR,
            updated_at TIMESTAMP NOT NULL
        );

CREATE TABLE audit_log (
            logged_at TIMESTAMP NOT NULL,
            actor VARCHAR,
            action VARCHAR NOT NULL,
            object VARCHAR,
            outcome VARCHAR NOT NULL,
            detail JSON
        );

CREATE INDEX responses_wave ON responses (wave);

CREATE INDEX responses_upload ON responses (upload_id);
