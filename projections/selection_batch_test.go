package projections_test

import (
	"context"
	"testing"
	"time"

	"keytask/domain/selection"
	"keytask/projections"
)

// The batch read model built live equals the one rebuilt from the log, and
// holds the recommendation, decisions, notice, objections and publication.
func TestSelectionBatchesLiveEqualsRebuild(t *testing.T) {
	t.Parallel()
	d, s := newEnv(t)
	l := &intentLog{t: t, store: s}
	bs := selection.SelectionBatchStream("b1")
	t0 := time.Date(2025, 3, 3, 1, 0, 0, 0, time.UTC)
	l.ministry(bs, selection.TypeSelectionBatchOpened, selection.SelectionBatchOpened{BatchID: "b1", PlanBatchID: "2022-1", TaskItem: "2.1",
		TaskType: "YZYX", Quota: 2, ProvinceQuotas: map[string]int{"11": 2, "44": 1}, PerApplication: 2, NoticeDays: 5, Deadline: t0})
	l.ministry(bs, selection.TypeProvinceQuotaRaised, selection.ProvinceQuotaRaised{Province: "44", Quota: 2, Reason: "增补"})
	l.province("11", bs, selection.TypeApplicationsRecommended, selection.ApplicationsRecommended{Province: "11", Applications: []string{"a2", "a1"}})
	l.province("11", bs, selection.TypeApplicationsRecommended, selection.ApplicationsRecommended{Province: "11", Applications: []string{"a1", "a2"}})
	l.province("44", bs, selection.TypeApplicationsRecommended, selection.ApplicationsRecommended{Province: "44", Applications: []string{"a3"}})
	l.ministry(bs, selection.TypeStageAdvanced, selection.StageAdvanced{From: selection.StageRecommendation, To: selection.StageQualification, Deadline: t0.Add(240 * time.Hour)})
	l.ministry(bs, selection.TypeQualificationDecided, selection.QualificationDecided{Decisions: []selection.QualificationDecision{
		{Application: "a1", Outcome: selection.Passed}, {Application: "a2", Outcome: selection.Returned, Reason: "缺少材料", Until: t0.Add(48 * time.Hour)},
		{Application: "a3", Outcome: selection.Failed, Reason: "不符合条件"}}})
	l.ministry(bs, selection.TypeCorrectionResubmitted, selection.CorrectionResubmitted{Application: "a2"})
	l.ministry(bs, selection.TypeQualificationDecided, selection.QualificationDecided{Decisions: []selection.QualificationDecision{{Application: "a2", Outcome: selection.Passed}}})
	l.ministry(bs, selection.TypeStageAdvanced, selection.StageAdvanced{From: selection.StageQualification, To: selection.StageExpertReview, Deadline: t0.Add(480 * time.Hour)})
	l.ministry(bs, selection.TypeStageDeadlinePassed, selection.StageDeadlinePassed{Stage: selection.StageExpertReview, Deadline: t0.Add(480 * time.Hour)})
	l.ministry(bs, selection.TypeStageDeadlineExtended, selection.StageDeadlineExtended{Stage: selection.StageExpertReview, Deadline: t0.Add(500 * time.Hour)})
	l.ministry(bs, selection.TypeExpertsAssigned, selection.ExpertsAssigned{Round: 1, Assignments: []selection.ExpertAssignment{
		{Application: "a1", Experts: []string{"e1", "e2"}}, {Application: "a2", Experts: []string{"e1", "e2"}}}})
	l.ministry(bs, selection.TypeScoresSubmitted, selection.ScoresSubmitted{Expert: "e1", Scores: []selection.ApplicationScores{{Application: "a1", Criteria: []int{1}}}})
	l.ministry(bs, selection.TypeRankingProposed, selection.RankingProposed{Round: 1, Selected: []string{"a2", "a1"}})
	l.ministry(bs, selection.TypeRankingConfirmed, selection.RankingConfirmed{Round: 1, Selected: []string{"a2", "a1"}})
	end := time.Date(2025, 3, 29, 16, 0, 0, 0, time.UTC)
	l.ministry(bs, selection.TypeStageAdvanced, selection.StageAdvanced{From: selection.StageExpertReview, To: selection.StageNotice, Deadline: end,
		Notice: &selection.NoticePeriod{Start: t0.Add(600 * time.Hour), End: end, WorkingDays: 5, List: []string{"a2", "a1"}}})
	l.add(bs, selection.TypeObjectionFiled, selection.ObjectionFiled{ObjectionID: "o1", Application: "a1", Name: "王异议", Contact: "13800000000", Text: "材料不实"}, "public", "public", "")
	l.add(bs, selection.TypeObjectionFiled, selection.ObjectionFiled{ObjectionID: "o2", Application: "a2", Name: "赵某", Contact: "a@b.cn", Text: "存疑"}, "public", "public", "")
	l.ministry(bs, selection.TypeObjectionAdjudicated, selection.ObjectionAdjudicated{ObjectionID: "o1", Application: "a1", Outcome: selection.Upheld, Reason: "属实"})
	l.ministry(bs, selection.TypeObjectionAdjudicated, selection.ObjectionAdjudicated{ObjectionID: "o2", Application: "a2", Outcome: selection.Dismissed, Reason: "不属实"})
	l.ministry(bs, selection.TypeSelectionBatchPublished, selection.SelectionBatchPublished{List: []string{"a2"}})
	// Another batch, only opened; and a stream that merely looks alike is ignored.
	l.ministry(selection.SelectionBatchStream("b2"), selection.TypeSelectionBatchOpened, selection.SelectionBatchOpened{BatchID: "b2", TaskItem: "3",
		TaskType: "LMJT", Quota: 1, ProvinceQuotas: map[string]int{"11": 1}, Deadline: t0})

	ps := []projections.Projection{projections.SelectionApplications{}, projections.SelectionBatches{}}
	pr := newProjector(t, d, s, nil, ps...)
	start(t, pr)
	waitCaughtUp(t, pr)
	ctx := context.Background()
	p := projections.SelectionBatches{}
	live, err := projections.Digest(ctx, d.Pool, p)
	if err != nil {
		t.Fatal(err)
	}
	b, err := projections.GetSelectionBatch(ctx, d.Pool, "b1")
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
	if b.Stage != selection.StagePublished || b.ProvinceQuotas["44"] != 2 || b.Notice == nil || !b.Notice.End.Equal(end) ||
		len(b.Notice.List) != 2 || len(b.Published) != 1 || b.Published[0] != "a2" || len(b.Confirmed) != 2 || len(b.Proposed) != 2 {
		t.Fatalf("batch %+v", b)
	}
	if len(b.Applications) != 3 {
		t.Fatalf("applications %+v", b.Applications)
	}
	a1, a2, a3 := b.Applications[0], b.Applications[1], b.Applications[2]
	if a1.ApplicationID != "a1" || a1.Rank != 1 || !a1.Removed || len(a1.Experts) != 2 || a2.Outcome != selection.Passed || !a2.Resubmitted ||
		a3.Outcome != selection.Failed || a3.Reason != "不符合条件" {
		t.Fatalf("applications %+v", b.Applications)
	}
	if len(b.Objections) != 2 || b.Objections[0].Name != "王异议" || b.Objections[0].Outcome != selection.Upheld || b.Objections[1].Reason != "不属实" {
		t.Fatalf("objections %+v", b.Objections)
	}
	if _, err := projections.GetSelectionBatch(ctx, d.Pool, "nope"); err == nil {
		t.Fatal("found a batch that does not exist")
	}
}
