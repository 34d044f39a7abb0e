package scoring_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"keytask/domain"
	"keytask/domain/scoring"
)

// quality is a rubric in the shape of the ministry's: four criteria with
// different full marks, 建设方案 weighing most.
var quality = scoring.Rubric{TaskType: "YZYX", Criteria: []scoring.Criterion{
	{Key: "basis", Name: "建设基础", Weight: 30, Max: 30},
	{Key: "plan", Name: "建设方案", Weight: 40, Max: 20},
	{Key: "funds", Name: "经费保障", Weight: 20, Max: 20},
	{Key: "effect", Name: "预期成效", Weight: 10, Max: 5},
}}

func wantField(tb testing.TB, err error, field, msg string) {
	tb.Helper()
	var fe *domain.FieldError
	if !errors.As(err, &fe) {
		tb.Fatalf("err = %v, want a *domain.FieldError on %s", err, field)
	}
	if fe.Field != field || !strings.Contains(fe.Message, msg) {
		tb.Fatalf("error %s: %q, want %s containing %q", fe.Field, fe.Message, field, msg)
	}
}

func TestRubricValidate(t *testing.T) {
	if err := quality.Validate(); err != nil {
		t.Fatal(err)
	}
	if quality.Lead() != 1 {
		t.Fatalf("Lead = %d, want 1 (建设方案, weight 40)", quality.Lead())
	}
	tied := scoring.Rubric{TaskType: "T", Criteria: []scoring.Criterion{{"a", "甲", 20, 10}, {"b", "乙", 40, 10}, {"c", "丙", 40, 10}}}
	if tied.Lead() != 1 {
		t.Fatalf("Lead = %d, want 1: the earliest of equal weights", tied.Lead())
	}
	for _, tc := range []struct {
		name  string
		edit  func(*scoring.Rubric)
		field string
		msg   string
	}{
		{"TaskType", func(r *scoring.Rubric) { r.TaskType = "" }, "task_type", "任务类型"},
		{"NoCriteria", func(r *scoring.Rubric) { r.Criteria = nil }, "criteria", "评分项"},
		{"Key", func(r *scoring.Rubric) { r.Criteria[2].Key = "" }, "criteria[2].key", "编号不能为空"},
		{"DuplicateKey", func(r *scoring.Rubric) { r.Criteria[3].Key = "plan" }, "criteria[3].key", "评分项编号 plan 重复"},
		{"Name", func(r *scoring.Rubric) { r.Criteria[0].Name = "" }, "criteria[0].name", "名称"},
		{"WeightZero", func(r *scoring.Rubric) { r.Criteria[3].Weight = 0 }, "criteria[3].weight", "权重"},
		{"MaxZero", func(r *scoring.Rubric) { r.Criteria[1].Max = 0 }, "criteria[1].max", "满分"},
		{"MaxHuge", func(r *scoring.Rubric) { r.Criteria[1].Max = 1001 }, "criteria[1].max", "1 至 1000"},
		{"WeightsShort", func(r *scoring.Rubric) { r.Criteria[3].Weight = 5 }, "criteria", "权重之和应为 100，现为 95"},
		{"WeightsOver", func(r *scoring.Rubric) { r.Criteria[0].Weight = 90 }, "criteria", "权重之和应为 100"},
		{"Denominator", func(r *scoring.Rubric) {
			r.Criteria = []scoring.Criterion{{"a", "甲", 25, 997}, {"b", "乙", 25, 991}, {"c", "丙", 25, 983}, {"d", "丁", 25, 977}}
		}, "criteria", "最小公倍数"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := quality
			r.Criteria = append([]scoring.Criterion(nil), quality.Criteria...)
			tc.edit(&r)
			wantField(t, r.Validate(), tc.field, tc.msg)
			if r.Lead() != -1 {
				t.Fatal("an invalid rubric has no lead criterion")
			}
		})
	}
}

