package deploy_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nexus-rpc/sdk-go/nexus"
	"go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/temporalproto"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"keytask/activities"
	"keytask/db/pgtest"
	"keytask/domain/intent"
	"keytask/domain/scoring"
	"keytask/domain/selection"
	"keytask/domain/tracking"
	"keytask/events"
	"keytask/temporalx"
	"keytask/temporalx/devserver"
	"keytask/workflows"
)

// historiesDir holds workflow histories recorded from real runs. A change to a
// workflow's code that would make any of them replay differently is a
// non-deterministic change: it must be guarded with workflow.GetVersion (see
// README.md, "Upgrading workflows").
const historiesDir = "histories"

// typeRecorder is a worker.Registry that hands workflows to a replayer and
// remembers their names, so that the test knows every workflow type keytask
// registers, including ones added later.
type typeRecorder struct {
	replayer worker.WorkflowReplayer
	names    []string
}

func (r *typeRecorder) RegisterWorkflow(w any) {
	r.replayer.RegisterWorkflow(w)
	name := runtime.FuncForPC(reflect.ValueOf(w).Pointer()).Name()
	r.names = append(r.names, name[strings.LastIndex(name, ".")+1:])
}

func (r *typeRecorder) RegisterWorkflowWithOptions(w any, o workflow.RegisterOptions) {
	r.replayer.RegisterWorkflowWithOptions(w, o)
	r.names = append(r.names, o.Name)
}

func (r *typeRecorder) RegisterDynamicWorkflow(w any, o workflow.DynamicRegisterOptions) {
	r.replayer.RegisterDynamicWorkflow(w, o)
}

func (*typeRecorder) RegisterActivity(any)                                         {}
func (*typeRecorder) RegisterActivityWithOptions(any, activity.RegisterOptions)    {}
func (*typeRecorder) RegisterDynamicActivity(any, activity.DynamicRegisterOptions) {}
func (*typeRecorder) RegisterNexusService(*nexus.Service)                          {}

// Every workflow type keytask registers has recorded histories, and every one
// of them replays against the current code without a non-determinism error.
func TestReplayRecordedHistories(t *testing.T) {
	// Through the payload codec every process now uses: histories recorded
	// before it, in clear, must replay as they are.
	codec, err := temporalx.NewCodec(bytes.Repeat([]byte{7}, temporalx.PayloadKeySize))
	if err != nil {
		t.Fatal(err)
	}
	replayer, err := worker.NewWorkflowReplayerWithOptions(worker.WorkflowReplayerOptions{DataConverter: temporalx.DataConverter(codec)})
	if err != nil {
		t.Fatal(err)
	}
	rec := &typeRecorder{replayer: replayer}
	workflows.Register(rec, &activities.Activities{})
	if len(rec.names) == 0 {
		t.Fatal("no workflow types registered")
	}
	files, err := filepath.Glob(filepath.Join(historiesDir, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	quiet := sdklog.NewStructuredLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))
	covered := map[string]int{}
	for _, f := range files {
		typ, err := historyType(f)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if !slices.Contains(rec.names, typ) {
			t.Errorf("%s records workflow type %s, which keytask no longer registers", f, typ)
			continue
		}
		covered[typ]++
		if err := rec.replayer.ReplayWorkflowHistoryFromJSONFile(quiet, f); err != nil {
			t.Errorf("%s does not replay on the current code: %v", f, err)
		}
	}
	for _, n := range rec.names {
		if covered[n] == 0 {
			t.Errorf("no recorded history of workflow type %s: record one with KEYTASK_RECORD_HISTORIES=1 go test ./deploy -run TestRecordWorkflowHistories", n)
		}
	}
}

// historyType reads the workflow type from a history's first event.
func historyType(file string) (string, error) {
	f, err := os.Open(file)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h, err := client.HistoryFromJSON(f, client.HistoryJSONOptions{})
	if err != nil {
		return "", err
	}
	if len(h.Events) == 0 || h.Events[0].GetWorkflowExecutionStartedEventAttributes() == nil {
		return "", io.ErrUnexpectedEOF
	}
	return h.Events[0].GetWorkflowExecutionStartedEventAttributes().GetWorkflowType().GetName(), nil
}

