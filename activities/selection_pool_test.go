package activities

import (
	"context"
	"encoding/json"
	"testing"

	"keytask/db/pgtest"
	"keytask/domain/selection"
	"keytask/events"
)

// An expert's later update replaces the record the solver sees: a conflict
// declared after registration must keep the expert off that application.
func TestExpertPoolSeesUpdates(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	d := pgtest.New(t)
	a := &Activities{Store: events.NewStore(d.Pool)}
	put := func(step, typ string, rec selection.ExpertRegistered) {
		data, _ := json.Marshal(rec)
		if _, err := a.Store.Append(ctx, selection.ExpertStream(rec.ExpertID), events.AnyVersion,
			events.NewEvent{ID: events.DeriveID("test", step), Type: typ, SchemaVersion: 1, Data: data}); err != nil {
			t.Fatal(err)
		}
	}
	rec := selection.ExpertRegistered{ExpertID: "e1", Expertise: map[string]int{"YZYX": 3}, Province: "11", Load: 10}
	put("register", selection.TypeExpertRegistered, rec)
	rec.Load = 4
	rec.ConflictApplications = []string{"app-7"}
	put("update", selection.TypeExpertUpdated, rec)
	put("other", selection.TypeExpertRegistered, selection.ExpertRegistered{ExpertID: "e2", Expertise: map[string]int{"YZYX": 1}, Load: 2})

	pool, err := a.expertPool(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(pool) != 2 {
		t.Fatalf("%d experts, want 2", len(pool))
	}
	for _, e := range pool {
		if e.ID == "e1" && (e.Load != 4 || len(e.ConflictApplications) != 1 || e.ConflictApplications[0] != "app-7") {
			t.Fatalf("e1 as the solver sees it: %+v, want the updated record", e)
		}
	}
}
