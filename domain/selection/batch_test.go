package selection_test

import (
	"errors"
	"testing"
	"time"

	"keytask/domain"
	"keytask/domain/scoring"
	"keytask/domain/selection"
)

var t0 = time.Date(2025, 3, 3, 9, 0, 0, 0, time.UTC) // a Monday

func rubric() scoring.Rubric {
	return scoring.Rubric{TaskType: "YZYX", Criteria: []scoring.Criterion{
		{Key: "base", Name: "建设基础", Weight: 60, Max: 60}, {Key: "plan", Name: "建设方案", Weight: 40, Max: 40}}}
}

func opened(t *testing.T) selection.BatchState {
	t.Helper()
	_, s, err := selection.OpenBatch(selection.SelectionBatchOpened{
		BatchID: "b1", TaskItem: "2.1", TaskType: "YZYX", Quota: 2,
		ProvinceQuotas: map[string]int{"11": 2, "44": 1}, PerApplication: 2,
		Rubric: rubric(), Deadline: t0.Add(48 * time.Hour),
	}, t0)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func apply(t *testing.T, s *selection.BatchState, e any, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("decision refused: %v", err)
	}
	if err := s.Apply(e); err != nil {
		t.Fatal(err)
	}
}

// refused asserts err is the kind of refusal wanted (field or conflict) on field.
func refused(t *testing.T, err error, conflict bool, field string) {
	t.Helper()
	var ce *domain.ConflictError
	var fe *domain.FieldError
	switch {
	case err == nil:
		t.Fatal("accepted, want refusal")
	case conflict && !errors.As(err, &ce):
		t.Fatalf("got %T %v, want conflict", err, err)
	case !conflict && (errors.As(err, &ce) || !errors.As(err, &fe)):
		t.Fatalf("got %T %v, want field error", err, err)
	case !conflict && fe.Field != field:
		t.Fatalf("field %q, want %q (%s)", fe.Field, field, fe.Message)
	}
}

// throughNotice takes a batch to the public notice with a1, a2 on the list.
func throughNotice(t *testing.T) (selection.BatchState, time.Time) {
	t.Helper()
	s := opened(t)
	now := t0.Add(time.Hour)
	e, err := s.Recommend("11", []string{"a1", "a2"}, now)
	apply(t, &s, e, err)
	e2, err := s.Recommend("44", []string{"a3"}, now)
	apply(t, &s, e2, err)
	adv, err := s.Advance(selection.StageRecommendation, selection.StageQualification, now)
	apply(t, &s, adv, err)
	q, err := s.Qualify([]selection.QualificationDecision{
		{Application: "a1", Outcome: selection.Passed}, {Application: "a2", Outcome: selection.Passed},
		{Application: "a3", Outcome: selection.Failed, Reason: "不符合申报条件"}}, now)
	apply(t, &s, q, err)
	adv, err = s.Advance(selection.StageQualification, selection.StageExpertReview, now)
	apply(t, &s, adv, err)
	apply(t, &s, selection.ExpertsAssigned{Round: 1, Assignments: []selection.ExpertAssignment{
		{Application: "a1", Experts: []string{"e1", "e2"}}, {Application: "a2", Experts: []string{"e1", "e2"}}}}, nil)
	for _, ex := range []string{"e1", "e2"} {
		sc, err := s.SubmitScores(ex, []selection.ApplicationScores{{Application: "a1", Criteria: []int{50, 30}}, {Application: "a2", Criteria: []int{40, 30}}}, now)
		apply(t, &s, sc, err)
	}
	if err := s.MayRank(); err != nil {
		t.Fatal(err)
	}
	apply(t, &s, selection.RankingProposed{Round: 1, Selected: []string{"a1", "a2"}}, nil)
	c, err := s.ConfirmRanking(1)
	apply(t, &s, c, err)
	adv, err = s.Advance(selection.StageExpertReview, selection.StageNotice, now)
	apply(t, &s, adv, err)
	return s, now
}

