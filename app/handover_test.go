package app_test

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"

	"keytask/app"
	"keytask/domain"
	"keytask/domain/intent"
	"keytask/domain/register"
	"keytask/domain/selection"
	"keytask/events"
)

func (f *fixture) seed(stream string, typ string, payload any) {
	f.t.Helper()
	data, err := json.Marshal(payload)
	if err != nil {
		f.t.Fatal(err)
	}
	if _, err := f.store.Append(context.Background(), stream, events.AnyVersion, events.NewEvent{
		ID: events.DeriveID("test-seed", stream, typ, string(data)), Type: typ, SchemaVersion: 1, Data: data,
		Metadata: events.Metadata{ActorID: "admin", Role: "ministry"},
	}); err != nil {
		f.t.Fatal(err)
	}
}

func wantConflict(t *testing.T, err error, field string, mentions ...string) {
	t.Helper()
	var ce *domain.ConflictError
	if !errors.As(err, &ce) || ce.Field != field {
		t.Fatalf("got %T %v, want a conflict naming %q", err, err, field)
	}
	for _, m := range mentions {
		if !strings.Contains(ce.Message, m) {
			t.Fatalf("message %q does not name %q", ce.Message, m)
		}
	}
}

// A school applies once per batch: a second application, under another key,
// is refused naming the first, and nothing is written.
func TestOneApplicationPerSchoolPerBatch(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	req := f.school
	req.Key = "first"
	first, err := f.app.CreateApplication(ctx, app.CreateApplication{Request: req, By: f.by, BatchID: batchID, Title: "研修基地", Province: "11"})
	if err != nil {
		t.Fatal(err)
	}
	before, _ := f.store.StreamVersion(ctx, selection.ApplicationStream(first.ApplicationID))
	req.Key = "second"
	_, err = f.app.CreateApplication(ctx, app.CreateApplication{Request: req, By: f.by, BatchID: batchID, Title: "另一个基地", Province: "11"})
	wantConflict(t, err, "batch_id", first.ApplicationID, "研修基地")
	if after, _ := f.store.StreamVersion(ctx, selection.ApplicationStream(first.ApplicationID)); after != before {
		t.Fatalf("stream moved from %d to %d", before, after)
	}
	// Another school may still apply.
	by := f.by
	by.Organisation = "11-002"
	req.Key = "other-school"
	if _, err := f.app.CreateApplication(ctx, app.CreateApplication{Request: req, By: by, BatchID: batchID, Title: "研修基地", Province: "11"}); err != nil {
		t.Fatal(err)
	}
}

// A school selected for a task item in a published batch cannot apply for it
// in another batch; the refusal names the earlier batch.
func TestSelectedSchoolRefusedInLaterBatch(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	// Batch b0 of the same task item published the school's application.
	f.seed(selection.SelectionBatchStream("b0"), selection.TypeSelectionBatchOpened,
		selection.SelectionBatchOpened{BatchID: "b0", TaskItem: "2-1", TaskType: "SZJD", Quota: 10})
	f.seed(selection.SelectionBatchStream("b0"), selection.TypeSelectionBatchPublished,
		selection.SelectionBatchPublished{List: []string{"x", app.ApplicationIDFor("b0", "11-001")}})
	req := f.school
	req.Key = "again"
	_, err := f.app.CreateApplication(ctx, app.CreateApplication{Request: req, By: f.by, BatchID: batchID, Title: "研修基地", Province: "11"})
	wantConflict(t, err, "batch_id", "b0")
	if v, _ := f.store.StreamVersion(ctx, selection.ApplicationStream(app.ApplicationIDFor(batchID, "11-001"))); v != 0 {
		t.Fatalf("refused application wrote %d events", v)
	}
	prior, err := app.PriorSelections(ctx, f.store, batchID, "2-1", "11-001")
	if err != nil || len(prior) != 1 || prior[0].BatchID != "b0" {
		t.Fatalf("prior %+v, %v", prior, err)
	}
	// A school not selected there applies.
	by := f.by
	by.Organisation = "11-002"
	req.Key = "fresh"
	if _, err := f.app.CreateApplication(ctx, app.CreateApplication{Request: req, By: by, BatchID: batchID, Title: "研修基地", Province: "11"}); err != nil {
		t.Fatal(err)
	}
}

