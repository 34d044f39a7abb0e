-- Commands that follow a link between streams by a field of an event (the
-- intent rounds of a plan batch, the selection batches of a task item) find
-- the streams by the event's type in the log itself (events.Store.StreamsWith);
-- this index keeps that to the few events of the type.
CREATE INDEX events_type_idx ON events (type);
