package activities

import (
	"context"
	"encoding/json"
	"testing"

	"keytask/db/pgtest"
	"keytask/domain/selection"
	"keytask/events"
)

// An expert's load counts every open batch: assignments and replacements of
// other batches not yet published, never the batch deciding, never a
// published one.
func TestOpenBatchLoads(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	d := pgtest.New(t)
	a := &Activities{Store: events.NewStore(d.Pool)}
	put := func(stream, step, typ string, data any) {
		b, _ := json.Marshal(data)
		if _, err := a.Store.Append(ctx, stream, events.AnyVersion,
			events.NewEvent{ID: events.DeriveID("test", stream, step), Type: typ, SchemaVersion: 1, Data: b}); err != nil {
			t.Fatal(err)
		}
	}
	b1, b2, b3 := selection.SelectionBatchStream("b1"), selection.SelectionBatchStream("b2"), selection.SelectionBatchStream("b3")
	put(b1, "assign", selection.TypeExpertsAssigned, selection.ExpertsAssigned{Round: 1, Assignments: []selection.ExpertAssignment{
		{Application: "a1", Experts: []string{"e1", "e2", "e3"}}, {Application: "a2", Experts: []string{"e1", "e2", "e4"}}}})
	put(b1, "replace", selection.TypeExpertsReplaced, selection.ExpertsReplaced{Round: 2, Reason: "谢绝",
		Replacements: []selection.ExpertReplacement{{Application: "a2", Expert: "e2", Replacement: "e5"}}})
	put(b2, "assign", selection.TypeExpertsAssigned, selection.ExpertsAssigned{Round: 1, Assignments: []selection.ExpertAssignment{
		{Application: "a3", Experts: []string{"e1", "e6", "e7"}}}})
	put(b3, "assign", selection.TypeExpertsAssigned, selection.ExpertsAssigned{Round: 1, Assignments: []selection.ExpertAssignment{
		{Application: "a4", Experts: []string{"e1", "e2", "e3"}}}})
	put(b3, "publish", selection.TypeSelectionBatchPublished, selection.SelectionBatchPublished{List: []string{"a4"}})

	got, err := a.OpenBatchLoads(ctx, b2)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int{"e1": 2, "e2": 1, "e3": 1, "e4": 1, "e5": 1}
	if len(got) != len(want) {
		t.Fatalf("loads %v, want %v", got, want)
	}
	for e, n := range want {
		if got[e] != n {
			t.Fatalf("loads %v, want %v", got, want)
		}
	}
}
