package projections_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"keytask/db/pgtest"
	"keytask/domain/identity"
	"keytask/domain/intent"
	"keytask/events"
	"keytask/projections"
)

// BenchmarkGetSummary reads a round's national summary — the API's busiest
// read — beside the least any read costs, one keyed SELECT of the round's row,
// on the same pool in the same run, by one reader and by as many as the API
// serves at once. "ratio" is summary time per read over anchor time per read:
// a read that waits for a round trip per query shows as a ratio near the number
// of queries it sends.
func BenchmarkGetSummary(b *testing.B) {
	for _, readers := range []int{1, 16} {
		b.Run(fmt.Sprintf("%dreaders", readers), func(b *testing.B) {
			ctx := context.Background()
			d := pgtest.New(b)
			round := seedNationalRound(b, d.Pool, events.NewStore(d.Pool))
			summary := func() error {
				s, err := projections.GetSummary(ctx, d.Pool, round)
				if err == nil && len(s.Submitted) == 0 {
					err = fmt.Errorf("summary of %s counts no submitted form", round)
				}
				return err
			}
			anchor := func() error {
				var id string
				return d.Pool.QueryRow(ctx, `SELECT round_id FROM intent_rounds WHERE round_id = $1`, round).Scan(&id)
			}
			// Warm both so that neither pays for opening connections or
			// preparing statements.
			runReaders(b, readers, readers*4, anchor)
			runReaders(b, readers, readers*4, summary)
			b.ResetTimer()
			// Alternate the two in short rounds so that drift in the machine's
			// speed hits both alike.
			const rounds = 8
			ops := max(b.N/rounds, readers)
			var sum, base time.Duration
			for r := 0; r < rounds; r++ {
				base += runReaders(b, readers, ops, anchor)
				sum += runReaders(b, readers, ops, summary)
			}
			b.StopTimer()
			n := float64(rounds * ops)
			b.ReportMetric(float64(sum.Microseconds())/n, "µs/summary")
			b.ReportMetric(float64(base.Microseconds())/n, "µs/anchor")
			b.ReportMetric(float64(sum)/float64(base), "ratio")
		})
	}
}

// runReaders calls read ops times from n goroutines and returns the wall time.
func runReaders(b *testing.B, n, ops int, read func() error) time.Duration {
	b.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	work := make(chan struct{}, ops)
	for i := 0; i < ops; i++ {
		work <- struct{}{}
	}
	close(work)
	began := time.Now()
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range work {
				if err := read(); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	took := time.Since(began)
	close(errs)
	if err := <-errs; err != nil {
		b.Fatal(err)
	}
	return took
}

// seedNationalRound records a round expecting every province, in which half of
// them have submitted and the others have registered a liaison and saved a
// draft, and projects it. It returns the round's id.
func seedNationalRound(b *testing.B, pool *pgxpool.Pool, store *events.Store) string {
	b.Helper()
	ctx := context.Background()
	const round, batch = "bench-1", "bench"
	n := 0
	add := func(stream, typ string, payload any, role, org string) {
		data, err := json.Marshal(payload)
		if err != nil {
			b.Fatal(err)
		}
		n++
		if _, err := store.Append(ctx, stream, events.AnyVersion, events.NewEvent{
			ID: events.DeriveID("summary-bench", fmt.Sprint(n)), Type: typ, SchemaVersion: 1, Data: data,
			Metadata: events.Metadata{ActorID: "bench-" + org, Role: role, Organisation: org},
		}); err != nil {
			b.Fatal(err)
		}
	}
	ministry := identity.MinistryOrganisation
	add(intent.PlanStream(batch), intent.TypePlanBatchOpened, intent.PlanBatchOpened{BatchID: batch, Name: "基准测试批次", Items: testItems},
		"ministry", ministry)
	add(intent.RoundStream(round), intent.TypeIntentRoundOpened, intent.IntentRoundOpened{RoundID: round, BatchID: batch, Items: testItems,
		Deadline: time.Now().Add(30 * 24 * time.Hour).UTC(), ReminderOffsets: []time.Duration{72 * time.Hour}}, "ministry", ministry)
	codes := make([]string, 0, len(identity.Provinces))
	for c := range identity.Provinces {
		codes = append(codes, c)
	}
	sort.Strings(codes)
	for i, c := range codes {
		f := intent.Form{}
		for j, it := range testItems {
			funds := intent.Funds{School: intent.Yuan(10_000 * (i + 1)), Provincial: intent.Yuan(j + 1)}
			total, err := funds.Total()
			if err != nil {
				b.Fatal(err)
			}
			f.Lines = append(f.Lines, intent.Line{Item: it.Item, Undertake: true, Quantity: int64(j + 1), Funds: funds, Total: total})
			if f.Totals, err = f.Totals.Plus(funds); err != nil {
				b.Fatal(err)
			}
		}
		var err error
		if f.Total, err = f.Totals.Total(); err != nil {
			b.Fatal(err)
		}
		stream := intent.FormStream(round, c)
		if i%2 == 0 {
			add(stream, intent.TypeIntentSubmitted, intent.IntentSubmitted{RoundID: round, Province: c, Form: f}, "province", c)
			continue
		}
		add(intent.LiaisonStream(c), intent.TypeLiaisonRegistered, intent.LiaisonRegistered{Province: c, Name: "联络员" + c,
			Phone: "010-8420" + c + "00", Email: "liaison" + c + "@example.gov.cn"}, "province", c)
		add(stream, intent.TypeIntentDraftSaved, intent.IntentDraftSaved{RoundID: round, Province: c, Form: f}, "province", c)
	}
	for _, p := range []projections.Projection{projections.IntentPlan{}, projections.IntentLiaisons{}, projections.IntentRounds{}} {
		if _, err := projections.Rebuild(ctx, pool, store, p, nil); err != nil {
			b.Fatal(err)
		}
	}
	return round
}
