package projections

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/schollz/progressbar/v3"

	"keytask/events"
)

// rebuildBatch is how many events Rebuild reads, and applies, at a time.
const rebuildBatch = 2000

// readWait is how often Rebuild checks whether the open transactions that hold
// back its reading have ended.
const readWait = 20 * time.Millisecond

// ErrRebuildBehind is returned when a rebuild could not replay as far as it must:
// to the newest event committed when it began and to the live checkpoint.
// Committing it would lose events, since Watermill will not deliver them again.
// It means the log was read inconsistently and should not happen.
var ErrRebuildBehind = errors.New("rebuild ended before the live checkpoint")

// rebuildLock lets one rebuild at a time use the shadow schema. (events uses
// 7_462_011 and 7_462_012, Setup 7_462_013.)
const rebuildLock = 7_462_014

// shadowSchema is where a rebuild builds, beside the live tables in public
// (migration 0007).
const shadowSchema = "keytask_shadow"

// Rebuild builds p's read model afresh from the log, at p's schema version,
// into shadow tables beside the live ones, and swaps them in; it returns the
// rebuilt model's digest. Readers keep the live model, complete, until the swap
// commits and the new one, complete, after: the swap is one transaction that
// locks p's checkpoint, applies the events committed since the shadow was
// built, drops the live tables, moves the shadow tables in their place and sets
// the checkpoint, with the schema version and the tables, to the last event. A
// running projector meanwhile keeps the live model current; it waits for the
// swap on the checkpoint lock and goes on from the new checkpoint, so nothing
// is applied twice or skipped. progress, if not nil, is called after every
// batch with the events replayed and the estimated total. Errors:
// ErrRebuildBehind, and any error of p (an event it cannot apply fails the
// rebuild, and the live model stays as it was).
//
// The shadow is built in batches, each committed on its own, because an open
// transaction holds back Watermill delivery to every consumer (watermill-sql
// reads only below the oldest open transaction); only the swap holds one, for
// the events that arrived during the build.
func Rebuild(ctx context.Context, pool *pgxpool.Pool, store *events.Store, p Projection, progress func(done, total int64)) (digest string, err error) {
	return rebuild(ctx, pool, store, p, progress, false)
}

// rebuildUnlessAt is Rebuild unless p's live model is at p's schema version
// by the time this process may rebuild it: another projector did it meanwhile.
func rebuildUnlessAt(ctx context.Context, pool *pgxpool.Pool, store *events.Store, p Projection) error {
	if _, err := rebuild(ctx, pool, store, p, nil, true); err != nil && !errors.Is(err, errAtVersion) {
		return err
	}
	return nil
}

var errAtVersion = errors.New("the read model is at this schema version already")

func rebuild(ctx context.Context, pool *pgxpool.Pool, store *events.Store, p Projection, progress func(done, total int64), unlessAt bool) (digest string, err error) {
	if progress == nil {
		progress = func(int64, int64) {}
	}
	if err := Setup(ctx, pool, p); err != nil {
		return "", err
	}
	// A connection of its own, out of the pool: its search_path puts the shadow
	// schema first, which no other user of the pool may inherit.
	pc, err := pool.Acquire(ctx)
	if err != nil {
		return "", fmt.Errorf("rebuild %s: %w", p.Name(), err)
	}
	conn := pc.Hijack()
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, rebuildLock); err != nil {
		return "", fmt.Errorf("rebuild %s: lock: %w", p.Name(), err)
	}
	if unlessAt {
		versions, err := schemaVersions(ctx, conn, []string{p.Name()})
		if err != nil {
			return "", err
		}
		if versions[p.Name()] == p.SchemaVersion() {
			return "", errAtVersion
		}
	}
	b := &shadowBuild{conn: conn, store: store, p: p, progress: progress}
	if _, ok := p.(InPlace); ok {
		if digest, err = b.inPlace(ctx, pool); err != nil {
			return "", fmt.Errorf("rebuild %s: %w", p.Name(), err)
		}
		progress(b.done, b.done)
		return digest, nil
	}
	defer b.drop(context.WithoutCancel(ctx))
	if err := b.build(ctx, pool); err != nil {
		return "", fmt.Errorf("rebuild %s: %w", p.Name(), err)
	}
	if digest, err = b.swap(ctx); err != nil {
		return "", fmt.Errorf("rebuild %s: %w", p.Name(), err)
	}
	progress(b.done, b.done)
	return digest, nil
}

