package selection_test

import (
	"errors"
	"testing"

	"keytask/domain"
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
