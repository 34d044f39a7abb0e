package intent_test

import (
	"encoding/json"
	"testing"
	"time"

	"keytask/domain/intent"
)

// A plan batch records its construction end when opened: the first batch's
// 2025-06-30 when none is given, a later batch its own; a batch recorded
// before the field existed reads as the first batch.
func TestPlanBatchConstructionEnd(t *testing.T) {
	sh := time.FixedZone("CST", 8*3600)
	items := refBatch1(t)
	first, err := intent.OpenPlanBatch(false, intent.PlanBatchOpened{BatchID: "2022-1", Name: "第一批", Items: items})
	if err != nil {
		t.Fatal(err)
	}
	if first.ConstructionEnd != "2025-06-30" || !first.ConstructionDeadline().Equal(time.Date(2025, 7, 1, 0, 0, 0, 0, sh)) {
		t.Fatalf("first batch ends %q at %s", first.ConstructionEnd, first.ConstructionDeadline())
	}
	second, err := intent.OpenPlanBatch(false, intent.PlanBatchOpened{BatchID: "2026-1", Name: "第二批", Items: items, ConstructionEnd: " 2028-12-31 "})
	if err != nil {
		t.Fatal(err)
	}
	if second.ConstructionEnd != "2028-12-31" || !second.ConstructionDeadline().Equal(time.Date(2029, 1, 1, 0, 0, 0, 0, sh)) {
		t.Fatalf("second batch ends %q at %s", second.ConstructionEnd, second.ConstructionDeadline())
	}
	for _, bad := range []string{"2028/12/31", "2028-02-30", "1999-12-31"} {
		_, err := intent.OpenPlanBatch(false, intent.PlanBatchOpened{BatchID: "x", Name: "x", Items: items, ConstructionEnd: bad})
		wantField(t, err, "construction_end", "建设截止日期")
	}
	var old intent.PlanBatchOpened
	if err := json.Unmarshal([]byte(`{"batch_id":"2022-1","name":"第一批","items":[]}`), &old); err != nil {
		t.Fatal(err)
	}
	if !old.ConstructionDeadline().Equal(first.ConstructionDeadline()) {
		t.Fatalf("a batch recorded without construction_end ends %s", old.ConstructionDeadline())
	}
}
