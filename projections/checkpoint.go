package projections

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	wsql "github.com/ThreeDotsLabs/watermill-sql/v4/pkg/sql"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"keytask/events"
)

// setupLock serialises schema setup across processes: two CREATE TABLE IF NOT
// EXISTS racing on the same name fail with a unique violation in pg_type.
// (events uses 7_462_011 and 7_462_012.)
const setupLock = 7_462_013

// The checkpoint table is created by the writer role, like every read model, so
// the application needs no migration to add a projection. schema_version and
// tables say which shape the live read model has and which tables hold it
// (NULL: version 1, the tables were not recorded).
const checkpointsDDL = `CREATE TABLE IF NOT EXISTS projection_checkpoints (
	name             text PRIMARY KEY,
	tx_id            xid8        NOT NULL DEFAULT '0',
	seq              bigint      NOT NULL DEFAULT 0,
	events           bigint      NOT NULL DEFAULT 0,
	last_recorded_at timestamptz,
	updated_at       timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE projection_checkpoints ADD COLUMN IF NOT EXISTS schema_version int,
	ADD COLUMN IF NOT EXISTS tables text[]`

// ErrSchemaVersion is returned when a projection's live read model has another
// schema version than the code applying events to it. A projector rebuilds a
// model of an older version by itself (Rebuild) before it applies events to
// it; one that meets a newer version belongs to an older release and stops,
// leaving the event to the newer release rather than parking it.
var ErrSchemaVersion = errors.New("read model has another schema version")

// ErrNoCheckpoint is returned when a projection is used before Setup created its
// checkpoint.
var ErrNoCheckpoint = errors.New("projection has no checkpoint (run Setup first)")

// Checkpoint is how far a projection has moved through the log, in commit order.
type Checkpoint struct {
	Name           string
	Order          events.Order // the last event applied (or skipped as poison)
	Events         int64        // events applied since the last rebuild (or since the start)
	LastRecordedAt time.Time    // recorded_at of the last applied event; zero if none
	UpdatedAt      time.Time
}

// Setup creates the checkpoint table, the poison topic's table and the tables of
// every projection, and gives each projection a checkpoint at the start of the
// log if it has none. It is idempotent and safe to run from several processes.
func Setup(ctx context.Context, pool *pgxpool.Pool, ps ...Projection) error {
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, setupLock); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, checkpointsDDL); err != nil {
			return fmt.Errorf("create projection_checkpoints: %w", err)
		}
		// The poison table exists from the start so that operators can always
		// query it, not only after the first poisoned event.
		qs, err := wsql.DefaultPostgreSQLSchema{}.SchemaInitializingQueries(wsql.SchemaInitializingQueriesParams{Topic: PoisonTopic})
		if err != nil {
			return err
		}
		for _, q := range qs {
			if _, err := tx.Exec(ctx, q.Query, q.Args...); err != nil {
				return fmt.Errorf("create poison table: %w", err)
			}
		}
		for _, p := range ps {
			if err := setupOne(ctx, tx, p); err != nil {
				return fmt.Errorf("set up projection %s: %w", p.Name(), err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("projections setup: %w", err)
	}
	return nil
}

// setupOne creates p's tables and checkpoint. A new checkpoint records p's
// schema version and the tables its Setup created. A live model of another
// version is left as it is, serving readers, until Rebuild replaces it: its
// tables have the old shape, which p's Setup may not even apply to.
func setupOne(ctx context.Context, tx pgx.Tx, p Projection) error {
	var version int
	err := tx.QueryRow(ctx, `SELECT coalesce(schema_version, 1) FROM projection_checkpoints WHERE name = $1`, p.Name()).Scan(&version)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		before, err := listTables(ctx, tx, "")
		if err != nil {
			return err
		}
		if err := p.Setup(ctx, tx); err != nil {
			return err
		}
		after, err := listTables(ctx, tx, "")
		if err != nil {
			return err
		}
		created := slices.DeleteFunc(after, func(t string) bool { return slices.Contains(before, t) })
		if _, err := tx.Exec(ctx, `INSERT INTO projection_checkpoints (name, schema_version, tables) VALUES ($1, $2, $3)
			ON CONFLICT DO NOTHING`, p.Name(), p.SchemaVersion(), created); err != nil {
			return fmt.Errorf("create checkpoint: %w", err)
		}
		return nil
	case err != nil:
		return fmt.Errorf("read checkpoint: %w", err)
	case version != p.SchemaVersion():
		return nil
	}
	return p.Setup(ctx, tx)
}