func TestHappyPath(t *testing.T) {
	s, now := throughNotice(t)
	if s.Stage != selection.StageNotice {
		t.Fatalf("stage %s", s.Stage)
	}
	// 2025-03-03 09:00 UTC is Monday 17:00 in Shanghai: five working days end Monday 10 March 24:00.
	if want := time.Date(2025, 3, 11, 0, 0, 0, 0, time.FixedZone("CST", 8*3600)); !s.Notice.End.Equal(want) {
		t.Fatalf("notice end %s, want %s", s.Notice.End, want)
	}
	o, err := s.FileObjection(selection.ObjectionFiled{ObjectionID: "o1", Application: "a1", Name: "张三", Contact: "13800000000", Text: "材料不实"}, now)
	apply(t, &s, o, err)
	o, err = s.FileObjection(selection.ObjectionFiled{ObjectionID: "o2", Application: "a2", Name: "李四", Contact: "13900000000", Text: "存疑"}, now)
	apply(t, &s, o, err)
	_, _, err = s.Publish(s.Notice.End)
	refused(t, err, true, "") // objections pending
	a, err := s.Adjudicate("o1", selection.Upheld, "经核查属实")
	apply(t, &s, a, err)
	a, err = s.Adjudicate("o2", selection.Dismissed, "经核查材料属实")
	apply(t, &s, a, err)
	_, _, err = s.Publish(s.Notice.End.Add(-time.Second))
	refused(t, err, true, "")
	pub, projects, err := s.Publish(s.Notice.End)
	apply(t, &s, pub, err)
	if len(pub.List) != 1 || pub.List[0] != "a2" || len(projects) != 1 || projects[0].Rank != 1 || projects[0].Province != "11" {
		t.Fatalf("published %v projects %+v", pub.List, projects)
	}
	if s.Stage != selection.StagePublished {
		t.Fatal(s.Stage)
	}
	_, err = s.Reopen(selection.StageNotice, "x", now)
	refused(t, err, true, "")
	_, err = s.Advance(selection.StagePublished, "", now)
	refused(t, err, true, "")
	_, err = s.ExtendDeadline(selection.StagePublished, now.Add(1000*time.Hour), now)
	refused(t, err, true, "")
}

func TestOpenBatch(t *testing.T) {
	base := selection.SelectionBatchOpened{BatchID: "b", TaskItem: "2.1", TaskType: "YZYX", Quota: 1,
		ProvinceQuotas: map[string]int{"11": 1}, Rubric: rubric(), Deadline: t0.Add(time.Hour)}
	for _, c := range []struct {
		name  string
		edit  func(*selection.SelectionBatchOpened)
		field string
	}{
		{"ErrBatchID", func(o *selection.SelectionBatchOpened) { o.BatchID = "" }, "batch_id"},
		{"ErrQuota", func(o *selection.SelectionBatchOpened) { o.Quota = 0 }, "quota"},
		{"ErrNoProvinces", func(o *selection.SelectionBatchOpened) { o.ProvinceQuotas = nil }, "province_quotas"},
		{"ErrUnknownProvince", func(o *selection.SelectionBatchOpened) { o.ProvinceQuotas = map[string]int{"99": 1} }, "province_quotas.99"},
		{"ErrDeadline", func(o *selection.SelectionBatchOpened) { o.Deadline = t0 }, "deadline"},
		{"ErrRubricType", func(o *selection.SelectionBatchOpened) { o.Rubric.TaskType = "X" }, "rubric.task_type"},
		{"ErrPeriodStage", func(o *selection.SelectionBatchOpened) {
			o.Periods = map[selection.Stage]time.Duration{selection.StageNotice: time.Hour}
		}, "periods.notice"},
	} {
		t.Run(c.name, func(t *testing.T) {
			o := base
			c.edit(&o)
			_, _, err := selection.OpenBatch(o, t0)
			refused(t, err, false, c.field)
		})
	}
	o, s, err := selection.OpenBatch(base, t0)
	if err != nil || o.PerApplication != 3 || o.NoticeDays != 5 || s.Stage != selection.StageRecommendation {
		t.Fatalf("defaults: %+v %v", o, err)
	}
}

