-- Balance relative to income is what drives default; income is kept as reported.
SELECT
  rownames,
  "default",
  student,
  balance,
  income,
  CASE WHEN income > 0 THEN balance / income END AS balance_to_income
FROM raw
