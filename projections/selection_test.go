package projections_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"keytask/domain/identity"
	"keytask/domain/selection"
	"keytask/events"
	"keytask/projections"
)

var selectionProjections = []projections.Projection{projections.SelectionApplications{}, projections.SelectionExperts{}}

var sha = func(c byte) string {
	b := make([]byte, 64)
	for i := range b {
		b[i] = c
	}
	return string(b)
}

// selectionScenario records: a Beijing school's YZYX application, edited,
// given two files, submitted, returned and resubmitted; a Tianjin school's
// draft; an alliance filed by Beijing's province; and two experts, one updated.
func selectionScenario(t *testing.T, store *events.Store) {
	l := &intentLog{t: t, store: store}
	t0 := time.Date(2022, 7, 1, 1, 0, 0, 0, time.UTC)
	school := func(org, stream, typ string, p any) { l.add(stream, typ, p, "u-"+org, "school", org) }
	as := selection.ApplicationStream
	school("11-001", as("a1"), selection.TypeApplicationCreated, selection.ApplicationCreated{ApplicationID: "a1", BatchID: "b1", TaskItem: "2.1", TaskType: "YZYX", School: "11-001", Province: "11", Title: "优质校"})
	school("11-001", as("a1"), selection.TypeApplicationEdited, selection.ApplicationEdited{ApplicationID: "a1", Title: "北京技师学院优质校",
		Content: map[string]string{"school_name": "北京技师学院", "enrolment": "5000", "founding_year": "1958", "teachers": "300", "key_majors": "数控"}})
	school("11-001", as("a1"), selection.TypeApplicationAttachmentAdded, selection.ApplicationAttachmentAdded{ApplicationID: "a1", AttachmentID: "f1", Name: "申报书.pdf", MediaType: "application/pdf", Size: 10, SHA256: sha('a')})
	school("11-001", as("a1"), selection.TypeApplicationAttachmentAdded, selection.ApplicationAttachmentAdded{ApplicationID: "a1", AttachmentID: "f2", Name: "照片.png", MediaType: "image/png", Size: 20, SHA256: sha('b')})
	school("11-001", as("a1"), selection.TypeApplicationSubmitted, selection.ApplicationSubmitted{ApplicationID: "a1", At: t0})
	l.ministry(as("a1"), selection.TypeApplicationReturned, selection.ApplicationReturned{ApplicationID: "a1", Reason: "补充证明", Until: t0.Add(72 * time.Hour)})
	school("11-001", as("a1"), selection.TypeApplicationSubmitted, selection.ApplicationSubmitted{ApplicationID: "a1", At: t0.Add(time.Hour)})

	school("12-001", as("a2"), selection.TypeApplicationCreated, selection.ApplicationCreated{ApplicationID: "a2", BatchID: "b1", TaskItem: "2.1", TaskType: "YZYX", School: "12-001", Province: "12", Title: "天津"})
	school("12-001", as("a2"), selection.TypeApplicationAttachmentAdded, selection.ApplicationAttachmentAdded{ApplicationID: "a2", AttachmentID: "f1", Name: "同一文件.pdf", MediaType: "application/pdf", Size: 10, SHA256: sha('a')})

	l.province("11", as("a3"), selection.TypeApplicationCreated, selection.ApplicationCreated{ApplicationID: "a3", BatchID: "b3", TaskItem: "3", TaskType: "LMJT", School: "11-001", Province: "11", Title: "京津冀联盟"})
	l.province("11", as("a3"), selection.TypeApplicationFiledByProvince, selection.ApplicationFiledByProvince{ApplicationID: "a3", Province: "11"})
	l.province("11", as("a3"), selection.TypeApplicationEdited, selection.ApplicationEdited{ApplicationID: "a3", Title: "京津冀联盟",
		Content: map[string]string{"members": `["11-001","12-001"]`, "lead_school": "11-001"}})

	es := selection.ExpertStream
	l.ministry(es("zhang"), selection.TypeExpertRegistered, selection.ExpertRegistered{ExpertID: "zhang", Name: "张三", Expertise: map[string]int{"YZYX": 3}, Province: "11", Load: 10})
	l.ministry(es("li"), selection.TypeExpertRegistered, selection.ExpertRegistered{ExpertID: "li", Name: "李四", Expertise: map[string]int{"LMJT": 2}, Load: 5})
	l.ministry(es("li"), selection.TypeExpertUpdated, selection.ExpertUpdated{ExpertID: "li", Name: "李四", Expertise: map[string]int{"LMJT": 2, "YZYX": 1}, Employer: "12-001", ConflictSchools: []string{"11-001"}, Load: 6})
	// Events of other kinds are ignored.
	l.ministry("user-x", identity.TypeUserRegistered, identity.UserRegistered{UserID: "x", Name: "x", Role: identity.RoleAuditor, Organisation: "审计署"})
}