func TestRecommendation(t *testing.T) {
	s := opened(t)
	now := t0.Add(time.Hour)
	for _, c := range []struct {
		name     string
		province string
		apps     []string
		at       time.Time
		conflict bool
		field    string
	}{
		{"ErrOverQuota", "44", []string{"x1", "x2"}, now, false, "applications"},
		{"ErrNoQuota", "31", []string{"x1"}, now, false, "province"},
		{"ErrUnknownProvince", "99", []string{"x1"}, now, false, "province"},
		{"ErrEmpty", "11", nil, now, false, "applications"},
		{"ErrRepeated", "11", []string{"x1", "x1"}, now, false, "applications[1]"},
		{"ErrPastDeadline", "11", []string{"x1"}, s.Deadline, true, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := s.Recommend(c.province, c.apps, c.at)
			refused(t, err, c.conflict, c.field)
		})
	}
	e, err := s.Recommend("44", []string{"x1"}, now)
	apply(t, &s, e, err)
	t.Run("ErrOtherProvinces", func(t *testing.T) {
		_, err := s.Recommend("11", []string{"x1"}, now)
		refused(t, err, false, "applications[0]")
	})
	t.Run("ReplacesEarlier", func(t *testing.T) {
		s := s
		s.Apps = map[string]selection.AppState{"x1": s.Apps["x1"]}
		e, err := s.Recommend("44", []string{"x2"}, now)
		apply(t, &s, e, err)
		if _, ok := s.Apps["x1"]; ok || s.Apps["x2"].Rank != 1 {
			t.Fatalf("apps %v", s.Apps)
		}
	})
	t.Run("RaiseQuota", func(t *testing.T) {
		_, err := s.RaiseQuota("44", 1, "需要")
		refused(t, err, false, "quota")
		_, err = s.RaiseQuota("44", 3, " ")
		refused(t, err, false, "reason")
		r, err := s.RaiseQuota("44", 3, "该省申报踊跃")
		s := s
		s.ProvinceQuotas = map[string]int{"11": 2, "44": 1}
		apply(t, &s, r, err)
		if s.QuotaOf("44") != 3 {
			t.Fatal(s.ProvinceQuotas)
		}
	})
	t.Run("ErrAdvanceBeforeAllRecommended", func(t *testing.T) {
		_, err := s.Advance(selection.StageRecommendation, selection.StageQualification, now)
		refused(t, err, true, "")
		// After the deadline the missing province no longer holds the batch up.
		if _, err := s.Advance(selection.StageRecommendation, selection.StageQualification, s.Deadline); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("ErrSkipStage", func(t *testing.T) {
		_, err := s.Advance(selection.StageRecommendation, selection.StageExpertReview, s.Deadline)
		refused(t, err, false, "to")
	})
	t.Run("ErrStaleFrom", func(t *testing.T) {
		_, err := s.Advance(selection.StageQualification, selection.StageExpertReview, s.Deadline)
		refused(t, err, true, "")
	})
	t.Run("ErrReopenFirst", func(t *testing.T) {
		_, err := s.Reopen(selection.StageRecommendation, "理由", now)
		refused(t, err, true, "")
	})
	t.Run("ErrAdvanceEmpty", func(t *testing.T) {
		_, err := opened(t).Advance(selection.StageRecommendation, selection.StageQualification, t0.Add(72*time.Hour))
		refused(t, err, true, "")
	})
}

func TestQualification(t *testing.T) {
	s := opened(t)
	now := t0.Add(time.Hour)
	e, _ := s.Recommend("11", []string{"a1", "a2"}, now)
	apply(t, &s, e, nil)
	e, _ = s.Recommend("44", []string{"a3"}, now)
	apply(t, &s, e, nil)
	_, err := s.Qualify([]selection.QualificationDecision{{Application: "a1", Outcome: selection.Passed}}, now)
	refused(t, err, true, "") // not yet in qualification
	adv, err := s.Advance(selection.StageRecommendation, selection.StageQualification, now)
	apply(t, &s, adv, err)
	_, err = s.Recommend("11", []string{"a1"}, now)
	refused(t, err, true, "")
	for _, c := range []struct {
		name  string
		ds    []selection.QualificationDecision
		field string
	}{
		{"ErrEmpty", nil, "decisions"},
		{"ErrNotRecommended", []selection.QualificationDecision{{Application: "zz", Outcome: selection.Passed}}, "decisions[0].application"},
		{"ErrRepeated", []selection.QualificationDecision{{Application: "a1", Outcome: selection.Passed}, {Application: "a1", Outcome: selection.Passed}}, "decisions[1].application"},
		{"ErrOutcome", []selection.QualificationDecision{{Application: "a1", Outcome: "maybe"}}, "decisions[0].outcome"},
		{"ErrFailNoReason", []selection.QualificationDecision{{Application: "a1", Outcome: selection.Failed}}, "decisions[0].reason"},
		{"ErrReturnNoReason", []selection.QualificationDecision{{Application: "a1", Outcome: selection.Returned, Reason: " "}}, "decisions[0].reason"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := s.Qualify(c.ds, now)
			refused(t, err, false, c.field)
		})
	}
	_, err = s.Resubmit("a1", now)
	refused(t, err, true, "") // not returned
	q, err := s.Qualify([]selection.QualificationDecision{
		{Application: "a1", Outcome: selection.Passed}, {Application: "a2", Outcome: selection.Returned, Reason: "缺少附件"}}, now)
	apply(t, &s, q, err)
	if want := now.Add(selection.DefaultCorrectionWindow); !s.Apps["a2"].Until.Equal(want) {
		t.Fatalf("until %s", s.Apps["a2"].Until)
	}
	_, err = s.Advance(selection.StageQualification, selection.StageExpertReview, now)
	refused(t, err, true, "") // a3 undecided
	q, _ = s.Qualify([]selection.QualificationDecision{{Application: "a3", Outcome: selection.Failed, Reason: "不符合"}}, now)
	apply(t, &s, q, nil)
	_, err = s.Advance(selection.StageQualification, selection.StageExpertReview, now)
	refused(t, err, true, "") // a2 in its correction window
	_, err = s.Resubmit("a2", s.Apps["a2"].Until)
	refused(t, err, true, "") // window over
	r, err := s.Resubmit("a2", now.Add(time.Hour))
	apply(t, &s, r, err)
	_, err = s.Advance(selection.StageQualification, selection.StageExpertReview, now)
	refused(t, err, true, "") // resubmitted, undecided again
	q, _ = s.Qualify([]selection.QualificationDecision{{Application: "a2", Outcome: selection.Passed}}, now)
	apply(t, &s, q, nil)
	t.Run("Reopen", func(t *testing.T) {
		s := s
		_, err := s.Reopen(selection.StageNotice, "理由", now)
		refused(t, err, false, "stage")
		_, err = s.Reopen(selection.StageRecommendation, "", now)
		refused(t, err, false, "reason")
		r, err := s.Reopen(selection.StageRecommendation, "补充推荐", now)
		if err != nil || r.From != selection.StageQualification || r.To != selection.StageRecommendation {
			t.Fatal(r, err)
		}
	})
	adv, err = s.Advance(selection.StageQualification, selection.StageExpertReview, now)
	apply(t, &s, adv, err)
	if got := s.Unassigned(); len(got) != 2 {
		t.Fatalf("unassigned %v", got)
	}
}

