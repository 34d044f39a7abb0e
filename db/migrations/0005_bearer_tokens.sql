-- Bearer tokens of API clients, kept like sessions: state the application
-- changes in place, holding only the SHA-256 of each token. The event log
-- records that a token was issued or revoked, never the token or its hash.
-- Tokens recorded in the log before this table existed were handed to whoever
-- registered their user; none of them is carried over.
CREATE TABLE bearer_tokens (
	token_id       text        PRIMARY KEY,
	user_id        text        NOT NULL,
	token_hash     text        NOT NULL UNIQUE CHECK (token_hash ~ '^[0-9a-f]{64}$'),
	label          text        NOT NULL,
	created_at     timestamptz NOT NULL DEFAULT now(),
	expires_at     timestamptz NOT NULL CHECK (expires_at > created_at),
	revoked_at     timestamptz,
	revoked_reason text,
	CHECK ((revoked_at IS NULL) = (revoked_reason IS NULL))
);
CREATE INDEX bearer_tokens_user_id_idx ON bearer_tokens (user_id);

REVOKE ALL ON bearer_tokens FROM PUBLIC;
GRANT SELECT, INSERT, UPDATE ON bearer_tokens TO keytask_writer;
