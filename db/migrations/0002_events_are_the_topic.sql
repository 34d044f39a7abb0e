-- The event log itself is the Watermill topic: the "events" topic's message table
-- becomes a view over the log, in watermill-sql's default Postgres layout. An
-- append is then its own publication — one row, committed once — and there is no
-- second copy that could diverge from the log. Subscribers read it in
-- (transaction_id, offset) order, which is the log's (tx_id, seq) order and is
-- served by events_tx_seq_idx.
DROP TABLE watermill_events;
CREATE VIEW watermill_events AS
	SELECT e.seq AS "offset",
	       e.id::text AS "uuid",
	       e.recorded_at AS "created_at",
	       json_build_object('id', e.id, 'order', json_build_object('tx_id', e.tx_id::text::numeric, 'seq', e.seq)) AS "payload",
	       json_build_object('type', e.type, 'stream_id', e.stream_id) AS "metadata",
	       e.tx_id AS "transaction_id"
	FROM events e;
GRANT SELECT ON watermill_events TO keytask_writer;