func TestExpertReview(t *testing.T) {
	s := opened(t)
	now := t0.Add(time.Hour)
	for _, p := range []string{"11", "44"} {
		e, _ := s.Recommend(p, map[string][]string{"11": {"a1"}, "44": {"a3"}}[p], now)
		apply(t, &s, e, nil)
	}
	adv, _ := s.Advance(selection.StageRecommendation, selection.StageQualification, now)
	apply(t, &s, adv, nil)
	q, _ := s.Qualify([]selection.QualificationDecision{{Application: "a1", Outcome: selection.Passed}, {Application: "a3", Outcome: selection.Passed}}, now)
	apply(t, &s, q, nil)
	adv, _ = s.Advance(selection.StageQualification, selection.StageExpertReview, now)
	apply(t, &s, adv, nil)
	if err := s.MayAssign(); err != nil {
		t.Fatal(err)
	}
	refused(t, s.MayRank(), true, "")
	apply(t, &s, selection.ExpertsAssigned{Round: 1, Assignments: []selection.ExpertAssignment{
		{Application: "a1", Experts: []string{"e1", "e2"}}, {Application: "a3", Experts: []string{"e2", "e3"}}}}, nil)
	refused(t, s.MayAssign(), true, "")
	for _, c := range []struct {
		name   string
		expert string
		scores []selection.ApplicationScores
		field  string
	}{
		{"ErrNoExpert", "", []selection.ApplicationScores{{Application: "a1", Criteria: []int{1, 1}}}, "expert"},
		{"ErrNoScores", "e1", nil, "scores"},
		{"ErrNotAssigned", "e1", []selection.ApplicationScores{{Application: "a3", Criteria: []int{1, 1}}}, "scores[0].application"},
		{"ErrUnknownExpert", "e9", []selection.ApplicationScores{{Application: "a1", Criteria: []int{1, 1}}}, "scores[0].application"},
		{"ErrOverMax", "e1", []selection.ApplicationScores{{Application: "a1", Criteria: []int{61, 1}}}, "scores[0].criteria[0]"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := s.SubmitScores(c.expert, c.scores, now)
			refused(t, err, false, c.field)
		})
	}
	_, err := s.SubmitScores("e1", []selection.ApplicationScores{{Application: "a1", Criteria: []int{1, 1}}}, s.Deadline)
	refused(t, err, true, "")
	sc, err := s.SubmitScores("e2", []selection.ApplicationScores{{Application: "a1", Criteria: []int{50, 30}}, {Application: "a3", Criteria: []int{50, 30}}}, now)
	apply(t, &s, sc, err)
	refused(t, s.MayRank(), true, "")
	for _, ex := range []string{"e1", "e3"} {
		app := map[string]string{"e1": "a1", "e3": "a3"}[ex]
		sc, err := s.SubmitScores(ex, []selection.ApplicationScores{{Application: app, Criteria: []int{40, 20}}}, now)
		apply(t, &s, sc, err)
	}
	if err := s.MayRank(); err != nil {
		t.Fatal(err)
	}
	_, err = s.ConfirmRanking(1)
	refused(t, err, true, "") // nothing proposed
	_, err = s.Advance(selection.StageExpertReview, selection.StageNotice, now)
	refused(t, err, true, "") // not confirmed
	apply(t, &s, selection.RankingProposed{Round: 1, Selected: []string{"a1", "a3"}}, nil)
	_, err = s.ConfirmRanking(2)
	refused(t, err, true, "")
	// A score changed after the proposal makes it stale.
	sc, _ = s.SubmitScores("e1", []selection.ApplicationScores{{Application: "a1", Criteria: []int{41, 20}}}, now)
	apply(t, &s, sc, nil)
	_, err = s.ConfirmRanking(1)
	refused(t, err, true, "")
	apply(t, &s, selection.RankingProposed{Round: 2, Selected: []string{"a1", "a3"}}, nil)
	c, err := s.ConfirmRanking(2)
	apply(t, &s, c, err)
	_, err = s.SubmitScores("e1", []selection.ApplicationScores{{Application: "a1", Criteria: []int{1, 1}}}, now)
	refused(t, err, true, "")
	t.Run("ReopenClearsConfirmation", func(t *testing.T) {
		s := s
		r, err := s.Reopen(selection.StageQualification, "复核资格", now)
		apply(t, &s, r, err)
		if s.Confirmed != nil || s.Proposed != 0 || s.Stage != selection.StageQualification || len(s.Apps["a1"].Experts) != 2 {
			t.Fatalf("%+v", s)
		}
	})
	t.Run("ExtendAndDeadline", func(t *testing.T) {
		s := s
		if _, ok := s.DeadlinePassed(s.Deadline.Add(-time.Second)); ok {
			t.Fatal("passed early")
		}
		p, ok := s.DeadlinePassed(s.Deadline)
		if !ok {
			t.Fatal("not passed")
		}
		apply(t, &s, p, nil)
		if _, ok := s.DeadlinePassed(s.Deadline); ok {
			t.Fatal("passed twice")
		}
		_, err := s.ExtendDeadline(selection.StageQualification, s.Deadline.Add(time.Hour), now)
		refused(t, err, false, "stage")
		_, err = s.ExtendDeadline(selection.StageExpertReview, s.Deadline, now)
		refused(t, err, false, "deadline")
		e, err := s.ExtendDeadline(selection.StageExpertReview, s.Deadline.Add(time.Hour), now)
		apply(t, &s, e, err)
		if s.Overdue {
			t.Fatal("still overdue")
		}
	})
}

