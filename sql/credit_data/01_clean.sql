-- Cleaning. The source marks unknown money amounts with the sentinel 99999999 (modeldata
-- already turned most into NA); any left become NULL here and are imputed after the split.
SELECT
  rownames,
  Status,
  Seniority,
  Home,
  Time,
  Age,
  Age                      AS age_years,
  Marital,
  Records,
  Job,
  Expenses,
  NULLIF(Income, 99999999) AS Income,
  NULLIF(Assets, 99999999) AS Assets,
  NULLIF(Debt, 99999999)   AS Debt,
  Amount,
  Price
FROM raw
WHERE Status IS NOT NULL
