package selection_test

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"keytask/domain"
	"keytask/domain/identity"
	"keytask/domain/selection"
	"keytask/events"
	"keytask/eventtypes"
)

var (
	schoolA  = identity.Principal{UserID: "sa", Name: "A校", Role: identity.RoleSchool, Organisation: "11-001"}
	province = identity.Principal{UserID: "p11", Name: "北京", Role: identity.RoleProvince, Organisation: "11"}
	yzyx     = selection.SelectionBatchOpened{BatchID: "b1", TaskItem: "2.1", TaskType: "YZYX"}
	lmjt     = selection.SelectionBatchOpened{BatchID: "b3", TaskItem: "3", TaskType: "LMJT"}
)

func raw(t *testing.T, s string) map[string]json.RawMessage {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func wantField(t *testing.T, err error, field string) {
	t.Helper()
	var fe *domain.FieldError
	if !errors.As(err, &fe) {
		t.Fatalf("error %v, want a field error on %s", err, field)
	}
	if fe.Field != field || fe.Message == "" {
		t.Fatalf("field %q (%s), want %q", fe.Field, fe.Message, field)
	}
}

// fold applies decided events as the log would replay them.
func fold(t *testing.T, a selection.Application, ds ...selection.Decided) selection.Application {
	t.Helper()
	for _, d := range ds {
		b, err := json.Marshal(d.Payload)
		if err != nil {
			t.Fatal(err)
		}
		p, ok, err := events.DecodeIf[selection.ApplicationEvent](eventtypes.Registry, events.Event{Type: d.Type, SchemaVersion: 1, Data: b})
		if !ok || err != nil {
			t.Fatalf("decode %s: %v %v", d.Type, ok, err)
		}
		if err := a.Apply(p); err != nil {
			t.Fatal(err)
		}
	}
	return a
}

func TestCreate(t *testing.T) {
	t.Run("OK", func(t *testing.T) {
		ds, err := selection.Create(false, selection.CreateApplication{ApplicationID: "a1", By: schoolA, Batch: yzyx,
			Title: " 优质校 ", Province: "11", Fields: raw(t, `{"enrolment": 1200, "school_name": "北京技师学院", "summary": null}`)})
		if err != nil {
			t.Fatal(err)
		}
		a := fold(t, selection.Application{}, ds...)
		if a.School != "11-001" || a.Province != "11" || a.Title != "优质校" || a.Status != selection.StatusDraft ||
			a.Applicant.Role != identity.RoleSchool || a.Fields["enrolment"] != int64(1200) || len(a.Fields) != 2 {
			t.Fatalf("got %+v", a)
		}
	})
	for _, c := range []struct {
		name, field string
		cmd         selection.CreateApplication
	}{
		{"NegativeEnrolment", "fields.enrolment", selection.CreateApplication{Fields: map[string]json.RawMessage{"enrolment": json.RawMessage(`-3`)}}},
		{"TextEnrolment", "fields.enrolment", selection.CreateApplication{Fields: map[string]json.RawMessage{"enrolment": json.RawMessage(`"很多"`)}}},
		{"BadYear", "fields.founding_year", selection.CreateApplication{Fields: map[string]json.RawMessage{"founding_year": json.RawMessage(`85`)}}},
		{"UnknownField", "fields.major_code", selection.CreateApplication{Fields: map[string]json.RawMessage{"major_code": json.RawMessage(`"x"`)}}},
		{"NoTitle", "title", selection.CreateApplication{Title: " "}},
		{"OtherSchool", "school", selection.CreateApplication{School: "11-002"}},
		{"NoProvince", "province", selection.CreateApplication{Province: "99"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			cmd := selection.CreateApplication{ApplicationID: "a1", By: schoolA, Batch: yzyx, Title: "优质校", Province: "11"}
			if c.cmd.Fields != nil {
				cmd.Fields = c.cmd.Fields
			}
			if c.cmd.Title != "" {
				cmd.Title = c.cmd.Title
			}
			if c.cmd.School != "" {
				cmd.School = c.cmd.School
			}
			if c.cmd.Province != "" {
				cmd.Province = c.cmd.Province
			}
			_, err := selection.Create(false, cmd)
			wantField(t, err, c.field)
		})
	}
	t.Run("ProvinceOnlyForAlliancesAndCourses", func(t *testing.T) {
		_, err := selection.Create(false, selection.CreateApplication{ApplicationID: "a1", By: province, Batch: yzyx, Title: "x", School: "11-001"})
		wantField(t, err, "batch_id")
		ds, err := selection.Create(false, selection.CreateApplication{ApplicationID: "a2", By: province, Batch: lmjt, Title: "京津冀联盟", School: "11-001"})
		if err != nil {
			t.Fatal(err)
		}
		a := fold(t, selection.Application{}, ds...)
		if a.Applicant != (selection.Applicant{Role: identity.RoleProvince, Organisation: "11"}) || a.School != "11-001" || a.Province != "11" {
			t.Fatalf("got %+v", a)
		}
	})
	t.Run("ErrTaken", func(t *testing.T) {
		_, err := selection.Create(true, selection.CreateApplication{ApplicationID: "a1", By: schoolA, Batch: yzyx, Title: "x", Province: "11"})
		var ce *domain.ConflictError
		if !errors.As(err, &ce) || ce.Field != "application_id" {
			t.Fatalf("got %v", err)
		}
	})
}

func TestLifecycle(t *testing.T) {
	now := time.Date(2022, 7, 1, 9, 0, 0, 0, time.UTC)
	ds, err := selection.Create(false, selection.CreateApplication{ApplicationID: "a1", By: schoolA, Batch: yzyx, Title: "优质校", Province: "11"})
	if err != nil {
		t.Fatal(err)
	}
	a := fold(t, selection.Application{}, ds...)

	_, err = selection.Submit(a, now)
	wantField(t, err, "fields.school_name")

	full := raw(t, `{"school_name":"北京技师学院","founding_year":1958,"enrolment":5000,"teachers":300,"key_majors":"数控加工、电气自动化"}`)
	e, changed, err := selection.Edit(a, "优质校", full, now)
	if err != nil || !changed {
		t.Fatal(changed, err)
	}
	a = fold(t, a, selection.Decided{Type: selection.TypeApplicationEdited, Payload: e})
	if _, changed, _ := selection.Edit(a, "优质校", full, now); changed {
		t.Fatal("the same content counts as a change")
	}

	att := selection.ApplicationAttachmentAdded{AttachmentID: "x", Name: "申报书.pdf", SHA256: "ab12", Size: 10, MediaType: "application/pdf"}
	added, ok, err := selection.AddAttachment(a, att, now)
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	a = fold(t, a, selection.Decided{Type: selection.TypeApplicationAttachmentAdded, Payload: added})
	if _, ok, _ := selection.AddAttachment(a, att, now); ok {
		t.Fatal("the same content attached twice")
	}
	big := selection.ApplicationAttachmentAdded{AttachmentID: "y", Name: "大文件.pdf", SHA256: "cd34", Size: selection.MaxAttachmentBytes - 9, MediaType: "application/pdf"}
	if _, _, err := selection.AddAttachment(a, big, now); !errors.As(err, new(*domain.ConflictError)) {
		t.Fatalf("a file past the application's total quota: %v", err)
	}
	big.Size--
	if _, ok, err := selection.AddAttachment(a, big, now); err != nil || !ok {
		t.Fatalf("a file that fills the quota exactly: %v, %v", ok, err)
	}

	sub, err := selection.Submit(a, now)
	if err != nil {
		t.Fatal(err)
	}
	a = fold(t, a, selection.Decided{Type: selection.TypeApplicationSubmitted, Payload: sub})
	if a.Status != selection.StatusSubmitted || !a.SubmittedAt.Equal(now) {
		t.Fatalf("got %+v", a)
	}

	var ce *domain.ConflictError
	if _, _, err := selection.Edit(a, "改", full, now); !errors.As(err, &ce) {
		t.Fatalf("edit after submission: %v", err)
	}
	if _, _, err := selection.AddAttachment(a, att, now); !errors.As(err, &ce) {
		t.Fatalf("attach after submission: %v", err)
	}

	until := now.Add(72 * time.Hour)
	ret, err := selection.Reopen(a, "请补充师资证明", until)
	if err != nil {
		t.Fatal(err)
	}
	a = fold(t, a, selection.Decided{Type: selection.TypeApplicationReturned, Payload: ret})
	if a.Status != selection.StatusReturned || !a.Editable(now) || a.Editable(until) {
		t.Fatalf("returned: %+v", a)
	}
	if _, err := selection.Reopen(a, "再退", until); !errors.As(err, &ce) {
		t.Fatalf("reopen a returned application: %v", err)
	}
	if _, err := selection.Submit(a, until.Add(time.Second)); !errors.As(err, &ce) {
		t.Fatalf("submit after the correction window: %v", err)
	}
	later := now.Add(time.Hour)
	sub, err = selection.Submit(a, later)
	if err != nil {
		t.Fatal(err)
	}
	a = fold(t, a, selection.Decided{Type: selection.TypeApplicationSubmitted, Payload: sub})
	if !a.SubmittedAt.Equal(now) {
		t.Fatalf("a resubmission moved the first submission to %v", a.SubmittedAt)
	}
}

func TestAllianceLeadMustBeMember(t *testing.T) {
	ds, err := selection.Create(false, selection.CreateApplication{ApplicationID: "a2", By: province, Batch: lmjt, Title: "联盟", School: "11-001",
		Fields: raw(t, `{"alliance_name":"京津冀联盟","members":["11-002","12-001"],"lead_school":"11-001"}`)})
	if err != nil {
		t.Fatal(err)
	}
	a := fold(t, selection.Application{}, ds...)
	_, err = selection.Submit(a, time.Now())
	wantField(t, err, "fields.lead_school")

	_, _, err = selection.Edit(a, "联盟", raw(t, `{"members":["11-002","11-002"]}`), time.Now())
	wantField(t, err, "fields.members")
	_, _, err = selection.Edit(a, "联盟", raw(t, `{"members":"11-002"}`), time.Now())
	wantField(t, err, "fields.members")
}

func TestEverySchemaIsWellFormed(t *testing.T) {
	for code, s := range selection.Schemas {
		if s.TaskType != code || s.Name == "" || len(s.Fields) == 0 {
			t.Errorf("%s: %+v", code, s)
		}
		seen := map[string]bool{}
		for _, f := range s.Fields {
			if f.Key == "" || f.Label == "" || seen[f.Key] {
				t.Errorf("%s: field %+v", code, f)
			}
			seen[f.Key] = true
		}
	}
}
