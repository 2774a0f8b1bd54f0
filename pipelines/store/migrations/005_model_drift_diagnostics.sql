-- Migration 5: temporal validation in the model diagnostics (last wave's model scored on this wave).
-- Frozen: never edit a released migration; add a new file instead.

ALTER TABLE model_diagnostics ADD COLUMN previous_wave VARCHAR;
ALTER TABLE model_diagnostics ADD COLUMN previous_auroc DOUBLE;
ALTER TABLE model_diagnostics ADD COLUMN previous_observed_expected DOUBLE;
ALTER TABLE model_diagnostics ADD COLUMN previous_calibration_slope DOUBLE;
ALTER TABLE model_diagnostics ADD COLUMN drift BOOLEAN;
ALTER TABLE model_diagnostics ADD COLUMN drift_warning VARCHAR;
