-- Every generated column passes through (the features are whatever appgen.py wrote, for
-- any --cols), plus one affordability ratio. A ratio over a zero or missing income is
-- NULL (then imputed), never an infinity.
SELECT
  *,
  CASE WHEN annual_income > 0 THEN instalment * 12 / annual_income END AS instalment_to_income
FROM raw
