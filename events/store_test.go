package events_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"keytask/db/pgtest"
	"keytask/events"
)

func ev(id string, typ string, data string) events.NewEvent {
	return events.NewEvent{
		ID: events.DeriveID("test", id), Type: typ, SchemaVersion: 1, Data: json.RawMessage(data),
		Metadata: events.Metadata{ActorID: "u1", Role: "ministry", Organisation: "MOHRSS", CorrelationID: "c1", WorkflowID: "wf1", RequestID: "r1"},
	}
}

func newStore(t *testing.T, opts ...events.Option) (*pgtest.DB, *events.Store) {
	t.Helper()
	d := pgtest.New(t)
	return d, events.NewStore(d.Pool, opts...)
}

func TestAppendAndRead(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	d, s := newStore(t)
	rec, err := s.Append(ctx, "round-1", events.NoStream, ev("a", "RoundOpened", `{"deadline":"2022-06-15"}`), ev("b", "RoundExtended", `{"days":3}`))
	if err != nil {
		t.Fatal(err)
	}
	if len(rec) != 2 || rec[0].StreamVersion != 1 || rec[1].StreamVersion != 2 {
		t.Fatalf("recorded = %+v, want versions 1 and 2", rec)
	}
	got, err := s.ReadStream(ctx, "round-1", events.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Type != "RoundOpened" || got[1].StreamVersion != 2 {
		t.Fatalf("read %+v", got)
	}
	if got[0].Metadata.ActorID != "u1" || got[0].Metadata.WorkflowID != "wf1" || got[0].Metadata.Organisation != "MOHRSS" {
		t.Fatalf("metadata lost: %+v", got[0].Metadata)
	}
	if got[0].Position != 0 {
		t.Fatalf("position %d before sealing, want 0", got[0].Position)
	}
	sealAll(t, s)
	got, _ = s.ReadStream(ctx, "round-1", events.ReadOptions{})
	if got[0].Position != 1 || got[1].Position != 2 {
		t.Fatalf("positions after sealing = %d, %d", got[0].Position, got[1].Position)
	}
	// The same rows are the Watermill topic's messages.
	var n int
	if err := d.Owner.QueryRow(ctx, `SELECT count(*) FROM watermill_events w JOIN events e ON w.uuid = e.id::text AND w.transaction_id = e.tx_id`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 2 {
		t.Fatalf("%d messages published with their events, want 2", n)
	}
	// Each message names its event and its commit order, in that order.
	rows, err := d.Owner.Query(ctx, `SELECT payload::text FROM watermill_events ORDER BY transaction_id, "offset"`)
	if err != nil {
		t.Fatal(err)
	}
	var notices []events.Notice
	for rows.Next() {
		var p string
		rows.Scan(&p)
		var nt events.Notice
		if err := json.Unmarshal([]byte(p), &nt); err != nil {
			t.Fatal(err)
		}
		notices = append(notices, nt)
	}
	for i, nt := range notices {
		e, err := s.Get(ctx, d.Pool, nt.ID)
		if err != nil {
			t.Fatal(err)
		}
		if e.Order != nt.Order || e.StreamVersion != int64(i+1) {
			t.Fatalf("message %d: notice %+v, event order %+v version %d", i, nt, e.Order, e.StreamVersion)
		}
	}
}

func TestReadStreamLimits(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clock := time.Date(2022, 4, 20, 1, 0, 0, 0, time.UTC)
	_, s := newStore(t, events.WithClock(func() time.Time { return clock }))
	for i := 1; i <= 5; i++ {
		if _, err := s.Append(ctx, "p-11", int64(i-1), ev(fmt.Sprint(i), "Edited", fmt.Sprintf(`{"n":%d}`, i))); err != nil {
			t.Fatal(err)
		}
		clock = clock.Add(time.Hour)
	}
	upTo3, _ := s.ReadStream(ctx, "p-11", events.ReadOptions{UpToVersion: 3})
	if len(upTo3) != 3 || upTo3[2].StreamVersion != 3 {
		t.Fatalf("up to version 3: %d events", len(upTo3))
	}
	asOf, _ := s.ReadStream(ctx, "p-11", events.ReadOptions{UpToTime: time.Date(2022, 4, 20, 2, 30, 0, 0, time.UTC)})
	if len(asOf) != 2 {
		t.Fatalf("as of 02:30: %d events, want 2", len(asOf))
	}
}

func TestConflict(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	_, s := newStore(t)
	if _, err := s.Append(ctx, "s", events.NoStream, ev("1", "A", `{}`), ev("2", "A", `{}`)); err != nil {
		t.Fatal(err)
	}
	_, err := s.Append(ctx, "s", 1, ev("3", "A", `{}`))
	var c *events.ErrConflict
	if !errors.As(err, &c) {
		t.Fatalf("err = %v, want *ErrConflict", err)
	}
	if c.Actual != 2 || c.Expected != 1 || c.Stream != "s" {
		t.Fatalf("conflict = %+v", c)
	}
	if v, _ := s.StreamVersion(ctx, "s"); v != 2 {
		t.Fatalf("version %d after refused append, want 2", v)
	}
}

// Many writers race for the same next version: exactly one wins each round and
// the losers learn the version that won.
func TestConcurrentConflict(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	_, s := newStore(t)
	const writers = 8
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins, conflicts := 0, 0
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			_, err := s.Append(ctx, "contested", events.NoStream, ev(fmt.Sprint("w", w), "Claimed", `{}`))
			mu.Lock()
			defer mu.Unlock()
			var c *events.ErrConflict
			switch {
			case err == nil:
				wins++
			case errors.As(err, &c) && c.Actual == 1:
				conflicts++
			default:
				t.Errorf("writer %d: %v", w, err)
			}
		}(w)
	}
	wg.Wait()
	if wins != 1 || conflicts != writers-1 {
		t.Fatalf("wins %d conflicts %d, want 1 and %d", wins, conflicts, writers-1)
	}
	evs, _ := s.ReadStream(ctx, "contested", events.ReadOptions{})
	if len(evs) != 1 {
		t.Fatalf("%d events in stream, want 1", len(evs))
	}
}

