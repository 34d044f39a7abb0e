-- Login by password and browser sessions. Neither belongs in the event log: a
-- password hash there would be kept forever where auditors read, and a session
-- is a short-lived fact about a browser, not about the key tasks. Both tables
-- are state the application changes in place; nothing is rebuilt from them.

-- credentials holds each user's argon2id password hash (PHC string) and the
-- count of failed logins since the last success, which drives the lockout.
CREATE TABLE credentials (
	user_id       text        PRIMARY KEY,
	password_hash text        NOT NULL CHECK (password_hash LIKE '$argon2id$%'),
	changed_at    timestamptz NOT NULL DEFAULT now(),
	failed_logins int         NOT NULL DEFAULT 0 CHECK (failed_logins >= 0),
	locked_until  timestamptz
);

-- sessions are the logged-in browsers. Only the SHA-256 of the cookie's value is
-- stored, so a leaked table logs nobody in. csrf_token is the synchronizer token
-- every form of the session carries.
CREATE TABLE sessions (
	id_hash    text        PRIMARY KEY CHECK (id_hash ~ '^[0-9a-f]{64}$'),
	user_id    text        NOT NULL,
	csrf_token text        NOT NULL,
	created_at timestamptz NOT NULL DEFAULT now(),
	expires_at timestamptz NOT NULL
);
CREATE INDEX sessions_user_id_idx ON sessions (user_id);

REVOKE ALL ON credentials, sessions FROM PUBLIC;
GRANT SELECT, INSERT, UPDATE, DELETE ON credentials, sessions TO keytask_writer;
