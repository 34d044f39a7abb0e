package scenarios_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/big"
	"math/rand/v2"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"

	"keytask/activities"
	"keytask/db/pgtest"
	"keytask/domain/identity"
	"keytask/domain/intent"
	"keytask/events"
	"keytask/projections"
	"keytask/reference"
	"keytask/temporalx"
	"keytask/temporalx/devserver"
	"keytask/workflows"
)

// platform is a running keytask: store, worker and projector on an embedded
// Temporal server and a fresh database.
type platform struct {
	d     *pgtest.DB
	store *events.Store
	tc    client.Client
}

func startPlatform(t *testing.T) *platform {
	t.Helper()
	return startPlatformWith(t, workflows.Options{})
}

// startPlatformWith is startPlatform with the workflows registered with o.
func startPlatformWith(t *testing.T, o workflows.Options) *platform {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	d := pgtest.New(t)
	store := events.NewStore(d.Pool, events.WithMACKey([]byte("scenario log key, thirty-two byte")))
	quiet := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	srv, err := devserver.Start(ctx, devserver.Options{SearchAttributes: workflows.SearchAttributes(), Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Stop() })
	tc, err := temporalx.Dial(ctx, srv.FrontendAddr(), "default", quiet, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tc.Close)
	w := worker.New(tc, temporalx.TaskQueue, worker.Options{})
	workflows.RegisterWith(w, &activities.Activities{Store: store}, o)
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)
	pr, err := projections.NewProjector(d.Pool, store, nil, quiet, projections.All()...)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); pr.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	go store.RunSealer(ctx, 200*time.Millisecond, nil)
	return &platform{d: d, store: store, tc: tc}
}

// genForm makes a province's form as a client would send it: money as decimal
// strings of 万元 with up to four decimals.
func genForm(rng *rand.Rand, items []intent.TaskItem) intent.FormInput {
	var in intent.FormInput
	for _, it := range items {
		if rng.IntN(10) < 4 {
			continue // not undertaken: the line is left out
		}
		line := intent.LineInput{Item: it.Item, Undertake: json.RawMessage(`true`), Funds: map[string]json.RawMessage{}}
		// Every undertaken row states its 承接数量, development items included.
		line.Quantity = json.RawMessage(fmt.Sprint(1 + rng.IntN(20)))
		for _, s := range intent.Sources {
			if rng.IntN(4) == 0 {
				continue
			}
			amount := fmt.Sprintf("%d.%04d", rng.IntN(5000), rng.IntN(10000))
			if rng.IntN(2) == 0 {
				line.Funds[string(s)] = json.RawMessage(`"` + amount + `"`)
			} else {
				line.Funds[string(s)] = json.RawMessage(amount) // a JSON number
			}
		}
		in.Lines = append(in.Lines, line)
	}
	return in
}

func (p *platform) update(t *testing.T, round, name, id string, arg any, result any) error {
	t.Helper()
	h, err := p.tc.UpdateWorkflow(context.Background(), client.UpdateWorkflowOptions{
		WorkflowID: workflows.IntentRoundWorkflowID(round), UpdateName: name, UpdateID: id,
		Args: []any{arg}, WaitForStage: client.WorkflowUpdateStageCompleted,
	})
	if err != nil {
		return err
	}
	return h.Get(context.Background(), result)
}

func (p *platform) status(t *testing.T, round string) workflows.IntentRoundStatus {
	t.Helper()
	v, err := p.tc.QueryWorkflow(context.Background(), workflows.IntentRoundWorkflowID(round), "", workflows.QueryIntentRoundStatus)
	if err != nil {
		t.Fatal(err)
	}
	var st workflows.IntentRoundStatus
	if err := v.Get(&st); err != nil {
		t.Fatal(err)
	}
	return st
}

