package selection_test

import (
	"errors"
	"testing"
	"time"

	"keytask/domain"
	"keytask/domain/assign"
	"keytask/domain/selection"
)

func TestRegisterExpert(t *testing.T) {
	ok := selection.ExpertRegistered{ExpertID: "zhang", Name: "张三", Expertise: map[string]int{"YZYX": 3, "JPKC": 0},
		Province: "11", Employer: "11-001", ConflictSchools: []string{"12-001", "11-009", "12-001"}, Load: 10}
	t.Run("OK", func(t *testing.T) {
		e, err := selection.RegisterExpert(false, ok)
		if err != nil {
			t.Fatal(err)
		}
		if len(e.Expertise) != 1 || e.ConflictSchools[0] != "11-009" || len(e.ConflictSchools) != 2 {
			t.Fatalf("not normalised: %+v", e)
		}
		a := e.AssignExpert()
		if a.ID != "zhang" || a.Expertise["YZYX"] != 3 || a.Load != 10 || a.Employer != "11-001" {
			t.Fatalf("assign expert %+v", a)
		}
	})
	for _, c := range []struct {
		name, field string
		edit        func(*selection.ExpertRegistered)
	}{
		{"LevelTooHigh", "expertise.YZYX", func(e *selection.ExpertRegistered) { e.Expertise = map[string]int{"YZYX": 4} }},
		{"UnknownTask", "expertise.JXBZ", func(e *selection.ExpertRegistered) { e.Expertise = map[string]int{"JXBZ": 1} }},
		{"NoExpertise", "expertise", func(e *selection.ExpertRegistered) { e.Expertise = map[string]int{"YZYX": 0} }},
		{"Load", "load", func(e *selection.ExpertRegistered) { e.Load = 0 }},
		{"Province", "province", func(e *selection.ExpertRegistered) { e.Province = "北京" }},
		{"ID", "expert_id", func(e *selection.ExpertRegistered) { e.ExpertID = "Zhang San" }},
		{"ConflictSchool", "conflict_schools", func(e *selection.ExpertRegistered) { e.ConflictSchools = []string{"a b"} }},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := ok
			c.edit(&e)
			_, err := selection.RegisterExpert(false, e)
			wantField(t, err, c.field)
		})
	}
	t.Run("ErrRegistered", func(t *testing.T) {
		_, err := selection.RegisterExpert(true, ok)
		var ce *domain.ConflictError
		if !errors.As(err, &ce) || ce.Field != "expert_id" {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("UpdateUnchanged", func(t *testing.T) {
		cur, _ := selection.RegisterExpert(false, ok)
		if _, changed, err := selection.UpdateExpert(cur, ok); err != nil || changed {
			t.Fatalf("changed %v, %v", changed, err)
		}
		more := ok
		more.Load = 11
		if u, changed, err := selection.UpdateExpert(cur, more); err != nil || !changed || u.Load != 11 {
			t.Fatalf("changed %v, %v", changed, err)
		}
	})
}

func TestExpertEmploymentHistory(t *testing.T) {
	e := selection.ExpertRegistered{ExpertID: "li", Name: "李四", Expertise: map[string]int{"YZYX": 2}, Load: 5,
		FormerEmployers: []assign.FormerEmployment{
			{School: "12-001", Until: time.Date(2023, 1, 1, 0, 0, 0, 0, time.UTC)},
			{School: "11-002", Until: time.Date(2021, 1, 1, 0, 0, 0, 0, time.UTC)},
			{School: "12-001", Until: time.Date(2024, 7, 1, 0, 0, 0, 0, time.UTC)},
		}}
	got, err := selection.NormalizeExpert(e)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.FormerEmployers) != 2 || got.FormerEmployers[0].School != "11-002" || got.FormerEmployers[1].Until.Year() != 2024 {
		t.Fatalf("history not normalised: %+v", got.FormerEmployers)
	}
	if a := got.AssignExpert(); len(a.FormerEmployers) != 2 {
		t.Fatalf("the solver does not see the history: %+v", a)
	}
	e.FormerEmployers = []assign.FormerEmployment{{School: "12-001"}}
	var fe *domain.FieldError
	if _, err := selection.NormalizeExpert(e); !errors.As(err, &fe) || fe.Field != "former_employers[0].until" {
		t.Fatalf("no day left: %v, want a refusal naming former_employers[0].until", err)
	}
	e.FormerEmployers = []assign.FormerEmployment{{School: "学校", Until: time.Now()}}
	if _, err := selection.NormalizeExpert(e); !errors.As(err, &fe) || fe.Field != "former_employers[0].school" {
		t.Fatalf("bad school: %v, want a refusal naming former_employers[0].school", err)
	}
}