func TestTotal(t *testing.T) {
	// Exact values worked out by hand: 30·1/30 + 40·1/20 + 20·1/20 + 10·1/5 = 1 + 2 + 1 + 2 = 6.
	for _, tc := range []struct {
		rubric      scoring.Rubric
		scores      []int
		exact, text string
	}{
		{quality, []int{30, 20, 20, 5}, "100", "100.00"},
		{quality, []int{0, 0, 0, 0}, "0", "0.00"},
		{quality, []int{25, 17, 20, 3}, "85", "85.00"},
		{quality, []int{1, 1, 1, 1}, "6", "6.00"},
		{quality, []int{1, 1, 0, 0}, "3", "3.00"},
		{sevens, []int{1, 0}, "30/7", "4.29"},      // 30/7 = 4.2857…
		{sevens, []int{7, 10}, "100", "100.00"},    // full marks
		{sevens, []int{3, 3}, "237/7", "33.86"},    // 90/7 + 21 = 237/7 = 33.857…
		{thirds, []int{1, 0, 0}, "11", "11.00"},    // 33·1/3
		{thirds, []int{0, 0, 2}, "68/3", "22.67"},  // 34·2/3 = 22.666…
		{thirds, []int{1, 1, 1}, "100/3", "33.33"}, // (33+33+34)/3
		{halves, []int{1}, "1/8", "0.13"},          // 0.125 rounds half up to 0.13
		{halves, []int{3}, "3/8", "0.38"},          // 0.375 → 0.38
		{halves, []int{799}, "799/8", "99.88"},     // 99.875 → 99.88
		{halves, []int{800}, "100", "100.00"},
	} {
		got, err := tc.rubric.Total(scoring.Scores{Criteria: tc.scores})
		if err != nil {
			t.Fatal(err)
		}
		if got.Exact() != tc.exact || got.String() != tc.text {
			t.Errorf("%s %v: total %s (%s), want %s (%s)", tc.rubric.TaskType, tc.scores, got.Exact(), got, tc.exact, tc.text)
		}
	}
	for _, tc := range []struct {
		name   string
		scores []int
		field  string
		msg    string
	}{
		{"AboveMax", []int{25, 17, 21, 3}, "scores.criteria[2]", "“经费保障”评分 21 超出该项满分 20"},
		{"Negative", []int{-1, 17, 20, 3}, "scores.criteria[0]", "不能为负数"},
		{"TooFew", []int{25, 17, 20}, "scores.criteria", "评分项数量应为 4，实际为 3"},
		{"TooMany", []int{25, 17, 20, 3, 1}, "scores.criteria", "评分项数量应为 4"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := quality.Total(scoring.Scores{Criteria: tc.scores})
			wantField(t, err, tc.field, tc.msg)
		})
	}
	bad := quality
	bad.Criteria = []scoring.Criterion{{"a", "甲", 50, 10}}
	_, err := bad.Total(scoring.Scores{Criteria: []int{1}})
	wantField(t, err, "criteria", "权重之和")
}

var (
	// sevens has a full mark of 7, whose totals are sevenths.
	sevens = scoring.Rubric{TaskType: "sevens", Criteria: []scoring.Criterion{{"a", "甲", 30, 7}, {"b", "乙", 70, 10}}}
	// thirds has full marks of 3, whose totals are thirds.
	thirds = scoring.Rubric{TaskType: "thirds", Criteria: []scoring.Criterion{{"a", "甲", 33, 3}, {"b", "乙", 33, 3}, {"c", "丙", 34, 3}}}
	// halves has one criterion out of 800, so a mark is 1/8 point.
	halves = scoring.Rubric{TaskType: "halves", Criteria: []scoring.Criterion{{"a", "甲", 100, 800}}}
)

// two is a rubric whose weighted total is simply the sum of its two marks.
var two = scoring.Rubric{TaskType: "T", Criteria: []scoring.Criterion{
	{Key: "plan", Name: "建设方案", Weight: 60, Max: 60},
	{Key: "basis", Name: "建设基础", Weight: 40, Max: 40},
}}

var t0 = time.Date(2022, 6, 10, 9, 0, 0, 0, time.UTC)

func app(id string, submitted time.Time, marks ...[2]int) scoring.Application {
	a := scoring.Application{ID: id, Submitted: submitted}
	for i, m := range marks {
		a.Reviews = append(a.Reviews, scoring.Review{Expert: "E-" + string(rune('A'+i)), Scores: scoring.Scores{Criteria: []int{m[0], m[1]}}})
	}
	return a
}

