-- What each Idempotency-Key was first sent with: the caller, the request line
-- and the SHA-256 of the JSON body. The same key sent again with another body
-- is refused (422) before any command runs; with the same body the command's
-- own idempotency answers the first outcome again. Like sessions, this is
-- state the application keeps beside the log, not part of the record: the log
-- holds the events the first request caused.
CREATE TABLE idempotency_keys (
	actor_id    text        NOT NULL,
	request     text        NOT NULL, -- "POST /api/v1/intent-rounds"
	key         text        NOT NULL CHECK (key ~ '^[A-Za-z0-9._:-]{1,128}$'),
	body_sha256 text        NOT NULL CHECK (body_sha256 ~ '^[0-9a-f]{64}$'),
	created_at  timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (actor_id, request, key)
);

REVOKE ALL ON idempotency_keys FROM PUBLIC;
GRANT SELECT, INSERT, DELETE ON idempotency_keys TO keytask_writer;
