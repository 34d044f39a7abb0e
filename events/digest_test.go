package events_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"keytask/db/pgtest"
	"keytask/events"
)

// digestOf signs the current head of the log.
func digestOf(t *testing.T, s *events.Store, key ed25519.PrivateKey) events.Digest {
	t.Helper()
	h, err := s.Head(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return events.SignDigest(key, h, time.Now())
}

func verifyDigest(t *testing.T, d *pgtest.DB, macKey []byte, dg events.Digest) events.DigestReport {
	t.Helper()
	ctx := context.Background()
	var rep events.DigestReport
	err := pgx.BeginTxFunc(ctx, d.Pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		var err error
		rep, err = events.VerifyDigest(ctx, tx, macKey, dg)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// grow appends n more events and seals them: the log after a digest goes on.
func grow(t *testing.T, s *events.Store, n int) {
	t.Helper()
	for i := range n {
		if _, err := s.Append(context.Background(), "later", events.AnyVersion, ev(fmt.Sprint("later", i), "B", fmt.Sprintf(`{"m":%d}`, i))); err != nil {
			t.Fatal(err)
		}
	}
	sealAll(t, s)
}

func TestDigestOnIntactGrowingLog(t *testing.T) {
	t.Parallel()
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	d, s := seeded(t)
	dg := digestOf(t, s, key)
	if dg.Position != 6 {
		t.Fatalf("digest position %d, want 6", dg.Position)
	}
	if err := dg.CheckSignature(key.Public().(ed25519.PublicKey)); err != nil {
		t.Fatal(err)
	}
	if rep := verifyDigest(t, d, testKey, dg); !rep.OK() {
		t.Fatalf("intact log: %+v", rep)
	}
	grow(t, s, 5)
	rep := verifyDigest(t, d, testKey, dg)
	if !rep.OK() || rep.Log.Head.Position != 11 {
		t.Fatalf("grown log: %+v", rep)
	}
	// The digest of an empty log is the genesis hash, which every log extends.
	empty := pgtest.New(t)
	es := events.NewStore(empty.Pool)
	dg0 := digestOf(t, es, key)
	grow(t, es, 2)
	if rep := verifyDigest(t, empty, nil, dg0); !rep.OK() || dg0.Position != 0 {
		t.Fatalf("digest of the empty log: %+v %+v", dg0, rep)
	}
}

func TestDigestSignature(t *testing.T) {
	t.Parallel()
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	other, _, _ := ed25519.GenerateKey(rand.Reader)
	pub := key.Public().(ed25519.PublicKey)
	_, s := seeded(t)
	dg := digestOf(t, s, key)

	edited := dg
	edited.Position = 5
	if err := edited.CheckSignature(pub); !errors.Is(err, events.ErrDigestSignature) {
		t.Errorf("an edited position: %v", err)
	}
	edited = dg
	edited.IssuedAt = edited.IssuedAt.Add(time.Hour)
	if err := edited.CheckSignature(nil); !errors.Is(err, events.ErrDigestSignature) {
		t.Errorf("an edited time: %v", err)
	}
	if err := dg.CheckSignature(other); !errors.Is(err, events.ErrDigestSignature) || !strings.Contains(err.Error(), "expected") {
		t.Errorf("another key: %v", err)
	}
	// Re-signed by someone else who also swaps in their public key: only the
	// expected key tells.
	_, forger, _ := ed25519.GenerateKey(rand.Reader)
	h, _ := s.Head(context.Background())
	forged := events.SignDigest(forger, h, time.Now())
	if err := forged.CheckSignature(nil); err != nil {
		t.Errorf("self-consistent forged digest: %v", err)
	}
	if err := forged.CheckSignature(pub); !errors.Is(err, events.ErrDigestSignature) {
		t.Errorf("forged digest against the platform's key: %v", err)
	}
	bad := dg
	bad.Format = "other"
	if err := bad.CheckSignature(pub); err == nil || !strings.Contains(err.Error(), "format") {
		t.Errorf("wrong format: %v", err)
	}
}

// Tampering at or behind the digest's head fails verification — also when the
// intruder recomputes the whole chain afterwards (reseal), which the chain alone
// cannot notice without the log key.
func TestDigestDetectsTampering(t *testing.T) {
	t.Parallel()
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	// reseal drops the chain from position from on and lets the sealer link the
	// tampered rows again, as an intruder who knows the chain's encoding would.
	reseal := func(from int) string {
		return fmt.Sprintf(`DELETE FROM event_chain WHERE position >= %d`, from)
	}
	for _, tc := range []struct {
		name   string
		sql    []string
		reseal bool
		word   string
	}{
		{"Update", []string{`UPDATE events SET data = '{"n":300}' WHERE id = (SELECT event_id FROM event_chain WHERE position = 3)`}, false, "covers was changed"},
		{"UpdateResealed", []string{`UPDATE events SET data = '{"n":300}' WHERE id = (SELECT event_id FROM event_chain WHERE position = 3)`, reseal(3)}, true, "chain hash at position 6"},
		{"UpdateActorResealed", []string{`UPDATE events SET metadata = '{"actor_id":"someone-else"}' WHERE id = (SELECT event_id FROM event_chain WHERE position = 1)`, reseal(1)}, true, "chain hash at position 6"},
		{"Delete", []string{`DELETE FROM events WHERE id = (SELECT event_id FROM event_chain WHERE position = 2)`}, false, "deleted"},
		{"DeleteResealed", []string{`DELETE FROM events WHERE id = (SELECT event_id FROM event_chain WHERE position = 2)`, reseal(2)}, true, "chain hash at position 6"},
		{"DeleteHeadResealed", []string{`DELETE FROM events WHERE id = (SELECT event_id FROM event_chain WHERE position = 6)`, reseal(6)}, true, "chain hash at position 6"},
		{"Reorder", []string{
			`UPDATE event_chain SET position = position + 1000 WHERE position IN (2, 3)`,
			`UPDATE event_chain SET position = 1005 - position WHERE position IN (1002, 1003)`}, false, "covers was changed"},
		{"ReorderResealed", []string{
			`UPDATE events e SET tx_id = o.tx_id FROM events o
			 WHERE (e.id, o.id) IN (((SELECT event_id FROM event_chain WHERE position = 2), (SELECT event_id FROM event_chain WHERE position = 3)),
			                        ((SELECT event_id FROM event_chain WHERE position = 3), (SELECT event_id FROM event_chain WHERE position = 2)))`,
			reseal(2)}, true, "chain hash at position 6"},
		{"InsertBehindHeadResealed", []string{
			`INSERT INTO events (id, stream_id, stream_version, type, schema_version, data, metadata, recorded_at, tx_id)
			 VALUES ('00000000-0000-0000-0000-0000000000bb', 's1', 99, 'A', 1, '{}', '{}', now(), '3')`, reseal(1)}, true, "chain hash at position 6"},
		{"InsertBehindHead", []string{
			`INSERT INTO events (id, stream_id, stream_version, type, schema_version, data, metadata, recorded_at, tx_id)
			 VALUES ('00000000-0000-0000-0000-0000000000bc', 's1', 98, 'A', 1, '{}', '{}', now(), '3')`}, false, "out of band"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			d, s := seeded(t)
			dg := digestOf(t, s, key)
			grow(t, s, 3)
			tamper(t, d, tc.sql...)
			if tc.reseal {
				sealAll(t, s)
				// The rewritten chain is self-consistent: without the log key,
				// only the digest can tell.
				plain, err := events.Verify(context.Background(), d.Pool, nil, nil)
				if err != nil || !plain.OK() {
					t.Fatalf("the resealed chain should verify on its own: %+v %v", plain, err)
				}
			}
			for _, macKey := range [][]byte{nil, testKey} {
				rep := verifyDigest(t, d, macKey, dg)
				if rep.OK() || !rep.Covered {
					t.Fatalf("key %v: tampering behind the digest went unnoticed: %+v", macKey != nil, rep)
				}
				if macKey == nil && !strings.Contains(rep.Problem, tc.word) {
					t.Fatalf("problem %q, want it to mention %q", rep.Problem, tc.word)
				}
			}
		})
	}
	// Tampering after the digest's head is reported as such, not as a change
	// to the history the digest covers.
	t.Run("AfterTheDigest", func(t *testing.T) {
		t.Parallel()
		d, s := seeded(t)
		dg := digestOf(t, s, key)
		grow(t, s, 3)
		tamper(t, d, `UPDATE events SET data = '{"m":99}' WHERE id = (SELECT event_id FROM event_chain WHERE position = 8)`)
		rep := verifyDigest(t, d, testKey, dg)
		if rep.OK() || rep.Covered || !strings.Contains(rep.Problem, "up to the digest is intact") || rep.Log.BadPosition != 8 {
			t.Fatalf("report %+v", rep)
		}
	})
}
