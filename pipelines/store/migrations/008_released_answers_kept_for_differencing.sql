-- Migration 8: what the stored release was computed from, as one hash per distinct answer row per cell
-- (no keys, no identifiers), so the next build can count how many people's answers changed since
-- (pipelines/release/history.py).
-- Frozen: never edit a released migration; add a new file instead.

CREATE TABLE released_answers (
            wave VARCHAR,
            site VARCHAR,
            department VARCHAR,
            role VARCHAR,
            row_hash UBIGINT NOT NULL,
            n BIGINT NOT NULL
        );
