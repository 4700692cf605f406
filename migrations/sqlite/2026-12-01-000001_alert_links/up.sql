-- The biometric links (match cases) each alert rests on, so that a different_person decision
-- that breaks a link can withdraw the alerts that counted its two records as one person.
CREATE TABLE alert_links (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    alert_id TEXT NOT NULL,
    case_id TEXT NOT NULL
);
CREATE INDEX alert_links_case ON alert_links (case_id);
CREATE INDEX alert_links_alert ON alert_links (alert_id);

-- Alerts withdrawn because a link they rested on was decided different_person.
CREATE TABLE alert_withdrawals (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    alert_id TEXT NOT NULL UNIQUE,
    case_id TEXT NOT NULL,
    at TIMESTAMP NOT NULL
);

-- The biometric identity is walked along match cases from either side.
CREATE INDEX identity_cases_a ON match_cases (record_a);
CREATE INDEX identity_cases_b ON match_cases (record_b);