func TestNotice(t *testing.T) {
	s, now := throughNotice(t)
	for _, c := range []struct {
		name  string
		o     selection.ObjectionFiled
		field string
	}{
		{"ErrAnonymous", selection.ObjectionFiled{ObjectionID: "o", Application: "a1", Contact: "1", Text: "x"}, "name"},
		{"ErrNoContact", selection.ObjectionFiled{ObjectionID: "o", Application: "a1", Name: "张三", Text: "x"}, "contact"},
		{"ErrNoText", selection.ObjectionFiled{ObjectionID: "o", Application: "a1", Name: "张三", Contact: "1"}, "text"},
		{"ErrNotListed", selection.ObjectionFiled{ObjectionID: "o", Application: "a3", Name: "张三", Contact: "1", Text: "x"}, "application"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := s.FileObjection(c.o, now)
			refused(t, err, false, c.field)
		})
	}
	good := selection.ObjectionFiled{ObjectionID: "o1", Application: "a1", Name: "张三", Contact: "1", Text: "x"}
	_, err := s.FileObjection(good, s.Notice.End)
	refused(t, err, true, "")
	o, err := s.FileObjection(good, now)
	apply(t, &s, o, err)
	_, err = s.FileObjection(good, now)
	refused(t, err, true, "")
	_, err = s.Adjudicate("o9", selection.Upheld, "")
	refused(t, err, false, "objection_id")
	_, err = s.Adjudicate("o1", selection.Dismissed, "")
	refused(t, err, false, "reason")
	_, err = s.Adjudicate("o1", "maybe", "")
	refused(t, err, false, "outcome")
	_, err = s.Advance(selection.StageNotice, selection.StagePublished, s.Notice.End)
	refused(t, err, true, "")
	a, err := s.Adjudicate("o1", selection.Upheld, "经核查属实")
	apply(t, &s, a, err)
	_, err = s.Adjudicate("o1", selection.Upheld, "再次")
	refused(t, err, true, "")
	_, err = s.FileObjection(selection.ObjectionFiled{ObjectionID: "o2", Application: "a1", Name: "张三", Contact: "1", Text: "x"}, now)
	refused(t, err, false, "application") // removed from the list
	e, err := s.ExtendDeadline(selection.StageNotice, s.Notice.End.Add(24*time.Hour), now)
	apply(t, &s, e, err)
	if !s.Notice.End.Equal(e.Deadline) {
		t.Fatal("notice end not extended")
	}
	r, err := s.Reopen(selection.StageExpertReview, "重新排序", now)
	apply(t, &s, r, err)
	if s.Notice != nil || s.Confirmed != nil || !s.Apps["a1"].Removed {
		t.Fatalf("%+v", s)
	}
}