func TestSummarize(t *testing.T) {
	s, err := scoring.Summarize(quality, scoring.Application{ID: "A-1", Submitted: t0, Reviews: []scoring.Review{
		{Expert: "E-3", Scores: scoring.Scores{Criteria: []int{25, 17, 20, 3}}}, // 85
		{Expert: "E-1", Scores: scoring.Scores{Criteria: []int{20, 15, 19, 4}}}, // 20 + 30 + 19 + 8 = 77
		{Expert: "E-2", Scores: scoring.Scores{Criteria: []int{28, 18, 13, 2}}}, // 28 + 36 + 13 + 4 = 81
	}}, 5)
	if err != nil {
		t.Fatal(err)
	}
	if s.Mean.Exact() != "81" || s.Median.Exact() != "81" || s.Spread.Exact() != "8" {
		t.Fatalf("mean %s median %s spread %s, want 81, 81, 8", s.Mean.Exact(), s.Median.Exact(), s.Spread.Exact())
	}
	if len(s.Totals) != 3 || s.Totals[0].Expert != "E-1" || s.Totals[0].Total.Exact() != "77" || s.Totals[2].Total.Exact() != "85" {
		t.Fatalf("totals %+v, want by expert id", s.Totals)
	}
	if s.Lead.Exact() != "50/3" || s.Criteria[3].Exact() != "3" {
		t.Fatalf("lead %s, effect %s; want 50/3 and 3", s.Lead.Exact(), s.Criteria[3].Exact())
	}
	if !s.Outlier || !strings.Contains(s.OutlierZh, "最高 85.00（E-3）与最低 77.00（E-1）相差 8.00 分，超过阈值 5 分") {
		t.Fatalf("outlier %v %q", s.Outlier, s.OutlierZh)
	}
	t.Run("EvenMedianAndExactMean", func(t *testing.T) {
		s, err := scoring.Summarize(two, app("A", t0, [2]int{50, 30}, [2]int{50, 31}, [2]int{40, 30}, [2]int{60, 40}), 30)
		if err != nil {
			t.Fatal(err)
		}
		// totals 80, 81, 70, 100: mean 331/4, median (80+81)/2, spread 30 — not above 30
		if s.Mean.Exact() != "331/4" || s.Median.Exact() != "161/2" || s.Spread.Exact() != "30" || s.Outlier {
			t.Fatalf("mean %s median %s spread %s outlier %v", s.Mean.Exact(), s.Median.Exact(), s.Spread.Exact(), s.Outlier)
		}
	})
	t.Run("OneReview", func(t *testing.T) {
		s, err := scoring.Summarize(sevens, scoring.Application{ID: "A", Submitted: t0, Reviews: []scoring.Review{{Expert: "E", Scores: scoring.Scores{Criteria: []int{1, 0}}}}}, 1)
		if err != nil || s.Mean.Exact() != "30/7" || s.Median.Exact() != "30/7" || s.Outlier {
			t.Fatalf("summary %+v, %v", s, err)
		}
	})
	for _, tc := range []struct {
		name      string
		a         scoring.Application
		threshold int
		field     string
		msg       string
	}{
		{"ID", app("", t0, [2]int{1, 1}), 10, "id", "申报编号"},
		{"Submitted", app("A", time.Time{}, [2]int{1, 1}), 10, "submitted", "提交时间"},
		{"NoReviews", app("A", t0), 10, "reviews", "尚无专家评分"},
		{"Expert", scoring.Application{ID: "A", Submitted: t0, Reviews: []scoring.Review{{Scores: scoring.Scores{Criteria: []int{1, 1}}}}}, 10, "reviews[0].expert", "评分专家"},
		{"DuplicateExpert", scoring.Application{ID: "A", Submitted: t0, Reviews: []scoring.Review{
			{Expert: "E", Scores: scoring.Scores{Criteria: []int{1, 1}}}, {Expert: "E", Scores: scoring.Scores{Criteria: []int{1, 1}}}}},
			10, "reviews[1].expert", "重复评分"},
		{"Score", app("A", t0, [2]int{1, 1}, [2]int{1, 41}), 10, "reviews[1].scores.criteria[1]", "超出该项满分 40"},
		{"Threshold", app("A", t0, [2]int{1, 1}), 0, "outlier_threshold", "阈值"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := scoring.Summarize(two, tc.a, tc.threshold)
			wantField(t, err, tc.field, tc.msg)
		})
	}
	_, err = scoring.Summarize(scoring.Rubric{TaskType: "T", Criteria: []scoring.Criterion{{"a", "甲", 50, 10}}}, app("A", t0, [2]int{1, 1}), 10)
	wantField(t, err, "rubric.criteria", "权重之和")
}

