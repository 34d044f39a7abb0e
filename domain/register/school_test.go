package register_test

import (
	"errors"
	"testing"

	"keytask/domain"
	"keytask/domain/register"
)

var school = register.School{Code: "SCH-11-001", Name: "北京市工贸技师学院", Province: "11", Kind: register.KindTechnicianCollege}

func wantField(t *testing.T, err error, field string) {
	t.Helper()
	var fe *domain.FieldError
	if !errors.As(err, &fe) || fe.Field != field {
		t.Fatalf("got %v, want a field error on %s", err, field)
	}
	if fe.Message == "" || fe.Detail == "" {
		t.Fatalf("field error without message or detail: %+v", fe)
	}
}

func TestRegisterSchool(t *testing.T) {
	t.Run("OK", func(t *testing.T) {
		in := register.School{Code: " SCH-11-001 ", Name: "北京市工贸技师学院\t", Province: "11 ", Kind: " 技师学院"}
		got, err := register.RegisterSchool(false, in)
		if err != nil {
			t.Fatal(err)
		}
		if register.School(got) != school {
			t.Fatalf("not normalised: %+v", got)
		}
	})
	for _, c := range []struct {
		name, field string
		edit        func(*register.School)
	}{
		{"ErrCodeRequired", "code", func(s *register.School) { s.Code = " " }},
		{"ErrCodeMalformed", "code", func(s *register.School) { s.Code = "北京 工贸" }},
		{"ErrNameRequired", "name", func(s *register.School) { s.Name = "" }},
		{"ErrNameTooLong", "name", func(s *register.School) { s.Name = string(make([]rune, 101)) + "校" }},
		{"ErrProvinceRequired", "province", func(s *register.School) { s.Province = "" }},
		{"ErrProvinceName", "province", func(s *register.School) { s.Province = "北京市" }},
		{"ErrProvinceUnknown", "province", func(s *register.School) { s.Province = "99" }},
		{"ErrKindRequired", "kind", func(s *register.School) { s.Kind = "" }},
		{"ErrKindUnknown", "kind", func(s *register.School) { s.Kind = "职业学院" }},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := school
			c.edit(&s)
			_, err := register.RegisterSchool(false, s)
			wantField(t, err, c.field)
		})
	}
	t.Run("ErrRegistered", func(t *testing.T) {
		_, err := register.RegisterSchool(true, school)
		var ce *domain.ConflictError
		if !errors.As(err, &ce) || ce.Field != "code" {
			t.Fatalf("got %v", err)
		}
	})
}

func TestUpdateSchool(t *testing.T) {
	t.Run("Unchanged", func(t *testing.T) {
		same := school
		same.Name = " " + same.Name
		_, changed, err := register.UpdateSchool(school, same)
		if err != nil || changed {
			t.Fatalf("changed %v, err %v", changed, err)
		}
	})
	t.Run("Changed", func(t *testing.T) {
		renamed := school
		renamed.Kind = register.KindSeniorTechnicalSchool
		got, changed, err := register.UpdateSchool(school, renamed)
		if err != nil || !changed || got.Kind != register.KindSeniorTechnicalSchool {
			t.Fatalf("got %+v changed %v err %v", got, changed, err)
		}
	})
	t.Run("ErrCodeChanged", func(t *testing.T) {
		other := school
		other.Code = "SCH-11-002"
		_, _, err := register.UpdateSchool(school, other)
		wantField(t, err, "code")
	})
	t.Run("ErrInvalid", func(t *testing.T) {
		bad := school
		bad.Kind = "大学"
		_, _, err := register.UpdateSchool(school, bad)
		wantField(t, err, "kind")
	})
}

func TestFold(t *testing.T) {
	if _, found := register.Fold(); found {
		t.Fatal("an empty stream holds a school")
	}
	renamed := school
	renamed.Name = "北京市工贸技师学院（新）"
	got, found := register.Fold(register.SchoolRegistered(school), register.SchoolUpdated(renamed))
	if !found || got != renamed {
		t.Fatalf("got %+v found %v", got, found)
	}
}
