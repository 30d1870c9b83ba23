-- German credit as shipped: 20 applicant attributes and the outcome (good / bad).
-- Shorter names for the features; the values are used as they come (none are missing).
SELECT
  status_of_existing_checking_account                      AS checking_account,
  duration_in_month                                        AS duration_months,
  credit_history,
  purpose,
  credit_amount,
  savings_account_and_bonds                                AS savings,
  present_employment_since                                 AS employment_since,
  installment_rate_in_percentage_of_disposable_income      AS installment_rate,
  personal_status_and_sex,
  other_debtors_or_guarantors                              AS other_debtors,
  present_residence_since                                  AS residence_since,
  property,
  age_in_years                                             AS age,
  other_installment_plans,
  housing,
  number_of_existing_credits_at_this_bank                  AS existing_credits,
  job,
  number_of_people_being_liable_to_provide_maintenance_for AS dependants,
  telephone,
  foreign_worker,
  creditability
FROM raw
WHERE credit_amount > 0 AND duration_in_month > 0