// listTables lists the ordinary tables of schema, or of the first schema on
// the search_path when schema is empty.
func listTables(ctx context.Context, tx pgx.Tx, schema string) ([]string, error) {
	rows, err := tx.Query(ctx, `SELECT c.relname FROM pg_class c
		WHERE c.relkind IN ('r', 'p') AND c.relnamespace = coalesce(to_regnamespace(nullif($1, '')), to_regnamespace(current_schema()))::oid
		ORDER BY c.relname`, schema)
	if err != nil {
		return nil, fmt.Errorf("list tables: %w", err)
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// lockedCheckpoint is a checkpoint row locked by its transaction.
type lockedCheckpoint struct {
	order   events.Order
	version int      // the live model's schema version
	tables  []string // the live model's tables; nil if never recorded
}

// lockCheckpoint reads a projection's checkpoint and locks it until tx ends, so
// that one event, or one rebuild, is applied at a time.
func lockCheckpoint(ctx context.Context, tx pgx.Tx, name string) (lockedCheckpoint, error) {
	var c lockedCheckpoint
	var txText string
	err := tx.QueryRow(ctx, `SELECT tx_id::text, seq, coalesce(schema_version, 1), tables FROM projection_checkpoints WHERE name = $1 FOR UPDATE`, name).
		Scan(&txText, &c.order.Seq, &c.version, &c.tables)
	if errors.Is(err, pgx.ErrNoRows) {
		return c, fmt.Errorf("%s: %w", name, ErrNoCheckpoint)
	}
	if err != nil {
		return c, fmt.Errorf("read checkpoint of %s: %w", name, err)
	}
	c.order.TxID, err = strconv.ParseUint(txText, 10, 64)
	return c, err
}

// schemaVersions returns the live schema version of each named projection
// that has a checkpoint.
func schemaVersions(ctx context.Context, q Querier, names []string) (map[string]int, error) {
	rows, err := q.Query(ctx, `SELECT name, coalesce(schema_version, 1) FROM projection_checkpoints WHERE name = ANY($1)`, names)
	if err != nil {
		return nil, fmt.Errorf("read schema versions: %w", err)
	}
	out := map[string]int{}
	var name string
	var v int
	_, err = pgx.ForEachRow(rows, []any{&name, &v}, func() error { out[name] = v; return nil })
	if err != nil {
		return nil, fmt.Errorf("read schema versions: %w", err)
	}
	return out, nil
}

// liveBatch is the most events one live transaction applies. Each projection
// transaction holds back Watermill delivery to every consumer while it is open
// (see Rebuild), so a batch must stay short; a few hundred events take well
// under a second.
const liveBatch = 200

// live is what one projection's handler remembers between messages. A handler
// receives one message at a time, so it needs no lock.
type live struct {
	// applied is an order the checkpoint is known to have reached. Checkpoints
	// only move forward (a rebuild ends at or after the live checkpoint), so a
	// notice at or before it is a redelivery or an event a batch already applied,
	// and is acknowledged without touching the database.
	applied events.Order
	// fence, when set, is an event that failed inside a batch started by an
	// earlier notice. Batches stop before it, so that the events before it are
	// applied and a failing event fails only its own message, which Retry and
	// PoisonQueue then handle as before. It is cleared when its own notice comes.
	fence    events.Order
	hasFence bool
}

// applyThrough brings p up to the event a notice announces: in each
// transaction it locks the checkpoint, reads the committed events after it (up
// to liveBatch, never past an open transaction) and applies them, moving the
// checkpoint to the last. A backlog of notices therefore costs one transaction
// per batch instead of one per event, and the notices a batch covered are then
// skipped in memory. applied is false when the notice's event had been applied
// before (a redelivery). The error of a failed commit is returned, so the message
// is retried rather than acknowledged.
func applyThrough(ctx context.Context, pool *pgxpool.Pool, store *events.Store, p Projection, st *live, n events.Notice) (applied bool, err error) {
	if !n.Order.After(st.applied) {
		return false, nil
	}
	if st.hasFence && !st.fence.After(n.Order) {
		st.hasFence = false // this is the failing event's own message: try it again
	}
	for {
		reached, count, failed, err := applyBatch(ctx, pool, store, p, st, n)
		if err != nil {
			return applied, err
		}
		if failed != nil {
			// An event after the notice's failed; apply up to it without it.
			st.fence, st.hasFence = *failed, true
			continue
		}
		applied = applied || count > 0
		if reached.After(st.applied) {
			st.applied = reached
		}
		if !n.Order.After(reached) {
			return applied, nil
		}
	}
}

// applyBatch is one transaction of applyThrough. It returns the checkpoint it
// leaves; failed is set (and nothing committed) when an event after the
// notice's could not be applied.
func applyBatch(ctx context.Context, pool *pgxpool.Pool, store *events.Store, p Projection, st *live, n events.Notice) (reached events.Order, count int, failed *events.Order, err error) {
	tx, err := pool.Begin(ctx)
	if err != nil {
		return reached, 0, nil, err
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // a no-op after commit
	locked, err := lockCheckpoint(ctx, tx, p.Name())
	if err != nil {
		return reached, 0, nil, err
	}
	if locked.version != p.SchemaVersion() {
		return reached, 0, nil, fmt.Errorf("%s is at schema version %d, this process applies version %d: %w",
			p.Name(), locked.version, p.SchemaVersion(), ErrSchemaVersion)
	}
	cp := locked.order
	if !n.Order.After(cp) {
		return cp, 0, nil, nil // applied before, here or by another projector
	}
	evs, err := store.ReadCommittedIn(ctx, tx, cp, liveBatch)
	if err != nil {
		return reached, 0, nil, err
	}
	if st.hasFence {
		evs = slices.DeleteFunc(evs, func(e events.Event) bool { return !st.fence.After(e.Order) })
	}
	if len(evs) == 0 {
		// The notice's event was committed before it was delivered, so it is
		// readable; the log and the topic disagree.
		return reached, 0, nil, fmt.Errorf("event %s at order %v is not in the log after the checkpoint %v", n.ID, n.Order, cp)
	}
	for _, e := range evs {
		if e.Order == n.Order && e.ID != n.ID {
			// The checkpoint is only sound if messages and events agree on order.
			return reached, 0, nil, fmt.Errorf("event %s is at order %v, its message says %s", e.ID, e.Order, n.ID)
		}
		if err := p.Apply(ctx, tx, e); err != nil {
			if ctx.Err() != nil || !e.Order.After(n.Order) {
				return reached, 0, nil, err
			}
			o := e.Order
			return reached, 0, &o, nil
		}
	}
	last := evs[len(evs)-1]
	// A failure from here on (a deferred constraint fails only at COMMIT)
	// cannot be laid on one event. If the batch went past the notice's event,
	// it is tried again without the events after it, so that only the event at
	// fault fails its own message.
	blame := func(err error) (events.Order, int, *events.Order, error) {
		if ctx.Err() == nil {
			if i := slices.IndexFunc(evs, func(e events.Event) bool { return e.Order.After(n.Order) }); i >= 0 {
				o := evs[i].Order
				return reached, 0, &o, nil
			}
		}
		return reached, 0, nil, err
	}
	if _, err := tx.Exec(ctx, `UPDATE projection_checkpoints
		SET tx_id = $2::text::xid8, seq = $3, events = events + $5, last_recorded_at = $4, updated_at = now()
		WHERE name = $1`, p.Name(), strconv.FormatUint(last.Order.TxID, 10), last.Order.Seq, last.RecordedAt, len(evs)); err != nil {
		return blame(fmt.Errorf("advance checkpoint of %s: %w", p.Name(), err))
	}
	if err := tx.Commit(ctx); err != nil {
		return blame(fmt.Errorf("commit %s: %w", p.Name(), err))
	}
	return last.Order, len(evs), nil, nil
}

// skipPast moves a checkpoint past an event without applying it. The projector
// does this for a poisoned event, which Watermill acknowledges after parking it
// in the poison topic: the checkpoint then says truthfully how far the live model
// has got, and WaitCaughtUp does not wait for an event that will never come back.
func skipPast(ctx context.Context, pool *pgxpool.Pool, name string, o events.Order) error {
	_, err := pool.Exec(ctx, `UPDATE projection_checkpoints SET tx_id = $2::text::xid8, seq = $3, updated_at = now()
		WHERE name = $1 AND (tx_id, seq) < ($2::text::xid8, $3)`, name, strconv.FormatUint(o.TxID, 10), o.Seq)
	if err != nil {
		return fmt.Errorf("skip checkpoint of %s past poisoned event: %w", name, err)
	}
	return nil
}

// Status is a projection's checkpoint and how far it is behind the log.
type Status struct {
	Checkpoint
	LagEvents       int64     // committed events after the checkpoint
	OldestUnapplied time.Time // recorded_at of the oldest of them; zero when caught up
}

// ReadStatus returns the status of the named projections (all that have a
// checkpoint if names is empty), ordered by name.
func ReadStatus(ctx context.Context, q Querier, names ...string) ([]Status, error) {
	if names == nil {
		names = []string{} // pgx sends a nil slice as NULL, which matches nothing
	}
	rows, err := q.Query(ctx, `SELECT c.name, c.tx_id::text, c.seq, c.events, c.last_recorded_at, c.updated_at, l.n, l.oldest
		FROM projection_checkpoints c
		CROSS JOIN LATERAL (SELECT count(*), min(e.recorded_at) FROM events e WHERE (e.tx_id, e.seq) > (c.tx_id, c.seq)) AS l(n, oldest)
		WHERE cardinality($1::text[]) = 0 OR c.name = ANY($1)
		ORDER BY c.name`, names)
	if err != nil {
		return nil, fmt.Errorf("read projection status: %w", err)
	}
	defer rows.Close()
	var out []Status
	for rows.Next() {
		var s Status
		var txText string
		var last, oldest *time.Time
		if err := rows.Scan(&s.Name, &txText, &s.Order.Seq, &s.Events, &last, &s.UpdatedAt, &s.LagEvents, &oldest); err != nil {
			return nil, fmt.Errorf("read projection status: %w", err)
		}
		if s.Order.TxID, err = strconv.ParseUint(txText, 10, 64); err != nil {
			return nil, err
		}
		if last != nil {
			s.LastRecordedAt = *last
		}
		if oldest != nil {
			s.OldestUnapplied = *oldest
		}
		out = append(out, s)
	}
	return out, rows.Err()
}
