package projections

import (
	"context"
	"errors"
	"fmt"
	"io"
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

// Rebuild empties p's read model and replays every committed event into it, in
// commit order, in one transaction that also sets p's checkpoint to the last
// event; it returns the rebuilt model's digest. It first waits for transactions
// older than the newest event to end, so that it can read the whole log.
// Readers see the old model until the commit. A running projector waits for the
// rebuild on the checkpoint lock and then goes on from the new checkpoint, so
// nothing is applied twice. progress, if not nil, is called after every batch
// with the events replayed and the estimated total. Errors: ErrRebuildBehind,
// and any error of p (an event it cannot apply fails the whole rebuild).
//
// The transaction holds back Watermill delivery to every consumer while it runs
// (watermill-sql reads only below the oldest open transaction), so keep
// projections fast: BatchApplier and ReplayHooks make a large difference.
func Rebuild(ctx context.Context, pool *pgxpool.Pool, store *events.Store, p Projection, progress func(done, total int64)) (digest string, err error) {
	if progress == nil {
		progress = func(int64, int64) {}
	}
	if err := Setup(ctx, pool, p); err != nil {
		return "", err
	}
	var total int64
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM events`).Scan(&total); err != nil {
		return "", fmt.Errorf("rebuild %s: count events: %w", p.Name(), err)
	}
	// Replay at least every event committed before now, even if some unrelated
	// transaction that is still open holds ReadCommitted back.
	target, _, err := newestEvent(ctx, pool)
	if err != nil {
		return "", fmt.Errorf("rebuild %s: %w", p.Name(), err)
	}
	if err := waitReadable(ctx, pool, target); err != nil {
		return "", fmt.Errorf("rebuild %s: %w", p.Name(), err)
	}

	tx, err := pool.Begin(ctx)
	if err != nil {
		return "", fmt.Errorf("rebuild %s: %w", p.Name(), err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // a no-op after commit
	live, err := lockCheckpoint(ctx, tx, p.Name())
	if err != nil {
		return "", fmt.Errorf("rebuild %s: %w", p.Name(), err)
	}
	if err := p.Reset(ctx, tx); err != nil {
		return "", fmt.Errorf("rebuild %s: reset: %w", p.Name(), err)
	}
	hooks, hasHooks := p.(ReplayHooks)
	if hasHooks {
		if err := hooks.BeforeReplay(ctx, tx); err != nil {
			return "", fmt.Errorf("rebuild %s: before replay: %w", p.Name(), err)
		}
	}
	progress(0, total)

	// Read the next batch on another connection while this one applies the
	// current batch: the two round trips overlap instead of adding up.
	readCtx, stopReading := context.WithCancel(ctx)
	defer stopReading()
	batches := readBatches(readCtx, store)

	batch, hasBatch := p.(BatchApplier)
	var done int64
	var last events.Event
	for b := range batches {
		if b.err != nil {
			return "", fmt.Errorf("rebuild %s: %w", p.Name(), b.err)
		}
		if hasBatch {
			if err := batch.ApplyBatch(ctx, tx, b.evs); err != nil {
				return "", fmt.Errorf("rebuild %s: apply events %s..%s: %w", p.Name(), b.evs[0].ID, b.evs[len(b.evs)-1].ID, err)
			}
		} else {
			for _, e := range b.evs {
				if err := p.Apply(ctx, tx, e); err != nil {
					return "", fmt.Errorf("rebuild %s: apply %s %s (stream %s version %d): %w",
						p.Name(), e.Type, e.ID, e.StreamID, e.StreamVersion, err)
				}
			}
		}
		last = b.evs[len(b.evs)-1]
		done += int64(len(b.evs))
		progress(done, max(total, done))
	}
	if hasHooks {
		if err := hooks.AfterReplay(ctx, tx); err != nil {
			return "", fmt.Errorf("rebuild %s: after replay: %w", p.Name(), err)
		}
	}
	if target.After(last.Order) {
		return "", fmt.Errorf("rebuild %s: replayed up to %v, short of %v committed before it began: %w", p.Name(), last.Order, target, ErrRebuildBehind)
	}
	if live.After(last.Order) {
		return "", fmt.Errorf("rebuild %s: replayed up to %v, live checkpoint is at %v: %w", p.Name(), last.Order, live, ErrRebuildBehind)
	}

	var lastRecorded *time.Time
	if done > 0 {
		lastRecorded = &last.RecordedAt
	}
	if _, err := tx.Exec(ctx, `UPDATE projection_checkpoints
		SET tx_id = $2::text::xid8, seq = $3, events = $4, last_recorded_at = $5, updated_at = now()
		WHERE name = $1`, p.Name(), strconv.FormatUint(last.Order.TxID, 10), last.Order.Seq, done, lastRecorded); err != nil {
		return "", fmt.Errorf("rebuild %s: set checkpoint: %w", p.Name(), err)
	}
	// The digest of exactly what is committed, before a live event can follow.
	if digest, err = p.Digest(ctx, tx); err != nil {
		return "", fmt.Errorf("rebuild %s: digest: %w", p.Name(), err)
	}
	if err := tx.Commit(ctx); err != nil {
		return "", fmt.Errorf("rebuild %s: commit: %w", p.Name(), err)
	}
	progress(done, done)
	return digest, nil
}

type eventBatch struct {
	evs []events.Event
	err error
}

// readBatches reads the committed log in batches, one batch ahead of the
// consumer, and closes the channel after the last one (or an error).
func readBatches(ctx context.Context, store *events.Store) <-chan eventBatch {
	out := make(chan eventBatch, 1)
	go func() {
		defer close(out)
		var after events.Order
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
