package projections_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"keytask/events"
	"keytask/projections"
)

// ledger is a read model whose shape grows with its schema version: version 1
// keeps each event's id, version 2 adds its stream (a new column with an
// index), version 3 its type.
type ledger struct{ version int }

func (ledger) Name() string         { return "ledger" }
func (l ledger) SchemaVersion() int { return l.version }
func (ledger) Reset(ctx context.Context, tx pgx.Tx) error {
	_, err := tx.Exec(ctx, `TRUNCATE ledger`)
	return err
}

func (l ledger) Setup(ctx context.Context, tx pgx.Tx) error {
	cols := "event_id uuid PRIMARY KEY"
	if l.version >= 2 {
		cols += ", stream text NOT NULL"
	}
	if l.version >= 3 {
		cols += ", type text NOT NULL"
	}
	_, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS ledger (`+cols+`)`)
	if err == nil && l.version >= 2 {
		_, err = tx.Exec(ctx, `CREATE INDEX IF NOT EXISTS ledger_stream_idx ON ledger (stream)`)
	}
	return err
}

func (l ledger) Apply(ctx context.Context, tx pgx.Tx, e events.Event) error {
	var err error
	switch l.version {
	case 1:
		_, err = tx.Exec(ctx, `INSERT INTO ledger (event_id) VALUES ($1)`, e.ID)
	case 2:
		_, err = tx.Exec(ctx, `INSERT INTO ledger (event_id, stream) VALUES ($1, $2)`, e.ID, e.StreamID)
	default:
		_, err = tx.Exec(ctx, `INSERT INTO ledger (event_id, stream, type) VALUES ($1, $2, $3)`, e.ID, e.StreamID, e.Type)
	}
	return err
}

func (ledger) Digest(ctx context.Context, tx pgx.Tx) (string, error) {
	var n int64
	err := tx.QueryRow(ctx, `SELECT count(*) FROM ledger`).Scan(&n)
	return strconv.FormatInt(n, 10), err
}

// ledgerRead is what a reader sees in one statement: the live model's schema
// version, its rows, how many rows have each version's columns, and how many
// events the log holds up to the model's checkpoint.
type ledgerRead struct {
	version, rows, withStream, withType, upTo int64
}

// readLedger reads the live ledger as an API query would, in one statement;
// to_jsonb of a row shows its columns, whichever version the table has.
func readLedger(ctx context.Context, q interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}) (ledgerRead, error) {
	var r ledgerRead
	err := q.QueryRow(ctx, `SELECT c.schema_version,
		(SELECT count(*) FROM ledger),
		(SELECT count(*) FROM ledger l WHERE to_jsonb(l) ? 'stream'),
		(SELECT count(*) FROM ledger l WHERE to_jsonb(l) ? 'type'),
		(SELECT count(*) FROM events e WHERE (e.tx_id, e.seq) <= (c.tx_id, c.seq))
		FROM projection_checkpoints c WHERE c.name = 'ledger'`).Scan(&r.version, &r.rows, &r.withStream, &r.withType, &r.upTo)
	return r, err
}

// complete reports whether r is a whole model of its version: one row per
// event up to its checkpoint, each with exactly its version's columns.
func (r ledgerRead) complete() bool {
	want := func(has bool) int64 {
		if has {
			return r.rows
		}
		return 0
	}
	return r.rows == r.upTo && r.withStream == want(r.version >= 2) && r.withType == want(r.version >= 3)
}

// A read model changes shape twice while it serves and the log grows: once by
// Rebuild (what `keytask projections rebuild` runs), once by a projector of the
// next version starting beside the old one. Readers all the while see a whole
// model, the old version until the swap and the new one after, with a
// checkpoint that agrees with its rows; the live projector goes on after each
// swap, and the old version's projector stops applying to the new shape.
func TestSchemaVersionSwap(t *testing.T) {
	d, s := newEnv(t)
	ctx := context.Background()
	bulkLog(t, s, 500, 16) // 8,000 events: a rebuild of four batches

	// Version 1 is live: built from the log, then kept current by its projector.
	v1 := newProjector(t, d, s, nil, ledger{1})
	if _, err := projections.Rebuild(ctx, d.Pool, s, ledger{1}, nil); err != nil {
		t.Fatal(err)
	}
	v1Done := runUntilSuperseded(t, v1)
	waitCaughtUp(t, v1)
	// A projector started after a rebuild still receives every event's
	// message once and skips it; let it reach the head, as a projector that
	// has been running has, so that it meets the next event at once.
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(50 * time.Millisecond) {
		var behind bool
		if err := d.Pool.QueryRow(ctx, `SELECT coalesce((SELECT o.offset_acked FROM watermill_offsets_events o
			WHERE o.consumer_group = $1), 0) < (SELECT max(seq) FROM events)`, projections.ConsumerGroup("ledger")).Scan(&behind); err != nil {
			t.Fatal(err)
		}
		if !behind {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the version 1 projector did not work through the log's messages in two minutes")
		}
	}

	// Readers and a writer run through both swaps.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var reads atomic.Int64
	var mu sync.Mutex
	seen := map[int64]int{} // schema version → reads that saw it
	var bad []string
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				r, err := readLedger(ctx, d.Pool)
				mu.Lock()
				switch {
				case err != nil:
					bad = append(bad, err.Error())
				case !r.complete():
					bad = append(bad, fmt.Sprintf("%+v", r))
				default:
					seen[r.version]++
				}
				mu.Unlock()
				reads.Add(1)
			}
		}()
	}
	wg.Add(1)
	appended := 0
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
			if _, err := s.Append(ctx, fmt.Sprintf("during-%d", i), events.NoStream, ev("during", i, "During")); err != nil {
				t.Error(err)
				return
			}
			appended++
		}
	}()
	finish := func() {
		close(stop)
		wg.Wait()
		if len(bad) > 0 {
			t.Fatalf("%d of %d reads saw a model that was not whole, e.g. %s", len(bad), reads.Load(), bad[0])
		}
	}

	readsBefore := reads.Load()
	if _, err := projections.Rebuild(ctx, d.Pool, s, ledger{2}, nil); err != nil {
		finish()
		t.Fatal(err)
	}
	if reads.Load()-readsBefore < 3 {
		t.Errorf("only %d reads ran during the rebuild", reads.Load()-readsBefore)
	}
	if r, err := readLedger(ctx, d.Pool); err != nil || r.version != 2 || !r.complete() {
		t.Fatalf("after the rebuild: %+v, %v; want version 2, whole", r, err)
	}

	// The version 1 projector stops at its next event (its rows would lack
	// the stream); a projector of version 2 goes on from the swapped
	// checkpoint.
	superseded(t, v1Done, 1)
	v2 := newProjector(t, d, s, nil, ledger{2})
	v2Done := runUntilSuperseded(t, v2)
	time.Sleep(300 * time.Millisecond)
	waitCaughtUp(t, v2)

	// A projector of version 3 starting beside it rebuilds and swaps by itself.
	v3 := newProjector(t, d, s, nil, ledger{3})
	start(t, v3)
	deadline := time.Now().Add(time.Minute)
	for {
		r, err := readLedger(ctx, d.Pool)
		if err == nil && r.version == 3 {
			break
		}
		if time.Now().After(deadline) {
			finish()
			t.Fatalf("the version 3 projector did not swap its model in within a minute: %+v, %v", r, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	superseded(t, v2Done, 2)
	time.Sleep(300 * time.Millisecond) // events appended after the swap
	finish()
	waitCaughtUp(t, v3)

	r, err := readLedger(ctx, d.Pool)
	if err != nil {
		t.Fatal(err)
	}
	if total := queryInt(t, d, `SELECT count(*) FROM events`); r.version != 3 || !r.complete() || r.rows != total {
		t.Errorf("in the end: %+v; want version 3 with all %d events", r, total)
	}
	if seen[1] == 0 || seen[2] == 0 || seen[3] == 0 {
		t.Errorf("reads per version %v: every version should have been read while it was live", seen)
	}
	if got := queryInt(t, d, `SELECT count(*) FROM watermill_projection_poison`); got != 0 {
		t.Errorf("%d events parked in the poison topic; a version mismatch must only be retried", got)
	}
	if got := queryInt(t, d, `SELECT count(*) FROM pg_tables WHERE schemaname = 'keytask_shadow'`); got != 0 {
		t.Errorf("%d shadow tables left behind", got)
	}
	t.Logf("%d reads (per version %v), %d events appended during the swaps", reads.Load(), seen, appended)
}

// runUntilSuperseded runs pr until the test ends or a newer schema version
// stops it; the channel gives Run's result.
func runUntilSuperseded(t *testing.T, pr *projections.Projector) <-chan error {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- pr.Run(ctx) }()
	t.Cleanup(cancel)
	return done
}

// superseded checks that the projector of version v stopped because its read
// model was swapped to a newer version.
func superseded(t *testing.T, done <-chan error, v int) {
	t.Helper()
	select {
	case err := <-done:
		if !errors.Is(err, projections.ErrSchemaVersion) {
			t.Errorf("the version %d projector ended with %v, want ErrSchemaVersion", v, err)
		}
	case <-time.After(time.Minute):
		t.Errorf("the version %d projector still runs a minute after its model was swapped to a newer version", v)
	}
}
