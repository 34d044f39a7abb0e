-- Application attachments, content-addressed: a file is stored once under its
-- SHA-256 and never changed, whichever applications refer to it. The events
-- that attach a file name its hash; this table holds the bytes the log should
-- not. Like the log, rows are only ever inserted.
CREATE TABLE attachments (
	sha256     text        PRIMARY KEY CHECK (sha256 ~ '^[0-9a-f]{64}$'),
	size       bigint      NOT NULL CHECK (size >= 0),
	media_type text        NOT NULL CHECK (media_type <> ''),
	data       bytea       NOT NULL CHECK (length(data) = size),
	created_at timestamptz NOT NULL DEFAULT now()
);

CREATE FUNCTION keytask_attachments_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	RAISE EXCEPTION 'keytask: % on % is forbidden: attachments are stored once and never changed', TG_OP, TG_TABLE_NAME
		USING ERRCODE = 'insufficient_privilege';
END $$;

CREATE TRIGGER attachments_immutable BEFORE UPDATE OR DELETE ON attachments
	FOR EACH ROW EXECUTE FUNCTION keytask_attachments_immutable();
CREATE TRIGGER attachments_no_truncate BEFORE TRUNCATE ON attachments
	FOR EACH STATEMENT EXECUTE FUNCTION keytask_attachments_immutable();

REVOKE ALL ON attachments FROM PUBLIC;
GRANT SELECT, INSERT ON attachments TO keytask_writer;
