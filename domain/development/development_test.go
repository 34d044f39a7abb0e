package development_test

import (
	"errors"
	"testing"
	"time"

	"keytask/domain"
	"keytask/domain/development"
)

var units = map[string]development.Unit{
	"S-BJ1": {Code: "S-BJ1", Name: "北京市工贸技师学院", Province: "11"},
	"S-BJ2": {Code: "S-BJ2", Name: "北京市商业技师学院", Province: "11"},
	"S-GD1": {Code: "S-GD1", Name: "广州市工贸技师学院", Province: "44"},
}

func fieldOf(t *testing.T, err error, want string, conflict bool) {
	t.Helper()
	var fe *domain.FieldError
	var ce *domain.ConflictError
	switch {
	case conflict && errors.As(err, &ce):
		fe = &ce.FieldError
	case !conflict && errors.As(err, &fe) && !errors.As(err, &ce):
	default:
		t.Fatalf("got %v (%T), want a conflict=%v error on %q", err, err, conflict, want)
	}
	if fe.Field != want || fe.Message == "" {
		t.Fatalf("error on %q (%q), want %q", fe.Field, fe.Message, want)
	}
}

// The lead unit must be a registered school of the undertaking province;
// participants are registered, each once; names are recorded with the codes.
func TestAssignDevelopmentProject(t *testing.T) {
	cmd := development.ProjectAssigned{ProjectID: "JXBZ-11-1", PlanBatchID: "2022-1", TaskItem: "4", TaskType: development.TaskStandard,
		Title: " 技工院校数控加工专业教学标准 ", Province: "11", LeadUnit: "S-BJ1", Participants: []string{"S-GD1", "S-BJ2"}}
	got, err := development.Assign(false, cmd, units)
	if err != nil {
		t.Fatal(err)
	}
	if got.Title != "技工院校数控加工专业教学标准" || got.LeadUnitName != "北京市工贸技师学院" ||
		len(got.ParticipantNames) != 2 || got.ParticipantNames[0] != "广州市工贸技师学院" {
		t.Fatalf("assigned %+v", got)
	}
	bad := func(mod func(*development.ProjectAssigned), field string, conflict bool) {
		t.Helper()
		c := cmd
		c.Participants = append([]string(nil), cmd.Participants...)
		mod(&c)
		_, err := development.Assign(false, c, units)
		fieldOf(t, err, field, conflict)
	}
	bad(func(c *development.ProjectAssigned) { c.TaskType = "YZYX" }, "task_type", false)
	bad(func(c *development.ProjectAssigned) { c.Title = " " }, "title", false)
	bad(func(c *development.ProjectAssigned) { c.Province = "99" }, "province", false)
	bad(func(c *development.ProjectAssigned) { c.LeadUnit = "S-XX" }, "lead_unit", false)
	bad(func(c *development.ProjectAssigned) { c.LeadUnit = "S-GD1" }, "lead_unit", false)
	bad(func(c *development.ProjectAssigned) { c.Participants[1] = "S-XX" }, "participants[1]", false)
	bad(func(c *development.ProjectAssigned) { c.Participants[1] = "S-BJ1" }, "participants[1]", false)
	bad(func(c *development.ProjectAssigned) { c.ProjectID = "a/b" }, "project_id", false)
	_, err = development.Assign(true, cmd, units)
	fieldOf(t, err, "project_id", true)
}

// Milestones come in order, each once, dated no later than now and not
// before the previous one; after publication nothing more.
func TestDevelopmentMilestones(t *testing.T) {
	sh := time.FixedZone("CST", 8*3600)
	now := time.Date(2024, 6, 1, 9, 0, 0, 0, sh)
	assigned, err := development.Assign(false, development.ProjectAssigned{ProjectID: "GHJC-44-1", TaskItem: "5", TaskType: development.TaskTextbook,
		Title: "机械制图（第二版）", Province: "44", LeadUnit: "S-GD1"}, units)
	if err != nil {
		t.Fatal(err)
	}
	var p development.Project
	p.Apply(assigned)
	_, err = development.RecordMilestone(p, development.MilestoneApproved, now, "", "", now)
	fieldOf(t, err, "milestone", false)
	_, err = development.RecordMilestone(p, "printed", now, "", "", now)
	fieldOf(t, err, "milestone", false)
	_, err = development.RecordMilestone(p, development.MilestoneDrafted, now.Add(time.Hour), "", "", now)
	fieldOf(t, err, "date", false)
	d1 := time.Date(2023, 9, 1, 0, 0, 0, 0, sh)
	for i, m := range development.Milestones {
		e, err := development.RecordMilestone(p, m, d1.AddDate(0, i*2, 0), "", "ISBN 978-7-5167-0000-0", now)
		if err != nil {
			t.Fatalf("%s: %v", m, err)
		}
		p.Apply(e)
		if i == 1 {
			_, err := development.RecordMilestone(p, m, d1.AddDate(0, 3, 0), "", "", now)
			fieldOf(t, err, "milestone", false) // approved again
			_, err = development.RecordMilestone(p, development.MilestonePublished, d1, "", "", now)
			fieldOf(t, err, "date", false) // before the approval
		}
	}
	if !p.Published() || p.Next() != "" || development.MilestonePublished.Label(p.TaskType) != "出版" || development.MilestonePublished.Label(development.TaskStandard) != "发布" {
		t.Fatalf("published %v next %q", p.Published(), p.Next())
	}
	_, err = development.RecordMilestone(p, development.MilestonePublished, now, "", "", now)
	fieldOf(t, err, "milestone", true)
}
