DROP INDEX identity_cases_b;
DROP INDEX identity_cases_a;
DROP TABLE alert_withdrawals;
DROP TABLE alert_links;