// shadowBuild is one rebuild in progress.
type shadowBuild struct {
	conn     *pgx.Conn
	store    *events.Store
	p        Projection
	progress func(done, total int64)
	tables   []string     // the shadow's tables, as p's Setup created them
	last     events.Order // the last event applied to the shadow
	lastAt   time.Time
	done     int64
	total    int64
}

// build creates p's tables in the shadow schema, emptied of what a failed
// rebuild left there, and replays the log into them, batch by batch, up to at
// least the newest event committed when it began.
func (b *shadowBuild) build(ctx context.Context, pool *pgxpool.Pool) error {
	target, err := b.readable(ctx, pool)
	if err != nil {
		return err
	}
	if err := b.clear(ctx); err != nil {
		return err
	}
	if _, err := b.conn.Exec(ctx, `SET search_path = `+shadowSchema+`, public`); err != nil {
		return fmt.Errorf("search_path: %w", err)
	}
	hooks, hasHooks := b.p.(ReplayHooks)
	err = pgx.BeginFunc(ctx, b.conn, func(tx pgx.Tx) error {
		if err := b.p.Setup(ctx, tx); err != nil {
			return fmt.Errorf("setup: %w", err)
		}
		if b.tables, err = listTables(ctx, tx, shadowSchema); err != nil {
			return err
		}
		if hasHooks {
			if err := hooks.BeforeReplay(ctx, tx); err != nil {
				return fmt.Errorf("before replay: %w", err)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	b.progress(0, b.total)

	// Read the next batch on another connection while this one applies the
	// current batch: the two round trips overlap instead of adding up.
	readCtx, stopReading := context.WithCancel(ctx)
	defer stopReading()
	for batch := range readBatches(readCtx, b.store, events.Order{}) {
		if batch.err != nil {
			return batch.err
		}
		if err := pgx.BeginFunc(ctx, b.conn, func(tx pgx.Tx) error { return b.apply(ctx, tx, batch.evs) }); err != nil {
			return err
		}
	}
	if hasHooks {
		if err := pgx.BeginFunc(ctx, b.conn, func(tx pgx.Tx) error { return hooks.AfterReplay(ctx, tx) }); err != nil {
			return fmt.Errorf("after replay: %w", err)
		}
	}
	if target.After(b.last) {
		return fmt.Errorf("replayed up to %v, short of %v committed before it began: %w", b.last, target, ErrRebuildBehind)
	}
	// What was appended during the replay, still outside the swap's transaction.
	for batch := range readBatches(readCtx, b.store, b.last) {
		if batch.err != nil {
			return batch.err
		}
		if err := pgx.BeginFunc(ctx, b.conn, func(tx pgx.Tx) error { return b.apply(ctx, tx, batch.evs) }); err != nil {
			return err
		}
	}
	return nil
}

// readable counts the log for progress and returns its newest event once every
// transaction older than it has ended: a replay must reach at least that far,
// even if some unrelated transaction still open holds ReadCommitted back.
func (b *shadowBuild) readable(ctx context.Context, pool *pgxpool.Pool) (events.Order, error) {
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM events`).Scan(&b.total); err != nil {
		return events.Order{}, fmt.Errorf("count events: %w", err)
	}
	target, _, err := newestEvent(ctx, pool)
	if err != nil {
		return target, err
	}
	return target, waitReadable(ctx, pool, target)
}

// lock begins the rebuild's last transaction and locks p's checkpoint in it,
// which holds the live projector back until the transaction ends.
func (b *shadowBuild) lock(ctx context.Context) (pgx.Tx, lockedCheckpoint, error) {
	tx, err := b.conn.Begin(ctx)
	if err != nil {
		return nil, lockedCheckpoint{}, err
	}
	live, err := lockCheckpoint(ctx, tx, b.p.Name())
	if err != nil {
		_ = tx.Rollback(context.WithoutCancel(ctx))
		return nil, live, err
	}
	return tx, live, nil
}

// apply applies evs to the shadow in tx.
func (b *shadowBuild) apply(ctx context.Context, tx pgx.Tx, evs []events.Event) error {
	if len(evs) == 0 {
		return nil
	}
	if batch, ok := b.p.(BatchApplier); ok {
		if err := batch.ApplyBatch(ctx, tx, evs); err != nil {
			return fmt.Errorf("apply events %s..%s: %w", evs[0].ID, evs[len(evs)-1].ID, err)
		}
	} else {
		for _, e := range evs {
			if err := b.p.Apply(ctx, tx, e); err != nil {
				return fmt.Errorf("apply %s %s (stream %s version %d): %w", e.Type, e.ID, e.StreamID, e.StreamVersion, err)
			}
		}
	}
	last := evs[len(evs)-1]
	b.last, b.lastAt = last.Order, last.RecordedAt
	b.done += int64(len(evs))
	b.progress(b.done, max(b.total, b.done))
	return nil
}

// swap brings the shadow up to the live checkpoint and beyond, under the
// checkpoint's lock, and puts it in the live model's place, all in one
// transaction. It returns the new model's digest.
func (b *shadowBuild) swap(ctx context.Context) (string, error) {
	tx, live, err := b.lock(ctx)
	if err != nil {
		return "", err
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // a no-op after commit
	// Holding the lock gives this transaction an id, below which alone it can
	// read; the live projector, which this lock now holds back, never read
	// past it either, so the shadow reaches the live checkpoint.
	for {
		evs, err := b.store.ReadCommittedIn(ctx, tx, b.last, rebuildBatch)
		if err != nil {
			return "", err
		}
		if err := b.apply(ctx, tx, evs); err != nil {
			return "", err
		}
		if len(evs) < rebuildBatch {
			break
		}
	}
	if live.order.After(b.last) {
		return "", fmt.Errorf("replayed up to %v, live checkpoint is at %v: %w", b.last, live.order, ErrRebuildBehind)
	}
	// The live model's tables as recorded, and any of the same names as the
	// new ones (a model set up before they were recorded).
	old := live.tables
	for _, t := range b.tables {
		if !slices.Contains(old, t) {
			old = append(old, t)
		}
	}
	for _, t := range old {
		if _, err := tx.Exec(ctx, `DROP TABLE IF EXISTS public.`+pgx.Identifier{t}.Sanitize()); err != nil {
			return "", fmt.Errorf("drop live table %s: %w", t, err)
		}
	}
	for _, t := range b.tables {
		if _, err := tx.Exec(ctx, `ALTER TABLE `+pgx.Identifier{shadowSchema, t}.Sanitize()+` SET SCHEMA public`); err != nil {
			return "", fmt.Errorf("move %s into place: %w", t, err)
		}
	}
	return b.finish(ctx, tx, b.tables)
}

// finish sets p's checkpoint to the last event replayed, at p's schema
// version, records the model's tables (nil keeps those recorded), and commits;
// it returns the digest of what it commits.
func (b *shadowBuild) finish(ctx context.Context, tx pgx.Tx, tables []string) (string, error) {
	var lastRecorded *time.Time
	if b.done > 0 {
		lastRecorded = &b.lastAt
	}
	if _, err := tx.Exec(ctx, `UPDATE projection_checkpoints
		SET tx_id = $2::text::xid8, seq = $3, events = $4, last_recorded_at = $5, schema_version = $6,
			tables = coalesce($7, tables), updated_at = now()
		WHERE name = $1`, b.p.Name(), strconv.FormatUint(b.last.TxID, 10), b.last.Seq, b.done, lastRecorded,
		b.p.SchemaVersion(), tables); err != nil {
		return "", fmt.Errorf("set checkpoint: %w", err)
	}
	// The digest of exactly what is committed, before a live event can follow.
	digest, err := b.p.Digest(ctx, tx)
	if err != nil {
		return "", fmt.Errorf("digest: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return "", fmt.Errorf("commit: %w", err)
	}
	return digest, nil
}

// inPlace replays the log into p's live tables after p's Reset, in one
// transaction that holds p's checkpoint lock throughout: readers see the old
// state until it commits.
func (b *shadowBuild) inPlace(ctx context.Context, pool *pgxpool.Pool) (string, error) {
	target, err := b.readable(ctx, pool)
	if err != nil {
		return "", err
	}
	tx, live, err := b.lock(ctx)
	if err != nil {
		return "", err
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // a no-op after commit
	if err := b.p.Reset(ctx, tx); err != nil {
		return "", fmt.Errorf("reset: %w", err)
	}
	b.progress(0, b.total)
	readCtx, stopReading := context.WithCancel(ctx)
	defer stopReading()
	for batch := range readBatches(readCtx, b.store, events.Order{}) {
		if batch.err != nil {
			return "", batch.err
		}
		if err := b.apply(ctx, tx, batch.evs); err != nil {
			return "", err
		}
	}
	if target.After(b.last) || live.order.After(b.last) {
		return "", fmt.Errorf("replayed up to %v, short of %v committed before it began or the live checkpoint %v: %w",
			b.last, target, live.order, ErrRebuildBehind)
	}
	return b.finish(ctx, tx, nil)
}

// clear drops every table in the shadow schema.
func (b *shadowBuild) clear(ctx context.Context) error {
	return pgx.BeginFunc(ctx, b.conn, func(tx pgx.Tx) error {
		left, err := listTables(ctx, tx, shadowSchema)
		if err != nil {
			return err
		}
		for _, t := range left {
			if _, err := tx.Exec(ctx, `DROP TABLE IF EXISTS `+pgx.Identifier{shadowSchema, t}.Sanitize()+` CASCADE`); err != nil {
				return fmt.Errorf("clear the shadow schema: %w", err)
			}
		}
		return nil
	})
}

// drop removes what a failed rebuild left in the shadow schema; after a swap
// there is nothing left.
func (b *shadowBuild) drop(ctx context.Context) {
	if !b.conn.IsClosed() {
		_ = b.clear(ctx)
	}
}

type eventBatch struct {
	evs []events.Event
	err error
}

// readBatches reads the committed log after an order in batches, one batch ahead of the
// consumer, and closes the channel after the last one (or an error).
func readBatches(ctx context.Context, store *events.Store, after events.Order) <-chan eventBatch {
	out := make(chan eventBatch, 1)
	go func() {
		defer close(out)
		for {
			evs, err := store.ReadCommitted(ctx, after, rebuildBatch)
			if err != nil {
				select {
				case out <- eventBatch{err: err}:
				case <-ctx.Done():
				}
				return
			}
			if len(evs) == 0 {
				return
			}
			select {
			case out <- eventBatch{evs: evs}:
			case <-ctx.Done():
				return
			}
			// A short batch means nothing more is committed below the oldest
			// open transaction; whatever commits later is delivered live.
			if len(evs) < rebuildBatch {
				return
			}
			after = evs[len(evs)-1].Order
		}
	}()
	return out
}

// waitReadable waits until no open transaction (anywhere in the cluster) is
// older than target's, so that ReadCommitted, which never passes one, reads at
// least up to target. It runs before Rebuild takes any lock: a transaction it
// waits for may itself be waiting for the projection's checkpoint.
func waitReadable(ctx context.Context, pool *pgxpool.Pool, target events.Order) error {
	for {
		var ok bool
		if err := pool.QueryRow(ctx, `SELECT pg_snapshot_xmin(pg_current_snapshot()) > $1::text::xid8`,
			strconv.FormatUint(target.TxID, 10)).Scan(&ok); err != nil {
			return fmt.Errorf("wait for open transactions: %w", err)
		}
		if ok {
			return nil
		}
		select {
		case <-time.After(readWait):
		case <-ctx.Done():
			return fmt.Errorf("wait for open transactions: %w", ctx.Err())
		}
	}
}

// Digest returns the digest of p's read model as committed now.
func Digest(ctx context.Context, pool *pgxpool.Pool, p Projection) (string, error) {
	var d string
	err := pgx.BeginTxFunc(ctx, pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		var err error
		d, err = p.Digest(ctx, tx)
		return err
	})
	if err != nil {
		return "", fmt.Errorf("digest of %s: %w", p.Name(), err)
	}
	return d, nil
}

// ProgressBar returns a progress callback for Rebuild that draws a bar named
// name on w (usually os.Stderr).
func ProgressBar(w io.Writer, name string) func(done, total int64) {
	var bar *progressbar.ProgressBar
	return func(done, total int64) {
		if total <= 0 {
			return // an empty log: nothing to show
		}
		if bar == nil {
			bar = progressbar.NewOptions64(total,
				progressbar.OptionSetWriter(w),
				progressbar.OptionSetDescription("rebuild "+name),
				progressbar.OptionShowCount(),
				progressbar.OptionShowIts(),
				progressbar.OptionSetItsString("events"),
				progressbar.OptionThrottle(100*time.Millisecond),
				progressbar.OptionOnCompletion(func() { fmt.Fprintln(w) }),
			)
		}
		if bar.IsFinished() {
			return
		}
		if total != bar.GetMax64() {
			bar.ChangeMax64(total)
		}
		_ = bar.Set64(done) // Set64 finishes the bar when done reaches total
	}
}
