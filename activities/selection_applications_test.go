package activities

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"keytask/db/pgtest"
	"keytask/domain/selection"
	"keytask/events"
)

// Returning an application makes it editable on its own stream; a retried
// activity appends nothing twice, and a draft has nothing to reopen.
func TestReturnApplicationsIsIdempotent(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a := &Activities{Store: events.NewStore(pgtest.New(t).Pool)}
	put := func(id, typ string, data any) {
		b, _ := json.Marshal(data)
		if _, err := a.Store.Append(ctx, selection.ApplicationStream(id), events.AnyVersion,
			events.NewEvent{ID: events.DeriveID("test", id, typ), Type: typ, SchemaVersion: 1, Data: b}); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range []string{"a1", "d1"} {
		put(id, selection.TypeApplicationCreated, selection.ApplicationCreated{ApplicationID: id, TaskItem: "2.1", TaskType: "YZYX", School: "s", Province: "11"})
	}
	put("a1", selection.TypeApplicationSubmitted, selection.ApplicationSubmitted{ApplicationID: "a1", At: time.Now()})

	until := time.Date(2025, 3, 10, 0, 0, 0, 0, time.UTC)
	req := ReturnApplicationsRequest{WorkflowID: "selection-batch-b1", Step: "qualify/3/return", Decisions: []selection.QualificationDecision{
		{Application: "a1", Outcome: selection.Returned, Reason: "缺少佐证材料", Until: until},
		{Application: "d1", Outcome: selection.Returned, Reason: "x", Until: until}}}
	for range 2 {
		res, err := a.ReturnApplications(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Returned) != 1 || res.Returned[0] != "a1" || len(res.Skipped) != 1 || res.Skipped[0] != "d1" {
			t.Fatalf("result %+v", res)
		}
	}
	app, evs, err := a.readApplication(ctx, "a1")
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 3 || app.Status != selection.StatusReturned || !app.ReturnUntil.Equal(until) || !app.Editable(until.Add(-time.Hour)) {
		t.Fatalf("a1 after return: %d events, %+v", len(evs), app)
	}
	facts, err := a.ReadApplicationFacts(ctx, ApplicationFactsRequest{Applications: []string{"a1", "d1", "none", "bad id"}})
	if err != nil {
		t.Fatal(err)
	}
	if facts[0].Status != selection.StatusReturned || facts[1].Status != selection.StatusDraft || facts[2].Exists || facts[3].Exists ||
		facts[0].Province != "11" || facts[0].TaskItem != "2.1" {
		t.Fatalf("facts %+v", facts)
	}
}