func TestIdempotentRetry(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	d, s := newStore(t)
	batch := []events.NewEvent{ev("x", "A", `{"v":1}`), ev("y", "B", `{"v":2}`)}
	first, err := s.Append(ctx, "s", events.NoStream, batch...)
	if err != nil {
		t.Fatal(err)
	}
	// The retry carries a stale expected version, as a retried command would.
	again, err := s.Append(ctx, "s", events.NoStream, batch...)
	if err != nil {
		t.Fatalf("retry: %v", err)
	}
	if fmt.Sprint(first) != fmt.Sprint(again) {
		t.Fatalf("retry returned %v, want the original %v", again, first)
	}
	// Concurrent retries of a fresh batch: one writes, all agree.
	var wg sync.WaitGroup
	results := make([]string, 6)
	for i := range results {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			r, err := s.Append(ctx, "t", events.AnyVersion, ev("z", "C", `{}`))
			if err != nil {
				t.Errorf("concurrent retry %d: %v", i, err)
			}
			results[i] = fmt.Sprint(r)
		}(i)
	}
	wg.Wait()
	for _, r := range results[1:] {
		if r != results[0] {
			t.Fatalf("concurrent retries disagree: %v", results)
		}
	}
	var n, m int
	d.Owner.QueryRow(ctx, `SELECT count(*) FROM events`).Scan(&n)
	d.Owner.QueryRow(ctx, `SELECT count(*) FROM watermill_events`).Scan(&m)
	if n != 3 || m != 3 {
		t.Fatalf("%d events and %d messages, want 3 and 3", n, m)
	}
	// Known ids mixed with new ones are refused and write nothing.
	_, err = s.Append(ctx, "s", events.AnyVersion, ev("x", "A", `{"v":1}`), ev("new", "A", `{}`))
	if !errors.Is(err, events.ErrPartialRetry) {
		t.Fatalf("mixed retry: err = %v, want ErrPartialRetry", err)
	}
	d.Owner.QueryRow(ctx, `SELECT count(*) FROM events`).Scan(&n)
	if n != 3 {
		t.Fatalf("mixed retry wrote: %d events", n)
	}
}

