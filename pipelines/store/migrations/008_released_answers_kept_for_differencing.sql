-- Migration 8: what the stored release was computed from, as one hash per distinct answer row per cell
-- (no keys, no identifiers), so the next build can count how many people's answers changed since
-- (pipelines/release/history.py); and per wave the uploads behind it, so unchanged waves are not hashed again.
-- Frozen: never edit a released migration; add a new file instead.

CREATE TABLE released_answers (
            wave VARCHAR,
            site VARCHAR,
            department VARCHAR,
            role VARCHAR,
            row_hash UBIGINT NOT NULL,
            n BIGINT NOT NULL
        );

CREATE TABLE released_waves (
            wave VARCHAR NOT NULL PRIMARY KEY,
            signature VARCHAR NOT NULL
        );