// TestIntentRoundNational drives all 32 provinces through draft, submission,
// return and resubmission, past the deadline (one province late under an
// extension) to filing, and checks the national summary against a sum of the
// forms as the provinces sent them, in big integers, and against the events.
func TestIntentRoundNational(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a whole round on a real Temporal server")
	}
	p := startPlatform(t)
	ctx := context.Background()
	ministry := events.Metadata{ActorID: "admin", Role: string(identity.RoleMinistry), Organisation: identity.MinistryOrganisation}

	items, err := intent.ParseTaskItemsCSV(bytes.NewReader(reference.KeyTasks2022Batch1))
	if err != nil {
		t.Fatal(err)
	}
	opened, err := intent.OpenPlanBatch(false, intent.PlanBatchOpened{BatchID: "2022-1", Name: "第一批", Items: items})
	if err != nil {
		t.Fatal(err)
	}
	data, _ := json.Marshal(opened)
	if _, err := p.store.Append(ctx, intent.PlanStream("2022-1"), events.NoStream, events.NewEvent{
		ID: events.DeriveID("scenario", "plan"), Type: intent.TypePlanBatchOpened, SchemaVersion: 1, Data: data, Metadata: ministry,
	}); err != nil {
		t.Fatal(err)
	}

	var provinces []string
	for code := range identity.Provinces {
		provinces = append(provinces, code)
	}
	sort.Strings(provinces)
	if len(provinces) != 32 {
		t.Fatalf("%d provinces", len(provinces))
	}
	const round = "2022-1"
	// Long enough for 32 provinces × four updates on a busy 2-core machine (they
	// take about 2 s on a quiet one).
	deadline := time.Now().Add(45 * time.Second).Truncate(time.Second)
	_, err = p.tc.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID: workflows.IntentRoundWorkflowID(round), TaskQueue: temporalx.TaskQueue,
	}, workflows.IntentRoundWorkflowName, workflows.IntentRoundParams{
		RoundID: round, BatchID: "2022-1", Items: items, Provinces: provinces, Deadline: deadline,
		ReminderOffsets: []time.Duration{30 * time.Second}, Actor: ministry,
	})
	if err != nil {
		t.Fatal(err)
	}

	// What each province finally submitted, as sent.
	final := map[string]intent.FormInput{}
	var mu sync.Mutex
	sem := make(chan struct{}, 6)
	var wg sync.WaitGroup
	for i, code := range provinces {
		wg.Add(1)
		go func(i int, code string) {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			rng := rand.New(rand.NewPCG(uint64(i), 2022))
			actor := events.Metadata{ActorID: "liaison-" + code, Role: string(identity.RoleProvince), Organisation: code}
			var res workflows.FormResult
			step := func(name, id string, arg any, out any) {
				if err := p.update(t, round, name, id, arg, out); err != nil {
					t.Errorf("%s %s: %v", code, name, err)
				}
			}
			draft := genForm(rng, items)
			step(workflows.UpdateSaveIntentDraft, code+"/draft", workflows.FormCommand{Province: code, Input: draft, Actor: actor}, &res)
			step(workflows.UpdateSubmitIntent, code+"/submit", workflows.FormCommand{Province: code, Input: genForm(rng, items), Actor: actor}, &res)
			step(workflows.UpdateReturnIntent, code+"/return", workflows.ReturnCommand{Province: code, Reason: "请核实省财政投入", Actor: ministry}, nil)
			revised := genForm(rng, items)
			step(workflows.UpdateSubmitIntent, code+"/resubmit", workflows.FormCommand{Province: code, Input: revised, Actor: actor}, &res)
			mu.Lock()
			final[code] = revised
			mu.Unlock()
		}(i, code)
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	if time.Now().After(deadline) {
		t.Fatalf("the provinces finished %v after the round's deadline", -time.Until(deadline))
	}
	t.Logf("32 provinces done %v before the deadline", time.Until(deadline).Round(time.Second))

	// Xinjiang Production and Construction Corps is sent back once more and
	// misses the deadline; the ministry extends it and it submits late.
	late := "66"
	if err := p.update(t, round, workflows.UpdateReturnIntent, "66/return2", workflows.ReturnCommand{Province: late, Reason: "数量与附件不符", Actor: ministry}, nil); err != nil {
		t.Fatal(err)
	}
	// Before the deadline filing is refused: the round is still open.
	if err := p.update(t, round, workflows.UpdateFileIntentRound, "file-early", workflows.FileCommand{Actor: ministry}, nil); err == nil {
		t.Fatal("the round was filed before its deadline")
	}
	waitFor(t, "the round to close", 2*time.Minute, func() bool { return p.status(t, round).Stage == string(intent.StageClosed) })

	lateForm := genForm(rand.New(rand.NewPCG(66, 66)), items)
	actor66 := events.Metadata{ActorID: "liaison-66", Role: string(identity.RoleProvince), Organisation: late}
	if err := p.update(t, round, workflows.UpdateSubmitIntent, "66/too-late", workflows.FormCommand{Province: late, Input: lateForm, Actor: actor66}, nil); err == nil {
		t.Fatal("a submission after the deadline without an extension was accepted")
	}
	if err := p.update(t, round, workflows.UpdateExtendProvince, "66/extend", workflows.ExtendCommand{Province: late, Deadline: time.Now().Add(time.Hour), Actor: ministry}, nil); err != nil {
		t.Fatal(err)
	}
	var lateRes workflows.FormResult
	if err := p.update(t, round, workflows.UpdateSubmitIntent, "66/late", workflows.FormCommand{Province: late, Input: lateForm, Actor: actor66}, &lateRes); err != nil {
		t.Fatal(err)
	}
	final[late] = lateForm
	if err := p.update(t, round, workflows.UpdateFileIntentRound, "file", workflows.FileCommand{Actor: ministry}, nil); err != nil {
		t.Fatal(err)
	}
	if err := p.update(t, round, workflows.UpdateRecordFeedback, "44/feedback", workflows.FeedbackCommand{Province: "44", Text: "已备案，请按备案结果推进", Actor: ministry}, nil); err != nil {
		t.Fatal(err)
	}
	st := p.status(t, round)
	if st.Stage != string(intent.StageFiled) || !st.Provinces[late].Late {
		t.Fatalf("status %s, 66 late %v", st.Stage, st.Provinces[late].Late)
	}

	// The read model once the projector has applied everything.
	var sum projections.Summary
	waitFor(t, "the summary to be filed with 32 provinces", time.Minute, func() bool {
		sum, err = projections.GetSummary(ctx, p.d.Pool, round)
		return err == nil && sum.Stage == intent.StageFiled && len(sum.Submitted) == 32
	})
	if len(sum.Missing) != 0 {
		t.Errorf("missing %v after everyone submitted", sum.Missing)
	}

	// Independent sum of what the provinces sent, in big integers of yuan.
	want := sumInputs(t, items, final)
	for _, it := range sum.Items {
		w := want[it.Item]
		if it.Provinces != w.provinces || it.Quantity != w.quantity {
			t.Errorf("item %s: %d provinces, quantity %d; want %d, %d", it.Item, it.Provinces, it.Quantity, w.provinces, w.quantity)
		}
		for _, s := range intent.Sources {
			if got := big.NewInt(int64(it.Funds.Get(s))); got.Cmp(w.funds[s]) != 0 {
				t.Errorf("item %s %s: %s yuan, want %s", it.Item, s.Label(), got, w.funds[s])
			}
		}
		if got := big.NewInt(int64(it.Total)); got.Cmp(w.total) != 0 {
			t.Errorf("item %s total: %s yuan, want %s", it.Item, got, w.total)
		}
	}

	// And the same from the events: the last submission of each province counts.
	fromEvents := map[string]intent.Form{}
	for _, code := range provinces {
		evs, err := p.store.ReadStream(ctx, intent.FormStream(round, code), events.ReadOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range evs {
			switch e.Type {
			case intent.TypeIntentSubmitted:
				var s intent.IntentSubmitted
				json.Unmarshal(e.Data, &s)
				fromEvents[code] = s.Form
			case intent.TypeIntentReturned:
				delete(fromEvents, code)
			}
		}
	}
	var grand big.Int
	for _, f := range fromEvents {
		for _, l := range f.Lines {
			for _, s := range intent.Sources {
				grand.Add(&grand, big.NewInt(int64(l.Funds.Get(s))))
			}
		}
	}
	if got := big.NewInt(int64(sum.Total)); got.Cmp(&grand) != 0 || len(fromEvents) != 32 {
		t.Errorf("summary total %s yuan over %d forms, events say %s", got, len(fromEvents), &grand)
	}

	// Reminders: at most one per province for the one offset.
	evs, _ := p.store.ReadStream(ctx, intent.RoundStream(round), events.ReadOptions{})
	seen := map[string]int{}
	for _, e := range evs {
		if e.Type == intent.TypeIntentReminderSent {
			var r intent.IntentReminderSent
			json.Unmarshal(e.Data, &r)
			seen[r.Province]++
		}
	}
	for code, n := range seen {
		if n > 1 {
			t.Errorf("province %s reminded %d times for one offset", code, n)
		}
	}

	// The log is intact and signed.
	if err := p.store.SealCommitted(ctx); err != nil {
		t.Fatal(err)
	}
	rep, err := events.Verify(ctx, p.d.Pool, []byte("scenario log key, thirty-two byte"), nil)
	if err != nil || !rep.OK() {
		t.Fatalf("verify: %+v %v", rep, err)
	}
	t.Logf("round filed: %d events, summary total %s 万元", rep.Events, sum.Total.Wan())
}

type itemSum struct {
	provinces int
	quantity  int64
	funds     map[intent.Source]*big.Int
	total     *big.Int
}

// sumInputs adds up the forms as sent, parsing the decimal strings into yuan
// with math/big, independently of the server's parser.
func sumInputs(t *testing.T, items []intent.TaskItem, forms map[string]intent.FormInput) map[string]*itemSum {
	t.Helper()
	out := map[string]*itemSum{}
	for _, it := range items {
		s := &itemSum{funds: map[intent.Source]*big.Int{}, total: new(big.Int)}
		for _, src := range intent.Sources {
			s.funds[src] = new(big.Int)
		}
		out[it.Item] = s
	}
	for _, f := range forms {
		for _, l := range f.Lines {
			s := out[l.Item]
			s.provinces++
			if len(l.Quantity) > 0 {
				var q int64
				json.Unmarshal(l.Quantity, &q)
				s.quantity += q
			}
			for src, raw := range l.Funds {
				text := strings.Trim(string(raw), `"`)
				r, ok := new(big.Rat).SetString(text)
				if !ok {
					t.Fatalf("bad amount %s", text)
				}
				r.Mul(r, big.NewRat(10000, 1))
				if !r.IsInt() {
					t.Fatalf("%s 万元 is not whole yuan", text)
				}
				s.funds[intent.Source(src)].Add(s.funds[intent.Source(src)], r.Num())
				s.total.Add(s.total, r.Num())
			}
		}
	}
	return out
}

func waitFor(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
