-- Migration 4: model results kept between builds.
-- Frozen: never edit a released migration; add a new file instead.

CREATE TABLE model_cache (
            wave VARCHAR NOT NULL,
            part VARCHAR NOT NULL,
            name VARCHAR NOT NULL,
            fingerprint VARCHAR NOT NULL,
            payload BLOB NOT NULL,
            built_at TIMESTAMP NOT NULL,
            PRIMARY KEY (wave, part, name)
        );
