package workflows_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/temporal"

	"keytask/app"
	"keytask/domain"
	"keytask/domain/selection"
	"keytask/events"
	"keytask/workflows"
)

// failed asserts that the validator accepted the update and its handler then
// refused it with a domain error of the given kind on field.
func (o *outcome) failed(t *testing.T, conflict bool, field, message string) {
	t.Helper()
	if !o.accepted || !o.completed || o.err == nil {
		t.Errorf("%s at %s: accepted %v completed %v err %v, want the handler to refuse it", o.name, o.at, o.accepted, o.completed, o.err)
		return
	}
	fc := temporal.GetDefaultFailureConverter()
	err := workflows.DomainError(fc.FailureToError(fc.ErrorToFailure(o.err)))
	var ce *domain.ConflictError
	var fe *domain.FieldError
	switch {
	case conflict && !errors.As(err, &ce):
		t.Errorf("%s: err %#v, want a conflict", o.name, err)
	case !conflict && (errors.As(err, &ce) || !errors.As(err, &fe)):
		t.Errorf("%s: err %#v, want a field error", o.name, err)
	case conflict && (ce.Field != field || !strings.Contains(ce.Message, message)):
		t.Errorf("%s: conflict on %q %q, want %q %q", o.name, ce.Field, ce.Message, field, message)
	case !conflict && (fe.Field != field || !strings.Contains(fe.Message, message)):
		t.Errorf("%s: field error on %q %q, want %q %q", o.name, fe.Field, fe.Message, field, message)
	}
}

// seedApp creates an application on its stream, submitted unless draft.
func (bt *batchTest) seedApp(id, province, item string, submitted bool) {
	bt.seed(selection.ApplicationStream(id), selection.TypeApplicationCreated, selection.ApplicationCreated{
		ApplicationID: id, BatchID: "b1", TaskItem: item, TaskType: "YZYX", School: "s-" + id, Province: province})
	if submitted {
		bt.seed(selection.ApplicationStream(id), selection.TypeApplicationSubmitted, selection.ApplicationSubmitted{ApplicationID: id, At: selStart})
	}
}

// A recommendation is checked against the log in the update handler: an
// application that does not exist, is not submitted, is another province's or
// another task item's is refused by position, and nothing is appended.
func TestSelectionRecommendationChecksTheLog(t *testing.T) {
	bt := newBatchTest(t)
	bt.seedApp("a1", "11", "2.1", true)
	bt.seedApp("d1", "11", "2.1", false)
	bt.seedApp("p44", "44", "2.1", true)
	bt.seedApp("t9", "11", "2.2", true)
	h := time.Hour
	at := func(d time.Duration) time.Time { return selStart.Add(d) }
	rec := func(apps ...string) func() any {
		return val(workflows.RecommendCommand{Province: "11", Applications: apps, Actor: province11})
	}
	missing := bt.update(at(h), workflows.UpdateRecommendApplications, rec("a1", "nope"))
	draft := bt.update(at(2*h), workflows.UpdateRecommendApplications, rec("d1"))
	foreign := bt.update(at(3*h), workflows.UpdateRecommendApplications, rec("a1", "p44"))
	otherItem := bt.update(at(4*h), workflows.UpdateRecommendApplications, rec("t9"))
	good := bt.update(at(5*h), workflows.UpdateRecommendApplications, rec("a1"))
	bt.env.RegisterDelayedCallback(func() { bt.env.CancelWorkflow() }, 6*h)
	bt.env.ExecuteWorkflow(workflows.SelectionBatchWorkflowName, bt.params)

	missing.failed(t, false, "applications[1]", "不存在")
	draft.failed(t, false, "applications[0]", "尚未提交")
	foreign.failed(t, false, "applications[1]", "属于广东省")
	otherItem.failed(t, false, "applications[0]", "任务 2.2")
	good.ok(t)
	got := bt.storeTypes(selection.SelectionBatchStream("b1"))
	if len(got) != 2 || got[1] != selection.TypeApplicationsRecommended {
		t.Fatalf("batch stream %v, want the opening and one recommendation", got)
	}
}

// seedAt appends an event to an application's stream at a moment of the run,
// as the application service would.
func (bt *batchTest) seedAt(at time.Time, stream, typ string, data any) {
	bt.env.RegisterDelayedCallback(func() {
		b, _ := json.Marshal(data)
		if _, err := bt.store.Append(context.Background(), stream, events.AnyVersion, events.NewEvent{
			ID: events.DeriveID("seed", stream, typ, at.String()), Type: typ, SchemaVersion: 1, Data: b, Metadata: ministry}); err != nil {
			bt.t.Error(err)
		}
	}, at.Sub(selStart))
}

// A school selected for the task item in another published batch is refused,
// naming that batch; a school outside the province's filed 实施单位 is
// recommended only with a reason, which the recommendation records.
func TestSelectionRecommendationHandsOver(t *testing.T) {
	bt := newBatchTest(t)
	bt.params.Batch.Units = map[string][]string{"11": {"s-a1", "s-sx"}}
	bt.seedApp("a1", "11", "2.1", true)
	bt.seedApp("u1", "11", "2.1", true)
	bt.seedApp("sx", "11", "2.1", true)
	bt.seed(selection.SelectionBatchStream("b0"), selection.TypeSelectionBatchOpened,
		selection.SelectionBatchOpened{BatchID: "b0", TaskItem: "2.1", TaskType: "YZYX", Quota: 1})
	bt.seed(selection.SelectionBatchStream("b0"), selection.TypeSelectionBatchPublished,
		selection.SelectionBatchPublished{List: []string{app.ApplicationIDFor("b0", "s-sx")}})
	h := time.Hour
	at := func(d time.Duration) time.Time { return selStart.Add(d) }
	rec := func(reasons map[string]string, apps ...string) func() any {
		return val(workflows.RecommendCommand{Province: "11", Applications: apps, Reasons: reasons, Actor: province11})
	}
	selected := bt.update(at(h), workflows.UpdateRecommendApplications, rec(nil, "sx"))
	outside := bt.update(at(2*h), workflows.UpdateRecommendApplications, rec(map[string]string{"a1": "x"}, "a1", "u1"))
	good := bt.update(at(3*h), workflows.UpdateRecommendApplications, rec(map[string]string{"u1": "该校办学质量突出"}, "a1", "u1"))
	bt.env.RegisterDelayedCallback(func() { bt.env.CancelWorkflow() }, 4*h)
	bt.env.ExecuteWorkflow(workflows.SelectionBatchWorkflowName, bt.params)

	selected.failed(t, true, "applications[0]", "b0")
	outside.failed(t, false, "reasons.u1", "实施单位")
	good.ok(t)
	evs, err := bt.store.ReadStream(context.Background(), selection.SelectionBatchStream("b1"), events.ReadOptions{})
	if err != nil || len(evs) != 2 {
		t.Fatalf("batch stream: %d events, %v; want the opening and one recommendation", len(evs), err)
	}
	var e selection.ApplicationsRecommended
	if err := json.Unmarshal(evs[1].Data, &e); err != nil || len(e.Reasons) != 1 || e.Reasons["u1"] != "该校办学质量突出" {
		t.Fatalf("recorded %+v, %v", e, err)
	}
}