// tieBreaks is a batch in which each rule decides one pair:
//
//	A-01 90                         first
//	A-02 80,85,90: mean 85 median 85
//	A-03 84,84,87: mean 85 median 84  rule 2
//	A-04 80,80, 建设方案 50             rule 1
//	A-05 80,80, 建设方案 40             rule 3
//	A-07 75, submitted 08:00           rule 1
//	A-06 75, submitted 09:00           rule 4
//	A-08 70                            rule 1
//	A-09 70, same time as A-08         rule 5
func tieBreaks() []scoring.Application {
	return []scoring.Application{
		app("A-06", t0, [2]int{45, 30}),
		app("A-09", t0, [2]int{40, 30}),
		app("A-03", t0, [2]int{50, 34}, [2]int{50, 34}, [2]int{52, 35}),
		app("A-01", t0, [2]int{60, 30}),
		app("A-05", t0, [2]int{40, 40}, [2]int{40, 40}),
		app("A-02", t0, [2]int{50, 30}, [2]int{50, 35}, [2]int{55, 35}),
		app("A-08", t0, [2]int{40, 30}),
		app("A-04", t0, [2]int{50, 30}, [2]int{50, 30}),
		app("A-07", t0.Add(-time.Hour), [2]int{45, 30}),
	}
}

