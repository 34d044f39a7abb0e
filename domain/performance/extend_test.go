package performance_test

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"keytask/domain"
	"keytask/domain/identity"
	"keytask/domain/performance"
)

var (
	cst          = time.FixedZone("CST", 8*3600)
	extDeadline  = time.Date(2022, 12, 31, 9, 0, 0, 0, cst)
	extMinistry  = performance.Actor{Role: identity.RoleMinistry, Organisation: "MOHRSS"}
	beforeExtend = time.Date(2022, 12, 20, 10, 0, 0, 0, cst)
)

func extendable() *performance.Collection {
	return performance.NewCollection(2022, extDeadline, []performance.ReportOpened{
		{ProjectID: "p1", TaskType: "YZYX", School: "s2", Province: "11"},
		{ProjectID: "p2", TaskType: "YZYX", School: "s1", Province: "11"},
		{ProjectID: "p3", TaskType: "YZYX", School: "s2", Province: "44"},
		{ProjectID: "p4", TaskType: "YZYX", School: "s3", Province: "44"},
	})
}

// fieldOf returns the field a refusal names and whether it is a conflict.
func fieldOf(t *testing.T, err error) (string, string, bool) {
	t.Helper()
	var fe *domain.FieldError
	var ce *domain.ConflictError
	switch {
	case errors.As(err, &fe):
		return fe.Field, fe.Message, false
	case errors.As(err, &ce):
		return ce.Field, ce.Message, true
	}
	t.Fatalf("err %v is not a domain error", err)
	return "", "", false
}

// An extension moves the deadline and lists, once each and sorted, the
// schools still owing a report; a submission between the old and the new
// deadline is then on time.
func TestExtendMovesTheDeadline(t *testing.T) {
	c := extendable()
	sub, err := c.Submit("p4", performance.Actor{Role: identity.RoleSchool, Organisation: "s3"}, complete(), beforeExtend)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Apply(sub); err != nil {
		t.Fatal(err)
	}
	to := time.Date(2023, 1, 20, 18, 0, 0, 0, cst)
	e, err := c.Extend(to, "  疫情影响  ", extMinistry, beforeExtend)
	if err != nil {
		t.Fatal(err)
	}
	if e.Year != 2022 || !e.From.Equal(extDeadline) || !e.To.Equal(to) || e.Reason != "疫情影响" || !slices.Equal(e.Schools, []string{"s1", "s2"}) {
		t.Fatalf("event %+v", e)
	}
	if err := c.Apply(e); err != nil {
		t.Fatal(err)
	}
	if !c.Deadline.Equal(to) {
		t.Fatalf("deadline %s, want %s", c.Deadline, to)
	}
	afterOld := extDeadline.Add(24 * time.Hour)
	s, err := c.Submit("p1", performance.Actor{Role: identity.RoleSchool, Organisation: "s2"}, complete(), afterOld)
	if err != nil || s.Late {
		t.Fatalf("submission after the old deadline, before the new: late %v err %v", s.Late, err)
	}
	s, err = c.Submit("p2", performance.Actor{Role: identity.RoleSchool, Organisation: "s1"}, complete(), to.Add(time.Minute))
	if err != nil || !s.Late {
		t.Fatalf("submission after the new deadline: late %v err %v", s.Late, err)
	}

	// A second extension starts from the first.
	if _, err := c.Extend(to, "", extMinistry, afterOld); err == nil {
		t.Fatal("an extension to the current deadline was accepted")
	}
	again, err := c.Extend(to.Add(48*time.Hour), "", extMinistry, afterOld)
	if err != nil || !again.From.Equal(to) {
		t.Fatalf("second extension %+v %v", again, err)
	}
}

