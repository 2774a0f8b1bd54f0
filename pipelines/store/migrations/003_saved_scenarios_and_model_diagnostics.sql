-- Migration 3: saved scenarios and model diagnostics.
-- Frozen: never edit a released migration; add a new file instead.

CREATE TABLE scenarios (
            name VARCHAR PRIMARY KEY,
            levers JSON NOT NULL,
            scope JSON NOT NULL,
            results JSON NOT NULL,
            created_by VARCHAR,
            created_at TIMESTAMP NOT NULL
        );

CREATE TABLE model_diagnostics (
            wave VARCHAR NOT NULL,
            model VARCHAR NOT NULL,
            n_respondents BIGINT,
            n_fit BIGINT,
            n_events BIGINT,
            auroc DOUBLE,
            auroc_sd DOUBLE,
            observed_expected DOUBLE,
            calibration_slope DOUBLE,
            verdict VARCHAR,
            calibration_curve JSON,
            method JSON,
            built_at TIMESTAMP NOT NULL
        );
