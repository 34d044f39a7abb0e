package workflows_test

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/converter"

	"keytask/domain/selection"
	"keytask/workflows"
)

// A carry crosses continue-as-new compressed and comes back equal; a carry
// written as plain JSON (before compression) still reads.
func TestSelectionBatchCarryRoundTrip(t *testing.T) {
	carry := workflows.SelectionBatchCarry{Version: 42, Steps: 7, Runs: 1, State: selection.BatchState{
		SelectionBatchOpened: selection.SelectionBatchOpened{BatchID: "b1", TaskItem: "2.1", TaskType: "YZYX", Quota: 2,
			ProvinceQuotas: map[string]int{"11": 2}},
		Stage: selection.StageQualification, Deadline: selStart,
		Apps: map[string]selection.AppState{"a1": {Province: "11", Rank: 1, Outcome: selection.Returned, Until: selStart.Add(time.Hour)},
			"a2": {Province: "11", Rank: 2}},
		Recommended: map[string][]string{"11": {"a1", "a2"}},
		Objections:  map[string]selection.ObjectionState{},
	}}
	p := workflows.SelectionBatchParams{Carry: &carry}
	payloads, err := converter.GetDefaultDataConverter().ToPayloads(p)
	if err != nil {
		t.Fatal(err)
	}
	if s := string(payloads.Payloads[0].Data); !strings.Contains(s, `"gzip"`) || strings.Contains(s, `"a1"`) {
		t.Fatalf("the carry travels uncompressed: %s", s)
	}
	var back workflows.SelectionBatchParams
	if err := converter.GetDefaultDataConverter().FromPayloads(payloads, &back); err != nil {
		t.Fatal(err)
	}
	if back.Carry == nil || !reflect.DeepEqual(normalise(t, *back.Carry), normalise(t, carry)) {
		t.Fatalf("round trip: %+v, want %+v", back.Carry, carry)
	}

	plain := `{"state":{"batch_id":"b1","stage":"notice","apps":{"a1":{"p":"11","r":1}}},"version":9,"steps":3,"runs":2}`
	var old workflows.SelectionBatchCarry
	if err := json.Unmarshal([]byte(plain), &old); err != nil {
		t.Fatal(err)
	}
	if old.Version != 9 || old.Steps != 3 || old.Runs != 2 || old.State.Stage != selection.StageNotice || old.State.Apps["a1"].Province != "11" {
		t.Fatalf("plain carry read as %+v", old)
	}
	if err := json.Unmarshal([]byte(`{"gzip":"bm90IGd6aXA="}`), &old); err == nil {
		t.Fatal("a corrupt carry read without error")
	}
}

// normalise compares carries by their plain JSON, where times in different
// locations but at the same instant are equal.
func normalise(t *testing.T, c workflows.SelectionBatchCarry) map[string]any {
	t.Helper()
	c.State.Deadline = c.State.Deadline.UTC()
	for id, a := range c.State.Apps {
		a.Until = a.Until.UTC()
		c.State.Apps[id] = a
	}
	type plain workflows.SelectionBatchCarry
	b, err := json.Marshal(plain(c))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}
