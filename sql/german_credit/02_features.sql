-- Derived features. Each is computed from one row only, so the online handler computes
-- exactly the same values from a raw applicant record.
SELECT
  *,
  CAST(credit_amount AS DOUBLE) / duration_months AS monthly_amount,
  ln(CAST(credit_amount AS DOUBLE))               AS log_credit_amount,
  CASE
    WHEN age < 25 THEN 'under_25'
    WHEN age < 40 THEN '25_to_39'
    WHEN age < 60 THEN '40_to_59'
    ELSE '60_plus'
  END                                             AS age_band,
  -- Protected attributes, measured for fair lending and never features (pipeline.toml).
  CASE WHEN personal_status_and_sex LIKE 'female%' THEN 'female' ELSE 'male' END AS sex,
  CASE WHEN personal_status_and_sex LIKE '%single%' THEN 'single' ELSE 'not single' END
                                                  AS marital_status,
  age                                             AS age_years
FROM clean