func TestInvalid(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	_, s := newStore(t)
	for name, tc := range map[string]struct {
		stream string
		evs    []events.NewEvent
	}{
		"EmptyStream": {"", []events.NewEvent{ev("1", "A", `{}`)}},
		"NoEvents":    {"s", nil},
		"NoType":      {"s", []events.NewEvent{ev("1", "", `{}`)}},
		"BadJSON":     {"s", []events.NewEvent{ev("1", "A", `{`)}},
		"RepeatedID":  {"s", []events.NewEvent{ev("1", "A", `{}`), ev("1", "A", `{}`)}},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := s.Append(ctx, tc.stream, events.AnyVersion, tc.evs...); !errors.Is(err, events.ErrInvalid) {
				t.Fatalf("err = %v, want ErrInvalid", err)
			}
		})
	}
}

// A slow transaction holds a lower commit order than a fast one that commits
// first. Readers of the global order must not pass it: once it commits, a reader
// resuming from the last position it saw receives it.
func TestGapRace(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	d, s := newStore(t)
	if _, err := s.Append(ctx, "before", events.NoStream, ev("0", "A", `{}`)); err != nil {
		t.Fatal(err)
	}
	sealAll(t, s)
	seen, _ := s.ReadAll(ctx, 0, 100)
	if len(seen) != 1 {
		t.Fatalf("read %d, want 1", len(seen))
	}
	cursor := seen[0].Position

	// The slow writer inserts an event (taking its transaction id and sequence
	// first) and stays open.
	slow, err := d.Pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Rollback(ctx)
	if _, err := slow.Exec(ctx, `INSERT INTO events (id, stream_id, stream_version, type, schema_version, data, metadata, recorded_at)
		VALUES ($1, 'slow', 1, 'A', 1, '{}', '{}', now())`, events.DeriveID("slow")); err != nil {
		t.Fatal(err)
	}
	// The fast writer commits after it.
	if _, err := s.Append(ctx, "fast", events.NoStream, ev("fast", "A", `{}`)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Seal(ctx); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.ReadAll(ctx, cursor, 100); len(got) != 0 {
		t.Fatalf("reader passed the open transaction: got %s", got[0].StreamID)
	}
	if got, _ := s.ReadCommitted(ctx, seen[0].Order, 100); len(got) != 0 {
		t.Fatalf("commit-order reader passed the open transaction: got %s", got[0].StreamID)
	}
	if err := slow.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	sealAll(t, s)
	got, err := s.ReadAll(ctx, cursor, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].StreamID != "slow" || got[1].StreamID != "fast" {
		t.Fatalf("after commit read %v, want slow then fast", streams(got))
	}
	if got[0].Position != cursor+1 || got[1].Position != cursor+2 {
		t.Fatalf("positions %d, %d are not dense after %d", got[0].Position, got[1].Position, cursor)
	}
}

// sealAll seals everything committed so far; other tests' open transactions on
// the same server may make it wait.
func sealAll(t *testing.T, s *events.Store) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := s.SealCommitted(ctx); err != nil {
		t.Fatal(err)
	}
}

func streams(evs []events.Event) []string {
	var out []string
	for _, e := range evs {
		out = append(out, e.StreamID)
	}
	return out
}

