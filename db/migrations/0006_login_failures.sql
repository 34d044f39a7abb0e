-- The lockout's per-address part: wrong passwords for one account from one
-- client address. That address is locked out of that account after a few in a
-- row, so nobody locks an account from one address; credentials.failed_logins
-- still counts every address and locks the account only after many more.
CREATE TABLE login_failures (
	user_id      text        NOT NULL,
	address      text        NOT NULL,
	failed       int         NOT NULL DEFAULT 0 CHECK (failed >= 0),
	locked_until timestamptz,
	last_at      timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (user_id, address)
);

REVOKE ALL ON login_failures FROM PUBLIC;
GRANT SELECT, INSERT, UPDATE, DELETE ON login_failures TO keytask_writer;