// TestRecordWorkflowHistories runs each workflow type on a real Temporal server
// through a few of its commands and writes the histories to historiesDir. Run
// it when a workflow type is added, and before changing a workflow, so that the
// replay test holds the new code to what running workflows have recorded:
//
//	KEYTASK_RECORD_HISTORIES=1 go test ./deploy -run TestRecordWorkflowHistories
//
// records the histories not yet recorded; KEYTASK_RECORD_HISTORIES=all records every one again.
func TestRecordWorkflowHistories(t *testing.T) {
	if os.Getenv("KEYTASK_RECORD_HISTORIES") == "" {
		t.Skip("records histories only when KEYTASK_RECORD_HISTORIES is set")
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	srv, err := devserver.Start(ctx, devserver.Options{SearchAttributes: workflows.SearchAttributes(), Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Stop() })
	c, err := client.DialContext(ctx, client.Options{HostPort: srv.FrontendAddr(), Logger: sdklog.NewStructuredLogger(quiet)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	d := pgtest.New(t)
	w := worker.New(c, temporalx.TaskQueue, worker.Options{})
	workflows.Register(w, &activities.Activities{Store: events.NewStore(d.Pool)})
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	defer w.Stop()

	ministry := events.Metadata{ActorID: "u-ministry", Role: "ministry", Organisation: "MOHRSS"}
	start := func(id, typ string, arg any) {
		t.Helper()
		if _, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: temporalx.TaskQueue}, typ, arg); err != nil {
			t.Fatalf("start %s: %v", typ, err)
		}
	}
	update := func(id, name, updateID string, arg any) {
		t.Helper()
		h, err := c.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{WorkflowID: id, UpdateName: name, UpdateID: updateID,
			Args: []any{arg}, WaitForStage: client.WorkflowUpdateStageCompleted})
		if err != nil {
			t.Fatalf("%s %s: %v", id, name, err)
		}
		if err := h.Get(ctx, nil); err != nil {
			t.Fatalf("%s %s: %v", id, name, err)
		}
	}

	now := time.Now().UTC().Truncate(time.Second)
	items := []intent.TaskItem{
		{Item: "1", Code: "SZJD", Name: "遴选技工教育思想政治理论课师资研修基地", Target: 30, Unit: "个", Kind: intent.KindSelection},
		{Item: "2.1", Code: "YZYX", Name: "遴选优质技工院校", Target: 300, Unit: "所", Kind: intent.KindSelection},
	}
	round := workflows.IntentRoundWorkflowID("rec-1")
	start(round, workflows.IntentRoundWorkflowName, workflows.IntentRoundParams{
		RoundID: "rec-1", BatchID: "rec-1", Items: items, Provinces: []string{"11", "44"},
		Deadline: now.Add(20 * 24 * time.Hour), ReminderOffsets: []time.Duration{7 * 24 * time.Hour}, Actor: ministry,
	})
	form := intent.FormInput{Lines: []intent.LineInput{{Item: "2.1", Undertake: json.RawMessage(`true`), Quantity: json.RawMessage(`3`),
		Funds: map[string]json.RawMessage{"school": json.RawMessage(`"120.5"`)}}}}
	province := events.Metadata{ActorID: "u-11", Role: "province", Organisation: "11"}
	update(round, workflows.UpdateSaveIntentDraft, "draft-11", workflows.FormCommand{Province: "11", Input: form, Actor: province})
	update(round, workflows.UpdateSubmitIntent, "submit-11", workflows.FormCommand{Province: "11", Input: form, Actor: province})

	batch := workflows.SelectionBatchWorkflowID("rec-b1")
	start(batch, workflows.SelectionBatchWorkflowName, workflows.SelectionBatchParams{Actor: ministry, Batch: selection.SelectionBatchOpened{
		BatchID: "rec-b1", PlanBatchID: "rec-1", TaskItem: "2.1", TaskType: "YZYX", Quota: 2,
		ProvinceQuotas: map[string]int{"11": 2, "44": 1}, PerApplication: 2,
		Periods:  map[selection.Stage]time.Duration{selection.StageQualification: 10 * 24 * time.Hour, selection.StageExpertReview: 10 * 24 * time.Hour},
		Rubric:   scoring.Rubric{TaskType: "YZYX", Criteria: []scoring.Criterion{{Key: "base", Name: "建设基础", Weight: 60, Max: 60}, {Key: "plan", Name: "建设方案", Weight: 40, Max: 40}}},
		Deadline: now.Add(10 * 24 * time.Hour),
	}})
	update(batch, workflows.UpdateRaiseProvinceQuota, "quota-44", workflows.RaiseQuotaCommand{Province: "44", Quota: 2, Reason: "申报踊跃", Actor: ministry})

	// A past year's collection over one project runs from opening through
	// late marking and escalation to its close.
	store := events.NewStore(d.Pool)
	seed := func(stream, typ string, data any) {
		t.Helper()
		b, err := json.Marshal(data)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := store.Append(ctx, stream, events.AnyVersion, events.NewEvent{
			ID: events.DeriveID("rec", stream, typ), Type: typ, SchemaVersion: 1, Data: b, Metadata: ministry}); err != nil {
			t.Fatal(err)
		}
	}
	seed(selection.ApplicationStream("rec-a1"), selection.TypeApplicationCreated, selection.ApplicationCreated{
		ApplicationID: "rec-a1", BatchID: "rec-b0", TaskItem: "2.1", TaskType: "YZYX", School: "rec-s1", Province: "11", Title: "申报"})
	seed(selection.ProjectStream("rec-b0.rec-a1"), selection.TypeProjectCreated, selection.ProjectCreated{
		ProjectID: "rec-b0.rec-a1", BatchID: "rec-b0", TaskItem: "2.1", TaskType: "YZYX", Application: "rec-a1", Province: "11", Rank: 1})
	collection := "performance-collection-rec-2022"
	start(collection, workflows.PerformanceCollectionWorkflowName, workflows.PerformanceCollectionParams{
		OpensAt: time.Date(2022, 12, 1, 1, 0, 0, 0, time.UTC), Actor: ministry})
	var done any
	if err := c.GetWorkflow(ctx, collection, "").Get(ctx, &done); err != nil {
		t.Fatalf("collection: %v", err)
	}

	// A flag whose deadline passed when its timer started: it is escalated
	// at once, after the reminders whose time has passed are skipped.
	rectifyBy := time.Now().Add(2 * time.Second)
	seed(selection.ProjectStream("rec-b0.rec-a1"), tracking.TypeProjectFlagged, tracking.ProjectFlagged{
		ProjectID: "rec-b0.rec-a1", Reason: "进度滞后", RectifyBy: rectifyBy})
	rectification := workflows.RectificationWorkflowID("rec-b0.rec-a1", 2)
	start(rectification, workflows.RectificationWorkflowName, workflows.RectificationParams{ProjectID: "rec-b0.rec-a1", FlagVersion: 2,
		RectifyBy: rectifyBy, Actor: ministry})
	if err := c.GetWorkflow(ctx, rectification, "").Get(ctx, &done); err != nil {
		t.Fatalf("rectification: %v", err)
	}

	if err := os.MkdirAll(historiesDir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, r := range []struct{ id, typ string }{{round, workflows.IntentRoundWorkflowName},
		{batch, workflows.SelectionBatchWorkflowName}, {collection, workflows.PerformanceCollectionWorkflowName},
		{rectification, workflows.RectificationWorkflowName}} {
		h := &historypb.History{}
		it := c.GetWorkflowHistory(ctx, r.id, "", false, enums.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
		for it.HasNext() {
			ev, err := it.Next()
			if err != nil {
				t.Fatal(err)
			}
			h.Events = append(h.Events, ev)
		}
		b, err := temporalproto.CustomJSONMarshalOptions{Indent: "  "}.Marshal(h)
		if err != nil {
			t.Fatal(err)
		}
		file := filepath.Join(historiesDir, r.typ+"-"+r.id+".json")
		if _, err := os.Stat(file); err == nil && os.Getenv("KEYTASK_RECORD_HISTORIES") != "all" {
			// A recorded history stays as it was: the replay checks today's
			// code against what earlier code recorded.
			continue
		}
		if err := os.WriteFile(file, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("recorded %d events of %s in %s", len(h.Events), r.id, file)
	}
}
