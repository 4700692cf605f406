DROP TABLE approvals;
DROP TABLE reset_tokens;
DROP INDEX tokens_user;
ALTER TABLE tokens DROP COLUMN scope;
ALTER TABLE devices DROP COLUMN mobile_sites;
ALTER TABLE users DROP COLUMN must_change_password;
ALTER TABLE users DROP COLUMN disabled_at;
