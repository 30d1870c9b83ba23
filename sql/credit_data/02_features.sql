-- Affordability ratios, each from one row. A ratio over a zero or missing denominator is
-- NULL (then imputed), never an infinity.
SELECT
  *,
  CAST(Amount AS DOUBLE) / Price                                       AS loan_to_price,
  CASE WHEN Income > 0 THEN CAST(Amount AS DOUBLE) / Income END        AS loan_to_income,
  CASE WHEN Income > 0 THEN CAST(Expenses AS DOUBLE) / Income END      AS expenses_to_income,
  CASE WHEN Assets > 0 THEN COALESCE(Debt, 0) / Assets END             AS debt_to_assets,
  ln(1 + COALESCE(Assets, 0))                                          AS log_assets
FROM clean
