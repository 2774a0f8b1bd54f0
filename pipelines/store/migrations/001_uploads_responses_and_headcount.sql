-- Migration 1: uploads, responses and headcount.
-- Frozen: never edit a released migration; add a new file instead.

CREATE TABLE uploads (
            upload_id VARCHAR PRIMARY KEY,
            kind VARCHAR NOT NULL,            -- 'responses' or 'headcount'
            file_name VARCHAR NOT NULL,
            sha256 VARCHAR NOT NULL,
            detected_format VARCHAR NOT NULL,
            wave VARCHAR,
            uploaded_by VARCHAR,
            uploaded_at TIMESTAMP NOT NULL,
            rows_read BIGINT NOT NULL,
            rows_loaded BIGINT NOT NULL,
            rows_rejected BIGINT NOT NULL,
            dropped_columns VARCHAR[],
            warnings BIGINT NOT NULL DEFAULT 0
        );

CREATE TABLE responses (
    response_key VARCHAR,
    upload_id VARCHAR,
    wave VARCHAR,
    site VARCHAR,
    department VARCHAR,
    role VARCHAR,
    specialty VARCHAR,
    tenure_band VARCHAR,
    age_band VARCHAR,
    gender VARCHAR,
    clinical_fte DOUBLE,
    call_nights_per_month INTEGER,
    ehr_after_hours_per_week DOUBLE,
    burnout_level TINYINT,
    stress TINYINT,
    satisfaction TINYINT,
    work_control TINYINT,
    documentation_time TINYINT,
    ehr_home_time TINYINT,
    ehr_frustration TINYINT,
    teamwork TINYINT,
    values_alignment TINYINT,
    work_atmosphere TINYINT,
    feel_valued TINYINT,
    intent_to_leave TINYINT,
    intent_to_reduce_fte BOOLEAN,
    leave_path VARCHAR,
    leave_reasons VARCHAR[]
);

CREATE TABLE headcount (
            upload_id VARCHAR NOT NULL,
            wave VARCHAR,
            site VARCHAR NOT NULL,
            department VARCHAR NOT NULL,
            role VARCHAR NOT NULL,
            headcount INTEGER NOT NULL,
            replacement_cost DOUBLE
        );