func TestRankTieBreaks(t *testing.T) {
	rk, err := scoring.Rank(two, tieBreaks(), scoring.Options{Quota: 4, OutlierThreshold: 9})
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		id   string
		rule scoring.Rule
		why  string
	}{
		{"A-01", "", "第 1 名：平均分 90.00"},
		{"A-02", scoring.RuleMean, "按规则1「平均分高者在前」：平均分 85.00 低于上一名 A-01 的 90.00"},
		{"A-03", scoring.RuleMedian, "按规则2「中位数高者在前」：平均分与上一名 A-02 相同（85.00），中位数 84.00 低于其 85.00"},
		{"A-04", scoring.RuleMean, "平均分 80.00 低于上一名 A-03 的 85.00"},
		{"A-05", scoring.RuleLead, "权重最高评分项“建设方案”平均得分 40.00 低于其 50.00"},
		{"A-07", scoring.RuleMean, "平均分 75.00 低于上一名 A-05 的 80.00"},
		{"A-06", scoring.RuleSubmitted, "提交时间 2022-06-10 17:00:00 晚于其 2022-06-10 16:00:00"},
		{"A-08", scoring.RuleMean, "平均分 70.00 低于上一名 A-06 的 75.00"},
		{"A-09", scoring.RuleID, "申报编号 A-09 排在 A-08 之后"},
	}
	if len(rk.Entries) != len(want) {
		t.Fatalf("%d entries", len(rk.Entries))
	}
	for i, w := range want {
		e := rk.Entries[i]
		if e.Application != w.id || e.Rank != i+1 || e.DecidedBy != w.rule || !strings.Contains(e.Why, w.why) || e.WhyEn == "" {
			t.Errorf("#%d: %s decided by %q: %q; want %s by %q: %q", i+1, e.Application, e.DecidedBy, e.Why, w.id, w.rule, w.why)
		}
		if e.Selected != (i < 4) {
			t.Errorf("#%d %s selected = %v with quota 4", i+1, e.Application, e.Selected)
		}
	}
	if e := rk.Entries[1]; !e.Outlier || rk.Entries[2].Outlier {
		t.Error("A-02 (80..90) disagrees by 10 > 9; A-03 (84..87) does not")
	}
	if rk.Cut == nil || rk.Cut.LastIn != "A-04" || rk.Cut.FirstOut != "A-05" || rk.Cut.DecidedBy != scoring.RuleLead ||
		!strings.Contains(rk.Cut.Zh, "入选名额 4 项：第 4 名 A-04 入选，第 5 名 A-05 未入选。按规则3") ||
		!strings.HasSuffix(rk.Cut.Zh, "分数线上的并列按排序规则决定，不设待定") {
		t.Fatalf("cut %+v", rk.Cut)
	}
	if len(rk.Rules) != 5 || rk.Rules[2].Zh != "规则3「权重最高评分项“建设方案”平均得分高者在前」" || rk.Rules[0].Rule != scoring.RuleMean {
		t.Fatalf("recorded rules %+v", rk.Rules)
	}
	t.Run("CutByMean", func(t *testing.T) {
		rk, _ := scoring.Rank(two, tieBreaks(), scoring.Options{Quota: 3, OutlierThreshold: 9})
		if rk.Cut.DecidedBy != scoring.RuleMean || strings.Contains(rk.Cut.Zh, "并列") {
			t.Fatalf("cut %+v: a clear gap needs no tie note", rk.Cut)
		}
	})
	t.Run("CutByID", func(t *testing.T) {
		rk, _ := scoring.Rank(two, tieBreaks(), scoring.Options{Quota: 8, OutlierThreshold: 9})
		if rk.Cut.LastIn != "A-08" || rk.Cut.FirstOut != "A-09" || rk.Cut.DecidedBy != scoring.RuleID {
			t.Fatalf("cut %+v", rk.Cut)
		}
	})
	t.Run("NoCut", func(t *testing.T) {
		for _, q := range []int{0, 9, 20} {
			rk, err := scoring.Rank(two, tieBreaks(), scoring.Options{Quota: q, OutlierThreshold: 9})
			if err != nil || rk.Cut != nil {
				t.Fatalf("quota %d: cut %+v, %v", q, rk.Cut, err)
			}
			for _, e := range rk.Entries {
				if e.Selected != (q > 0) {
					t.Fatalf("quota %d: %s selected = %v", q, e.Application, e.Selected)
				}
			}
		}
	})
	t.Run("ExactMeansThatRoundAlike", func(t *testing.T) {
		// A mark of 乙 is worth 1/1000 point: 50.010 and 50.005 both show as
		// 50.01, yet the exact means decide, and the record shows them exactly.
		fine := scoring.Rubric{TaskType: "fine", Criteria: []scoring.Criterion{{"a", "甲", 99, 99}, {"b", "乙", 1, 1000}}}
		rk, err := scoring.Rank(fine, []scoring.Application{app("Y", t0, [2]int{50, 5}), app("X", t0, [2]int{50, 10})},
			scoring.Options{Quota: 1, OutlierThreshold: 5})
		if err != nil {
			t.Fatal(err)
		}
		y := rk.Entries[1]
		if rk.Entries[0].Application != "X" || y.DecidedBy != scoring.RuleMean ||
			!strings.Contains(y.Why, "平均分 50.01（精确值 10001/200） 低于上一名 X 的 50.01（精确值 5001/100）") {
			t.Fatalf("second entry %s by %s: %q", y.Application, y.DecidedBy, y.Why)
		}
	})
	for _, tc := range []struct {
		name  string
		apps  []scoring.Application
		o     scoring.Options
		field string
		msg   string
	}{
		{"Quota", tieBreaks(), scoring.Options{Quota: -1, OutlierThreshold: 9}, "quota", "入选名额"},
		{"Threshold", tieBreaks(), scoring.Options{Quota: 1, OutlierThreshold: 101}, "outlier_threshold", "阈值"},
		{"DuplicateID", append(tieBreaks(), app("A-01", t0, [2]int{1, 1})), scoring.Options{Quota: 1, OutlierThreshold: 9}, "applications[9].id", "申报编号 A-01 重复"},
		{"Score", append(tieBreaks(), app("A-10", t0, [2]int{61, 1})), scoring.Options{Quota: 1, OutlierThreshold: 9}, "applications[9].reviews[0].scores.criteria[0]", "超出该项满分 60"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := scoring.Rank(two, tc.apps, tc.o)
			wantField(t, err, tc.field, tc.msg)
		})
	}
}
