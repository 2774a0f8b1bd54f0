-- Migration 5: placeholder for the turnover branch (the real 005 comes from another branch; delete this file on merge).
SELECT 1;