// PlanFacts reads the catalogue from the plan batch's stream and the
// undertakings from its latest filed round's submitted forms.
func TestPlanFactsFromTheLog(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	items := []intent.TaskItem{{Item: "2.1", Code: "YZYX", Name: "遴选优质技工院校", Target: 300, Unit: "所", Kind: intent.KindSelection}}
	if facts, err := f.app.PlanFacts(ctx, "2022-1", "2.1"); err != nil || facts.Exists {
		t.Fatalf("no plan batch yet: %+v, %v", facts, err)
	}
	f.seed(intent.PlanStream("2022-1"), intent.TypePlanBatchOpened, intent.PlanBatchOpened{BatchID: "2022-1", Name: "2022年第一批", Items: items})
	form := func(q int64) intent.Form {
		return intent.Form{Lines: []intent.Line{{Item: "2.1", Undertake: true, Quantity: q}}}
	}
	round := func(id string, filed bool, forms map[string]int64, returned ...string) {
		f.seed(intent.RoundStream(id), intent.TypeIntentRoundOpened, intent.IntentRoundOpened{RoundID: id, BatchID: "2022-1", Items: items,
			Provinces: []string{"11", "44", "63"}})
		for p, q := range forms {
			f.seed(intent.FormStream(id, p), intent.TypeIntentSubmitted, intent.IntentSubmitted{RoundID: id, Province: p, Form: form(q)})
		}
		for _, p := range returned {
			f.seed(intent.FormStream(id, p), intent.TypeIntentReturned, intent.IntentReturned{RoundID: id, Province: p, Reason: "请修改"})
		}
		if filed {
			f.seed(intent.RoundStream(id), intent.TypeIntentRoundFiled, intent.IntentRoundFiled{RoundID: id})
		}
	}
	facts, err := f.app.PlanFacts(ctx, "2022-1", "2.1")
	if err != nil || !facts.Exists || facts.Round != "" || len(facts.Items) != 1 {
		t.Fatalf("no round filed: %+v, %v", facts, err)
	}
	round("r1", true, map[string]int64{"11": 3, "44": 2, "63": 5}, "63")
	round("r2", false, map[string]int64{"11": 9})
	facts, err = f.app.PlanFacts(ctx, "2022-1", "2.1")
	if err != nil || facts.Round != "r1" || !maps.Equal(facts.Undertaken, map[string]int64{"11": 3, "44": 2}) {
		t.Fatalf("filed r1 (63 returned, r2 not filed): %+v, %v", facts, err)
	}
	o, err := selection.Plan(selection.SelectionBatchOpened{BatchID: "s1", PlanBatchID: "2022-1", TaskItem: "2.1", Quota: 3}, facts, nil)
	if err != nil || !maps.Equal(o.ProvinceQuotas, map[string]int{"11": 3, "44": 2}) {
		t.Fatalf("planned %+v, %v", o.ProvinceQuotas, err)
	}
	round("r3", true, map[string]int64{"44": 7})
	if facts, err = f.app.PlanFacts(ctx, "2022-1", "2.1"); err != nil || facts.Round != "r3" || !maps.Equal(facts.Undertaken, map[string]int64{"44": 7}) {
		t.Fatalf("a later filed round restates: %+v, %v", facts, err)
	}
	if len(facts.Units) != 0 {
		t.Fatalf("no form names 实施单位, yet facts carry %v", facts.Units)
	}

	// The 实施单位 a submitted form names for the item hand over with it.
	f.seed(intent.RoundStream("r4"), intent.TypeIntentRoundOpened, intent.IntentRoundOpened{RoundID: "r4", BatchID: "2022-1", Items: items,
		Provinces: []string{"44"}})
	withUnits := intent.Form{Lines: []intent.Line{{Item: "2.1", Undertake: true, Quantity: 2,
		Units: []intent.Unit{{Code: "SCH-44-001", Name: "甲技师学院"}, {Code: "SCH-44-002", Name: "乙技工学校"}}}}}
	f.seed(intent.FormStream("r4", "44"), intent.TypeIntentSubmitted, intent.IntentSubmitted{RoundID: "r4", Province: "44", Form: withUnits})
	f.seed(intent.RoundStream("r4"), intent.TypeIntentRoundFiled, intent.IntentRoundFiled{RoundID: "r4"})
	facts, err = f.app.PlanFacts(ctx, "2022-1", "2.1")
	if err != nil || facts.Round != "r4" || !slices.Equal(facts.Units["44"], []string{"SCH-44-001", "SCH-44-002"}) {
		t.Fatalf("units of the filed form: %+v, %v", facts, err)
	}
}

// A registered school's province is the register's: a request naming another
// is refused on "province" and writes nothing; one naming none takes the
// register's.
func TestApplicationProvinceFromRegister(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	if _, _, err := f.app.RegisterSchool(ctx, app.RegisterSchool{Request: app.Request{Meta: events.Metadata{ActorID: "admin", Role: "ministry"}},
		School: register.School{Code: "11-001", Name: "北京市工贸技师学院", Province: "11", Kind: register.KindTechnicianCollege}}); err != nil {
		t.Fatal(err)
	}
	req := f.school
	req.Key = "claims-44"
	_, err := f.app.CreateApplication(ctx, app.CreateApplication{Request: req, By: f.by, BatchID: batchID, Title: "研修基地", Province: "44"})
	wantField(t, err, "province")
	if v, _ := f.store.StreamVersion(ctx, selection.ApplicationStream(app.ApplicationIDFor(batchID, "11-001"))); v != 0 {
		t.Fatalf("refused application wrote %d events", v)
	}
	req.Key = "no-province"
	c, err := f.app.CreateApplication(ctx, app.CreateApplication{Request: req, By: f.by, BatchID: batchID, Title: "研修基地"})
	if err != nil || c.Province != "11" {
		t.Fatalf("created %+v, %v; want province 11 from the register", c.ApplicationCreated, err)
	}
}
