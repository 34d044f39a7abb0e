-- The event log. Rows are appended by the application (as keytask_writer) and never
-- changed: a trigger refuses UPDATE, DELETE and TRUNCATE for everyone, and the writer
-- role has no UPDATE or DELETE grant in the first place.
CREATE TABLE events (
	-- seq orders the events of one transaction; (tx_id, seq) is the commit-safe order
	-- in which the sealer links events into the hash chain.
	seq            bigint GENERATED ALWAYS AS IDENTITY,
	id             uuid        PRIMARY KEY,
	stream_id      text        NOT NULL CHECK (stream_id <> ''),
	stream_version bigint      NOT NULL CHECK (stream_version > 0),
	type           text        NOT NULL CHECK (type <> ''),
	schema_version int         NOT NULL CHECK (schema_version > 0),
	-- json, not jsonb: the log keeps the exact bytes it was given, which the
	-- hash chain and the MAC cover.
	data           json        NOT NULL,
	metadata       json        NOT NULL,
	recorded_at    timestamptz NOT NULL,
	-- HMAC-SHA-256 of the event under the platform's log key (see events.MAC):
	-- whoever can write to the database but lacks the key cannot forge a row.
	mac            bytea,
	tx_id          xid8        NOT NULL DEFAULT pg_current_xact_id(),
	CONSTRAINT events_stream_version_key UNIQUE (stream_id, stream_version)
);
CREATE INDEX events_tx_seq_idx ON events (tx_id, seq);

-- The hash chain. The sealer links committed events in (tx_id, seq) order, never
-- passing a transaction that is still open, and gives each a dense global position:
-- hash(n) = SHA-256(hash(n-1) || position || canonical encoding of event n).
CREATE TABLE event_chain (
	position bigint PRIMARY KEY CHECK (position > 0),
	event_id uuid   NOT NULL UNIQUE,
	tx_id    xid8   NOT NULL,
	seq      bigint NOT NULL,
	hash     bytea  NOT NULL CHECK (length(hash) = 32)
);

CREATE FUNCTION keytask_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	RAISE EXCEPTION 'keytask: % on % is forbidden: the event log is append-only', TG_OP, TG_TABLE_NAME
		USING ERRCODE = 'insufficient_privilege';
END $$;

CREATE TRIGGER events_append_only BEFORE UPDATE OR DELETE ON events
	FOR EACH ROW EXECUTE FUNCTION keytask_append_only();
CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON events
	FOR EACH STATEMENT EXECUTE FUNCTION keytask_append_only();
CREATE TRIGGER event_chain_append_only BEFORE UPDATE OR DELETE ON event_chain
	FOR EACH ROW EXECUTE FUNCTION keytask_append_only();
CREATE TRIGGER event_chain_no_truncate BEFORE TRUNCATE ON event_chain
	FOR EACH STATEMENT EXECUTE FUNCTION keytask_append_only();

REVOKE ALL ON events, event_chain FROM PUBLIC;
GRANT SELECT, INSERT ON events, event_chain TO keytask_writer;
-- Read models, Watermill offsets and the like are created and owned by the writer.
GRANT USAGE, CREATE ON SCHEMA public TO keytask_writer;

-- Watermill's message table for the "events" topic, in watermill-sql's default
-- Postgres layout. Messages are inserted in the append transaction, so the log and
-- the stream of messages can never diverge.
CREATE TABLE watermill_events (
	"offset"         bigserial,
	"uuid"           varchar(36) NOT NULL,
	"created_at"     timestamp   NOT NULL DEFAULT CURRENT_TIMESTAMP,
	"payload"        json        DEFAULT NULL,
	"metadata"       json        DEFAULT NULL,
	"transaction_id" xid8        NOT NULL,
	PRIMARY KEY ("transaction_id", "offset")
);
CREATE TRIGGER watermill_events_append_only BEFORE UPDATE OR DELETE ON watermill_events
	FOR EACH ROW EXECUTE FUNCTION keytask_append_only();
GRANT SELECT, INSERT ON watermill_events TO keytask_writer;
GRANT USAGE ON SEQUENCE watermill_events_offset_seq TO keytask_writer;

-- Watermill's per-consumer-group offsets for the "events" topic. After a restore
-- from backup these must be reset (see deploy/README.md); projection checkpoints
-- make any redelivery harmless.
CREATE TABLE watermill_offsets_events (
	consumer_group                varchar(255) NOT NULL PRIMARY KEY,
	offset_acked                  bigint,
	last_processed_transaction_id xid8 NOT NULL
);
GRANT SELECT, INSERT, UPDATE ON watermill_offsets_events TO keytask_writer;