func TestUpcast(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	u := events.NewUpcasters()
	// v1 kept money as a float of 万元; v2 keeps integer yuan in "amount_yuan".
	u.Register("FundsDeclared", 1, func(data json.RawMessage) (json.RawMessage, error) {
		var v1 struct {
			Wan json.Number `json:"wan"`
		}
		if err := json.Unmarshal(data, &v1); err != nil {
			return nil, err
		}
		yuan, err := wanToYuan(string(v1.Wan))
		if err != nil {
			return nil, err
		}
		return json.Marshal(map[string]int64{"amount_yuan": yuan})
	})
	_, s := newStore(t, events.WithUpcasters(u))
	old := ev("v1", "FundsDeclared", `{"wan": 12.5}`)
	old.SchemaVersion = 1
	if _, err := s.Append(ctx, "f", events.NoStream, old); err != nil {
		t.Fatal(err)
	}
	got, err := s.ReadStream(ctx, "f", events.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got[0].SchemaVersion != 2 || string(got[0].Data) != `{"amount_yuan":125000}` {
		t.Fatalf("read v%d %s, want v2 {\"amount_yuan\":125000}", got[0].SchemaVersion, got[0].Data)
	}
}

func wanToYuan(s string) (int64, error) {
	whole, frac, _ := strings.Cut(s, ".")
	frac = (frac + "0000")[:4]
	var w, f int64
	if _, err := fmt.Sscan(whole, &w); err != nil {
		return 0, err
	}
	if _, err := fmt.Sscan(frac, &f); err != nil {
		return 0, err
	}
	return w*10000 + f, nil
}

// The writer role cannot change or remove a row, and the trigger stops even the
// owner.
func TestAppendOnly(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	d, s := newStore(t)
	if _, err := s.Append(ctx, "s", events.NoStream, ev("1", "A", `{}`)); err != nil {
		t.Fatal(err)
	}
	sealAll(t, s)
	for _, q := range []string{
		`UPDATE events SET data = '{"x":1}'`,
		`DELETE FROM events`,
		`UPDATE event_chain SET hash = hash`,
		`DELETE FROM event_chain`,
		`TRUNCATE events CASCADE`,
		`DELETE FROM watermill_events`,
	} {
		if _, err := d.Pool.Exec(ctx, q); err == nil || !strings.Contains(err.Error(), "permission denied") {
			t.Errorf("writer %q: err = %v, want permission denied", q, err)
		}
		if _, err := d.Owner.Exec(ctx, q); err == nil || !strings.Contains(err.Error(), "append-only") {
			t.Errorf("owner %q: err = %v, want the append-only trigger", q, err)
		}
	}
}

// tamper runs sql as the owner with triggers off, as someone with direct access
// to the database would.
func tamper(t *testing.T, d *pgtest.DB, sql ...string) {
	t.Helper()
	ctx := context.Background()
	err := pgx.BeginFunc(ctx, d.Owner, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SET LOCAL session_replication_role = replica`); err != nil {
			return err
		}
		for _, q := range sql {
			if _, err := tx.Exec(ctx, q); err != nil {
				return fmt.Errorf("%s: %w", q, err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// testKey is the log key the tamper tests sign with.
var testKey = []byte("keytask test log key, 32 bytes!!")

func seeded(t *testing.T) (*pgtest.DB, *events.Store) {
	t.Helper()
	ctx := context.Background()
	d, s := newStore(t, events.WithMACKey(testKey))
	for i := 1; i <= 6; i++ {
		stream := fmt.Sprintf("s%d", i%2)
		if _, err := s.Append(ctx, stream, events.AnyVersion, ev(fmt.Sprint(i), "A", fmt.Sprintf(`{"n":%d}`, i))); err != nil {
			t.Fatal(err)
		}
	}
	sealAll(t, s)
	rep, err := events.Verify(ctx, d.Pool, testKey, nil)
	if err != nil || !rep.OK() || rep.Events != 6 || !rep.MACsChecked {
		t.Fatalf("intact log: %+v %v", rep, err)
	}
	return d, s
}

func TestVerifyDetectsTampering(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		sql  []string
		bad  int64
		word string
	}{
		{"Update", []string{`UPDATE events SET data = '{"n":300}' WHERE id = (SELECT event_id FROM event_chain WHERE position = 3)`}, 3, "hash"},
		{"UpdateMetadata", []string{`UPDATE events SET metadata = '{"actor_id":"someone-else"}' WHERE id = (SELECT event_id FROM event_chain WHERE position = 4)`}, 4, "hash"},
		{"Delete", []string{`DELETE FROM events WHERE id = (SELECT event_id FROM event_chain WHERE position = 2)`}, 2, "deleted"},
		{"DeleteWithChain", []string{
			`DELETE FROM events WHERE id = (SELECT event_id FROM event_chain WHERE position = 5)`,
			`DELETE FROM event_chain WHERE position = 5`}, 5, "missing"},
		{"DeleteTail", []string{`DELETE FROM events WHERE id = (SELECT event_id FROM event_chain WHERE position = 6)`}, 6, "deleted"},
		{"Reorder", []string{
			`UPDATE event_chain SET position = position + 1000 WHERE position IN (2, 3)`,
			`UPDATE event_chain SET position = 1005 - position WHERE position IN (1002, 1003)`}, 2, "hash"},
		{"ReorderSwapContent", []string{
			`UPDATE events SET data = CASE data->>'n' WHEN '2' THEN '{"n":3}'::json ELSE '{"n":2}'::json END WHERE data->>'n' IN ('2','3')`}, 2, "hash"},
		{"InsertOutOfBandWithChain", []string{
			`INSERT INTO events (id, stream_id, stream_version, type, schema_version, data, metadata, recorded_at)
			 VALUES ('00000000-0000-0000-0000-0000000000aa', 's9', 1, 'A', 1, '{}', '{}', now())`,
			`INSERT INTO event_chain (position, event_id, tx_id, seq, hash)
			 SELECT 7, id, tx_id, seq, sha256('forged') FROM events WHERE stream_id = 's9'`}, 7, "hash"},
		{"InsertOutOfBandBehindHead", []string{
			`INSERT INTO events (id, stream_id, stream_version, type, schema_version, data, metadata, recorded_at, tx_id)
			 VALUES ('00000000-0000-0000-0000-0000000000bb', 's1', 99, 'A', 1, '{}', '{}', now(), '3')`}, 7, "out of band"},
		{"InsertOutOfBandAtHead", []string{
			`INSERT INTO events (id, stream_id, stream_version, type, schema_version, data, metadata, recorded_at)
			 VALUES ('00000000-0000-0000-0000-0000000000cc', 's1', 4, 'A', 1, '{}', '{}', now())`}, 7, "signature"},
		{"InsertOutOfBandWithForgedMAC", []string{
			`INSERT INTO events (id, stream_id, stream_version, type, schema_version, data, metadata, recorded_at, mac)
			 SELECT '00000000-0000-0000-0000-0000000000ce', 's1', 4, type, schema_version, data, metadata, recorded_at, mac
			 FROM events WHERE stream_id = 's1' AND stream_version = 1`}, 7, "signature"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			d, _ := seeded(t)
			tamper(t, d, tc.sql...)
			rep, err := events.Verify(ctx, d.Pool, testKey, nil)
			if err != nil {
				t.Fatal(err)
			}
			if rep.OK() {
				t.Fatalf("tampering went unnoticed: %+v", rep)
			}
			if rep.BadPosition != tc.bad || !strings.Contains(rep.Problem, tc.word) {
				t.Fatalf("bad position %d (%s), want %d mentioning %q", rep.BadPosition, rep.Problem, tc.bad, tc.word)
			}
		})
	}
	// A row slipped in at the head and then linked by the sealer is still caught:
	// it lacks keytask's signature.
	t.Run("InsertOutOfBandThenSealed", func(t *testing.T) {
		t.Parallel()
		d, s := seeded(t)
		tamper(t, d, `INSERT INTO events (id, stream_id, stream_version, type, schema_version, data, metadata, recorded_at)
			 VALUES ('00000000-0000-0000-0000-0000000000dd', 's1', 4, 'A', 1, '{}', '{}', now())`)
		sealAll(t, s)
		rep, _ := events.Verify(ctx, d.Pool, testKey, nil)
		if rep.OK() || rep.BadPosition != 7 || !strings.Contains(rep.Problem, "signature") {
			t.Fatalf("report %+v, want a missing signature at 7", rep)
		}
		// Without the key the chain alone cannot tell, and says so.
		rep, _ = events.Verify(ctx, d.Pool, nil, nil)
		if !rep.OK() || rep.MACsChecked {
			t.Fatalf("without the key: %+v", rep)
		}
	})
}
