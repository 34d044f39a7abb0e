package tracking_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"keytask/domain"
	"keytask/domain/tracking"
	"keytask/events"
	"keytask/eventtypes"
)

var sh = func() *time.Location { l, _ := time.LoadLocation("Asia/Shanghai"); return l }()

func newProject() tracking.Project {
	var p tracking.Project
	p.Created("B1.A1", "B1", "2.1", "YZYX", "A1", "11")
	return p
}

// fold applies payloads through their JSON form and the event registry, as
// they come from the log.
func fold(t *testing.T, p tracking.Project, payloads ...any) tracking.Project {
	t.Helper()
	for _, pl := range payloads {
		typ, _ := eventtypes.Registry.TypeOf(pl)
		data, err := json.Marshal(pl)
		if err != nil {
			t.Fatal(err)
		}
		got, ok, err := events.DecodeIf[tracking.Event](eventtypes.Registry, events.Event{Type: typ, SchemaVersion: 1, Data: data})
		if err != nil || !ok {
			t.Fatalf("decode %s: %v %v", typ, ok, err)
		}
		p.Apply(got)
	}
	return p
}

func field(t *testing.T, err error, want string, conflict bool) {
	t.Helper()
	var fe *domain.FieldError
	var ce *domain.ConflictError
	switch {
	case conflict && errors.As(err, &ce):
		fe = &ce.FieldError
	case !conflict && errors.As(err, &fe) && !errors.As(err, &ce):
	default:
		t.Fatalf("got %v (%T), want a %s error on %q", err, err, map[bool]string{true: "conflict", false: "field"}[conflict], want)
	}
	if fe.Field != want || fe.Message == "" {
		t.Fatalf("error on %q (%q), want %q", fe.Field, fe.Message, want)
	}
}

func TestLifecycle(t *testing.T) {
	now := time.Date(2024, 3, 1, 10, 0, 0, 0, sh)
	p := newProject()

	in, err := tracking.ScheduleInspection(p, time.Date(2024, 3, 1, 0, 0, 0, 0, sh), "现场检查", now)
	if err != nil || in.InspectionID != "I1" {
		t.Fatalf("schedule today: %+v %v", in, err)
	}
	_, err = tracking.ScheduleInspection(p, time.Date(2024, 2, 29, 0, 0, 0, 0, sh), "", now)
	field(t, err, "date", false)
	p = fold(t, p, in)

	_, err = tracking.RecordInspection(p, "I9", "x", tracking.ConclusionGood)
	field(t, err, "inspection_id", false)
	_, err = tracking.RecordInspection(p, "I1", "  ", tracking.ConclusionGood)
	field(t, err, "findings", false)
	_, err = tracking.RecordInspection(p, "I1", "进展正常", "excellent")
	field(t, err, "conclusion", false)
	rec, err := tracking.RecordInspection(p, "I1", "进展正常", tracking.ConclusionGood)
	if err != nil {
		t.Fatal(err)
	}
	p = fold(t, p, rec)
	_, err = tracking.RecordInspection(p, "I1", "again", tracking.ConclusionGood)
	field(t, err, "inspection_id", true)

	_, err = tracking.SubmitEvaluation(p, "v1", tracking.ConclusionGood, "良好")
	field(t, err, "evaluator", true)
	as, changed, err := tracking.AssignEvaluator(p, "v1")
	if err != nil || !changed {
		t.Fatal(err)
	}
	p = fold(t, p, as)
	if _, changed, _ := tracking.AssignEvaluator(p, "v1"); changed {
		t.Fatal("assigning twice changed something")
	}
	ev, err := tracking.SubmitEvaluation(p, "v1", tracking.ConclusionSatisfactory, "总体合格")
	if err != nil || ev.EvaluationID != "E1" {
		t.Fatalf("%+v %v", ev, err)
	}
	p = fold(t, p, ev)

	_, err = tracking.Flag(p, "进度滞后", now.Add(-time.Hour), now)
	field(t, err, "rectify_by", false)
	_, err = tracking.Flag(p, "", now.Add(time.Hour), now)
	field(t, err, "reason", false)
	fl, err := tracking.Flag(p, "进度滞后", now.AddDate(0, 3, 0), now)
	if err != nil {
		t.Fatal(err)
	}
	p = fold(t, p, fl)
	if p.Status != tracking.StatusFlagged || p.Flag == nil {
		t.Fatalf("status %s", p.Status)
	}
	_, err = tracking.Accept(p, now, "通过", now)
	field(t, err, "project", true)
	_, err = tracking.Flag(p, "again", now.AddDate(0, 4, 0), now)
	field(t, err, "project", true)
	rc, err := tracking.ConfirmRectification(p, "已整改")
	if err != nil {
		t.Fatal(err)
	}
	p = fold(t, p, rc)

	_, err = tracking.Accept(p, now.Add(time.Hour), "通过", now)
	field(t, err, "accepted_at", false)
	late := time.Date(2025, 7, 1, 0, 0, 0, 0, sh)
	_, err = tracking.Accept(p, late, "通过", late.AddDate(0, 0, 1))
	field(t, err, "accepted_at", false)
	lastDay := time.Date(2025, 6, 30, 23, 59, 0, 0, sh)
	acc, err := tracking.Accept(p, lastDay, "通过验收", lastDay.AddDate(0, 1, 0))
	if err != nil {
		t.Fatalf("acceptance on the last day: %v", err)
	}
	p = fold(t, p, acc)
	if p.Status != tracking.StatusAccepted {
		t.Fatalf("status %s", p.Status)
	}
	_, err = tracking.Revoke(p, "x")
	field(t, err, "project", true)
}

func TestRevoke(t *testing.T) {
	p := newProject()
	_, err := tracking.Revoke(p, " ")
	field(t, err, "reason", false)
	r, err := tracking.Revoke(p, "弄虚作假")
	if err != nil {
		t.Fatal(err)
	}
	p = fold(t, p, r)
	now := time.Now()
	_, err = tracking.ScheduleInspection(p, now.AddDate(0, 0, 1), "", now)
	field(t, err, "project", true)
	_, _, err = tracking.AssignEvaluator(p, "v1")
	field(t, err, "project", true)
	_, err = tracking.ScheduleInspection(tracking.Project{}, now, "", now)
	field(t, err, "project", true)
}

// Acceptance is bounded by the project's own plan batch deadline; a project
// without one has the first batch's.
func TestAcceptWithinPlanBatchDeadline(t *testing.T) {
	p := newProject()
	after := time.Date(2025, 8, 1, 10, 0, 0, 0, sh)
	_, err := tracking.Accept(p, after, "通过", after.AddDate(0, 0, 1))
	field(t, err, "accepted_at", false)
	p.Deadline = time.Date(2029, 1, 1, 0, 0, 0, 0, sh)
	if _, err := tracking.Accept(p, after, "通过", after.AddDate(0, 0, 1)); err != nil {
		t.Fatalf("acceptance within the batch's own deadline: %v", err)
	}
	late := time.Date(2029, 1, 1, 0, 0, 0, 0, sh)
	_, err = tracking.Accept(p, late, "通过", late.AddDate(0, 0, 1))
	var fe *domain.FieldError
	if !errors.As(err, &fe) || fe.Field != "accepted_at" || !strings.Contains(fe.Message, "2028年12月31日") {
		t.Fatalf("late acceptance: %v", err)
	}
}
