-- Migration 6: turnover (aggregate separations per unit and period).
-- Frozen: never edit a released migration; add a new file instead.

CREATE TABLE turnover (
            upload_id VARCHAR NOT NULL,
            period VARCHAR NOT NULL,          -- a survey wave label or a year
            site VARCHAR NOT NULL,
            department VARCHAR NOT NULL,
            role VARCHAR NOT NULL,
            headcount_at_start INTEGER NOT NULL,
            leavers INTEGER NOT NULL,
            voluntary_leavers INTEGER,
            involuntary_leavers INTEGER,
            period_months DOUBLE              -- months over which leavers were counted (NULL: 24)
        );
