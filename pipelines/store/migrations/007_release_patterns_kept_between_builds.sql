-- Migration 7: each wave's joint-protection pattern kept between builds.
-- Frozen: never edit a released migration; add a new file instead.

CREATE TABLE release_patterns (
            wave VARCHAR NOT NULL PRIMARY KEY,
            fingerprint VARCHAR NOT NULL,
            labels VARCHAR NOT NULL,
            built_at TIMESTAMP NOT NULL
        );