func TestExtendRefusals(t *testing.T) {
	passed := extendable()
	passed.Passed = true
	closed := extendable()
	closed.Closed = true
	later := time.Date(2023, 1, 20, 18, 0, 0, 0, cst)
	for name, tc := range map[string]struct {
		c        *performance.Collection
		to       time.Time
		reason   string
		by       performance.Actor
		now      time.Time
		field    string
		conflict bool
		message  string
	}{
		"earlier":          {to: extDeadline.Add(-time.Hour), field: "deadline", message: "须晚于现截止时间（2022-12-31 09:00）"},
		"same":             {to: extDeadline, field: "deadline", message: "须晚于现截止时间"},
		"missing":          {field: "deadline", message: "请填写延期截止时间"},
		"beyond next year": {to: time.Date(2023, 12, 1, 0, 0, 1, 0, cst), field: "deadline", message: "不能晚于2023-12-01 00:00"},
		"deadline came":    {to: later, now: extDeadline, field: "deadline", conflict: true, message: "已过，不能再延期"},
		"passed":           {c: passed, to: later, field: "deadline", conflict: true, message: "已过"},
		"closed":           {c: closed, to: later, conflict: true, message: "已结束"},
		"school":           {to: later, by: performance.Actor{Role: identity.RoleSchool, Organisation: "s1"}, conflict: true, message: "只有部里"},
		"long reason":      {to: later, reason: strings.Repeat("因", performance.MaxReasonRunes+1), field: "reason", message: "不能超过"},
		"NUL in reason":    {to: later, reason: "因\x00", field: "reason", message: "空字符"},
	} {
		t.Run(name, func(t *testing.T) {
			c := tc.c
			if c == nil {
				c = extendable()
			}
			if tc.by.Role == "" {
				tc.by = extMinistry
			}
			if tc.now.IsZero() {
				tc.now = beforeExtend
			}
			_, err := c.Extend(tc.to, tc.reason, tc.by, tc.now)
			if err == nil {
				t.Fatal("accepted")
			}
			field, msg, conflict := fieldOf(t, err)
			if field != tc.field || conflict != tc.conflict || !strings.Contains(msg, tc.message) {
				t.Fatalf("refused on %q (conflict %v) %q, want %q (conflict %v) containing %q", field, conflict, msg, tc.field, tc.conflict, tc.message)
			}
			if !c.Deadline.Equal(extDeadline) {
				t.Fatalf("a refusal moved the deadline to %s", c.Deadline)
			}
		})
	}
	// The latest deadline itself is allowed.
	if _, err := extendable().Extend(performance.LatestDeadline(2022), "", extMinistry, beforeExtend); err != nil {
		t.Fatalf("latest deadline refused: %v", err)
	}
}

// A year backfilled after the fact opens with a deadline past the usual bound;
// its schools may still be given up to six months beyond that deadline, and
// state carried from before the opening deadline was kept uses the current one.
func TestExtendBackfilledYear(t *testing.T) {
	opened := time.Date(2026, 11, 28, 20, 0, 0, 0, cst)
	now := opened.Add(-time.Hour)
	backfilled := func() *performance.Collection {
		return performance.NewCollection(2022, opened, []performance.ReportOpened{{ProjectID: "p1", TaskType: "YZYX", School: "s1", Province: "11"}})
	}
	if _, err := backfilled().Extend(opened.Add(10*time.Minute), "", extMinistry, now); err != nil {
		t.Fatalf("a short extension of a backfilled year refused: %v", err)
	}
	c := backfilled()
	e, err := c.Extend(opened.AddDate(0, 6, 0), "", extMinistry, now)
	if err != nil {
		t.Fatalf("six months refused: %v", err)
	}
	if err := c.Apply(e); err != nil {
		t.Fatal(err)
	}
	// The bound stays where the opening put it, however often it is extended.
	_, err = c.Extend(opened.AddDate(0, 6, 1), "", extMinistry, now)
	if field, msg, _ := fieldOf(t, err); field != "deadline" || !strings.Contains(msg, "开启时截止时间后六个月") {
		t.Fatalf("past six months: %v", err)
	}
	carried := backfilled()
	carried.Opened = time.Time{}
	if _, err := carried.Extend(opened.AddDate(0, 6, 1), "", extMinistry, now); err == nil {
		t.Fatal("carried state without its opening deadline accepted more than six months")
	}
}