func TestSelectionProjectionsLiveEqualsRebuild(t *testing.T) {
	t.Parallel()
	d, s := newEnv(t)
	selectionScenario(t, s)
	pr := newProjector(t, d, s, nil, selectionProjections...)
	start(t, pr)
	waitCaughtUp(t, pr)
	ctx := context.Background()
	for _, p := range selectionProjections {
		t.Run(p.Name(), func(t *testing.T) {
			live, err := projections.Digest(ctx, d.Pool, p)
			if err != nil {
				t.Fatal(err)
			}
			rebuilt, err := projections.Rebuild(ctx, d.Pool, s, p, nil)
			if err != nil {
				t.Fatal(err)
			}
			if rebuilt != live {
				t.Fatalf("rebuilt digest %s, live %s", rebuilt, live)
			}
			if emptyDigest(t, d, p) == live {
				t.Fatal("digest of the model equals that of an empty model")
			}
		})
	}
}

func TestSelectionReadModels(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	d, s := newEnv(t)
	selectionScenario(t, s)
	for _, p := range selectionProjections {
		applyTo(t, d.Pool, s, p, false)
	}

	t.Run("Application", func(t *testing.T) {
		a, err := projections.GetApplication(ctx, d.Pool, "a1")
		if err != nil {
			t.Fatal(err)
		}
		first := time.Date(2022, 7, 1, 1, 0, 0, 0, time.UTC)
		if a.Status != selection.StatusSubmitted || a.SubmittedAt == nil || !a.SubmittedAt.Equal(first) ||
			a.Title != "北京技师学院优质校" || a.Fields["enrolment"] != float64(5000) || a.Fields["school_name"] != "北京技师学院" ||
			a.ReturnReason != "" || a.Version != 7 || a.Applicant.Role != identity.RoleSchool {
			t.Fatalf("got %+v", a)
		}
		if len(a.Attachments) != 2 || a.Attachments[0].Name != "申报书.pdf" || a.Attachments[1].SHA256 != sha('b') {
			t.Fatalf("attachments %+v", a.Attachments)
		}
		alliance, err := projections.GetApplication(ctx, d.Pool, "a3")
		if err != nil {
			t.Fatal(err)
		}
		members, _ := alliance.Fields["members"].([]any)
		if alliance.Applicant != (selection.Applicant{Role: identity.RoleProvince, Organisation: "11"}) || len(members) != 2 ||
			alliance.Status != selection.StatusDraft {
			t.Fatalf("alliance %+v", alliance)
		}
		if _, err := projections.GetApplication(ctx, d.Pool, "nope"); !errors.Is(err, projections.ErrApplicationNotFound) {
			t.Fatalf("missing: %v", err)
		}
	})
	t.Run("List", func(t *testing.T) {
		for _, c := range []struct {
			name string
			f    projections.ApplicationFilter
			want []string
		}{
			{"All", projections.ApplicationFilter{}, []string{"a1", "a2", "a3"}},
			{"Task", projections.ApplicationFilter{TaskType: "YZYX"}, []string{"a1", "a2"}},
			{"Province", projections.ApplicationFilter{Province: "11"}, []string{"a1", "a3"}},
			{"SchoolOwnsOnlyItsOwn", projections.ApplicationFilter{School: "11-001"}, []string{"a1"}},
			{"Draft", projections.ApplicationFilter{Status: selection.StatusDraft}, []string{"a2", "a3"}},
		} {
			t.Run(c.name, func(t *testing.T) {
				got, err := projections.ListApplications(ctx, d.Pool, c.f)
				if err != nil {
					t.Fatal(err)
				}
				var ids []string
				for _, a := range got {
					ids = append(ids, a.ApplicationID)
				}
				if len(ids) != len(c.want) {
					t.Fatalf("got %v, want %v", ids, c.want)
				}
				for i := range ids {
					if ids[i] != c.want[i] {
						t.Fatalf("got %v, want %v", ids, c.want)
					}
				}
			})
		}
	})
	t.Run("ApplicationsWithAttachment", func(t *testing.T) {
		ids, err := projections.ApplicationsWithAttachment(ctx, d.Pool, sha('a'))
		if err != nil || len(ids) != 2 || ids[0] != "a1" || ids[1] != "a2" {
			t.Fatalf("got %v, %v", ids, err)
		}
	})
	t.Run("ExpertPool", func(t *testing.T) {
		pool, err := projections.ExpertPool(ctx, d.Pool, "YZYX")
		if err != nil {
			t.Fatal(err)
		}
		if len(pool) != 2 || pool[0].ID != "li" || pool[0].Expertise["YZYX"] != 1 || pool[0].Load != 6 ||
			pool[0].Employer != "12-001" || pool[0].ConflictSchools[0] != "11-001" || pool[1].ID != "zhang" {
			t.Fatalf("got %+v", pool)
		}
		lmjt, err := projections.ExpertPool(ctx, d.Pool, "LMJT")
		if err != nil || len(lmjt) != 1 || lmjt[0].ID != "li" {
			t.Fatalf("LMJT pool %+v, %v", lmjt, err)
		}
		all, err := projections.ListExperts(ctx, d.Pool, "")
		if err != nil || len(all) != 2 || all[0].Version != 2 || all[1].Version != 1 {
			t.Fatalf("all %+v, %v", all, err)
		}
	})
}
