package assign_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"keytask/domain"
	"keytask/domain/assign"
)

func constraints(rs []assign.Reason) []assign.Constraint {
	var cs []assign.Constraint
	for _, r := range rs {
		cs = append(cs, r.Constraint)
	}
	return cs
}

func TestCheck(t *testing.T) {
	a := assign.Application{ID: "A-1", TaskType: "T1", School: "S-1", Province: "44", Alliances: []string{"L-1", "L-2"}}
	clean := assign.Expert{ID: "E", Expertise: map[string]int{"T1": 2}, Province: "11", Employer: "S-9", Alliances: []string{"L-3"}, Load: 5}
	for _, tc := range []struct {
		name   string
		edit   func(*assign.Expert)
		want   []assign.Constraint
		wantZh string
	}{
		{"Eligible", func(*assign.Expert) {}, nil, ""},
		{"NoExpertiseMissing", func(e *assign.Expert) { e.Expertise = map[string]int{"T2": 3} }, []assign.Constraint{assign.NoExpertise}, "专业不符"},
		{"NoExpertiseZero", func(e *assign.Expert) { e.Expertise["T1"] = 0 }, []assign.Constraint{assign.NoExpertise}, "专长等级为 0"},
		{"SameSchool", func(e *assign.Expert) { e.Employer, e.Province = "S-1", "44" }, []assign.Constraint{assign.SameSchool, assign.SameProvince}, "同一学校：专家任职于申报学校 S-1"},
		{"SameProvince", func(e *assign.Expert) { e.Province = "44" }, []assign.Constraint{assign.SameProvince}, "同一省份"},
		{"NationalBodyHasNoProvince", func(e *assign.Expert) { e.Province, e.Employer = "", "" }, nil, ""},
		{"SameAlliance", func(e *assign.Expert) { e.Alliances = []string{"L-2", "L-9", "L-1"} }, []assign.Constraint{assign.SameAlliance}, "同一联盟：专家与申报学校同属联盟 L-1、L-2"},
		{"DeclaredApplication", func(e *assign.Expert) { e.ConflictApplications = []string{"A-1"} }, []assign.Constraint{assign.Declared}, "本人申报回避：专家申报回避申报 A-1"},
		{"DeclaredSchool", func(e *assign.Expert) { e.ConflictSchools = []string{"S-1"} }, []assign.Constraint{assign.Declared}, "本人申报回避：专家申报回避学校 S-1"},
		{"DeclaredIdsDoNotCross", func(e *assign.Expert) { e.ConflictApplications, e.ConflictSchools = []string{"S-1"}, []string{"A-1"} }, nil, ""},
		{"Everything", func(e *assign.Expert) {
			e.Expertise = nil
			e.Employer, e.Province, e.Alliances = "S-1", "44", []string{"L-1"}
			e.ConflictApplications, e.ConflictSchools = []string{"A-1"}, []string{"S-1"}
		}, []assign.Constraint{assign.NoExpertise, assign.SameSchool, assign.SameProvince, assign.SameAlliance, assign.Declared, assign.Declared}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := clean
			e.Expertise = map[string]int{"T1": 2}
			tc.edit(&e)
			rs := assign.Check(a, e)
			if got := constraints(rs); !slices.Equal(got, tc.want) {
				t.Fatalf("Check = %v, want %v", got, tc.want)
			}
			if tc.wantZh != "" && !strings.Contains(rs[0].Zh, tc.wantZh) {
				t.Fatalf("reason %q, want it to contain %q", rs[0].Zh, tc.wantZh)
			}
			for _, r := range rs {
				if r.Zh == "" || r.En == "" || !strings.HasPrefix(r.Zh, r.Constraint.Zh()) {
					t.Fatalf("reason %+v: want both languages, Chinese led by %s", r, r.Constraint.Zh())
				}
			}
		})
	}
}

// TestAssignChoosesBestMatch is a case small enough to solve by hand. Both
// applications need 2 experts. E-3 (level 3) sits in A-1's province, so A-1 gets
// E-1 (3) and E-2 (2) and B-1 gets E-3 (3) and E-2 (2) rather than the weaker E-4,
// even though E-4 has the most load: the total level is 10, the most possible.
func TestAssignChoosesBestMatch(t *testing.T) {
	p := assign.Problem{
		PerApplication: 2,
		Applications: []assign.Application{
			{ID: "B-1", TaskType: "T1", School: "S-2", Province: "11"},
			{ID: "A-1", TaskType: "T1", School: "S-1", Province: "44", Alliances: []string{"L-1"}},
		},
		Experts: []assign.Expert{
			{ID: "E-4", Expertise: map[string]int{"T1": 1}, Province: "31", Load: 9},
			{ID: "E-3", Expertise: map[string]int{"T1": 3}, Province: "44", Load: 2},
			{ID: "E-2", Expertise: map[string]int{"T1": 2}, Province: "32", Load: 2},
			{ID: "E-1", Expertise: map[string]int{"T1": 3}, Province: "33", Load: 1},
			{ID: "E-5", Expertise: map[string]int{"T1": 3}, Province: "35", Alliances: []string{"L-1"}, ConflictSchools: []string{"S-2"}, Load: 4},
			{ID: "E-6", Expertise: map[string]int{"T2": 3}, Load: 4},
		},
	}
	res, err := assign.Assign(p)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, as := range res.Assignments {
		got = append(got, as.Application+":"+as.Expert)
	}
	if want := []string{"A-1:E-1", "A-1:E-2", "B-1:E-2", "B-1:E-3"}; !slices.Equal(got, want) {
		t.Fatalf("assignments %v, want %v", got, want)
	}
	if res.TotalLevel != 10 {
		t.Fatalf("TotalLevel = %d, want 10", res.TotalLevel)
	}
	// A-1 could have had E-3 (level 3) but for the province; E-5 but for the
	// alliance. B-1 could not have E-5 (declared) and left out E-1, whose one
	// review went to A-1.
	wantExcl := map[string][]assign.Constraint{
		"A-1/E-3": {assign.SameProvince},
		"A-1/E-5": {assign.SameAlliance},
		"B-1/E-5": {assign.Declared},
	}
	if len(res.Exclusions) != len(wantExcl) {
		t.Fatalf("exclusions %+v, want %v", res.Exclusions, wantExcl)
	}
	for _, x := range res.Exclusions {
		if want := wantExcl[x.Application+"/"+x.Expert]; !slices.Equal(constraints(x.Reasons), want) {
			t.Fatalf("exclusion %s/%s = %v, want %v", x.Application, x.Expert, constraints(x.Reasons), want)
		}
	}
	b1e2 := res.Assignments[2]
	if b1e2.Level != 2 || b1e2.Eligible != 4 || b1e2.HigherLevelFull != 1 ||
		!strings.Contains(b1e2.Zh, "专长等级 2") || !strings.Contains(b1e2.Zh, "1 名等级更高的合格专家工作量已满") ||
		!strings.Contains(b1e2.En, "1 of a higher level having reached their load limit") {
		t.Fatalf("B-1/E-2 explained as %+v", b1e2)
	}
	if u := res.Unqualified; len(u) != 1 || u[0].Expert != "E-6" || u[0].TaskType != "T1" || !strings.HasPrefix(u[0].Reason.Zh, "专业不符") {
		t.Fatalf("unqualified %+v, want E-6 for T1", u)
	}
	wantLoads := []assign.ExpertLoad{{"E-1", 1, 1}, {"E-2", 2, 2}, {"E-3", 1, 2}, {"E-4", 0, 9}, {"E-5", 0, 4}, {"E-6", 0, 4}}
	if !slices.Equal(res.Loads, wantLoads) {
		t.Fatalf("loads %v, want %v", res.Loads, wantLoads)
	}
	verify(t, p, res, true)
}

func TestAssignEdges(t *testing.T) {
	t.Run("NoApplications", func(t *testing.T) {
		res, err := assign.Assign(assign.Problem{Experts: []assign.Expert{{ID: "E", Load: 1}}})
		if err != nil || len(res.Assignments) != 0 || res.PerApplication != assign.DefaultPerApplication {
			t.Fatalf("Assign = %+v, %v", res, err)
		}
	})
	t.Run("DefaultThreePerApplication", func(t *testing.T) {
		p := assign.Problem{Applications: []assign.Application{{ID: "A", TaskType: "T", School: "S", Province: "11"}}}
		for i := range 4 {
			p.Experts = append(p.Experts, assign.Expert{ID: fmt.Sprint("E", i), Expertise: map[string]int{"T": 1 + i%3}, Load: 1})
		}
		res, err := assign.Assign(p)
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Assignments) != 3 || res.TotalLevel != 3+2+1 {
			t.Fatalf("assignments %+v, want the three best of levels 1,2,3,1", res.Assignments)
		}
		verify(t, p, res, true)
	})
	t.Run("ZeroLoadNeverAssigned", func(t *testing.T) {
		p := assign.Problem{PerApplication: 1,
			Applications: []assign.Application{{ID: "A", TaskType: "T", School: "S", Province: "11"}},
			Experts:      []assign.Expert{{ID: "E1", Expertise: map[string]int{"T": 3}}, {ID: "E2", Expertise: map[string]int{"T": 1}, Load: 1}},
		}
		res, err := assign.Assign(p)
		if err != nil || res.Assignments[0].Expert != "E2" || res.Assignments[0].Eligible != 1 {
			t.Fatalf("Assign = %+v, %v; want E2, the only expert with load", res, err)
		}
	})
}

func TestInfeasible(t *testing.T) {
	app := func(id, tt, school, prov string) assign.Application {
		return assign.Application{ID: id, TaskType: tt, School: school, Province: prov}
	}
	exp := func(id string, lvl map[string]int, prov string, load int) assign.Expert {
		return assign.Expert{ID: id, Expertise: lvl, Province: prov, Load: load}
	}
	t1 := map[string]int{"T1": 2}
	t.Run("TooFewEligibleForOne", func(t *testing.T) {
		p := assign.Problem{
			Applications: []assign.Application{app("A-16", "T1", "S-1", "11"), app("A-17", "T1", "S-2", "44")},
			Experts: []assign.Expert{
				exp("E-1", t1, "11", 5), exp("E-2", t1, "12", 5), exp("E-3", t1, "44", 5), exp("E-4", t1, "44", 5),
				{ID: "E-6", Expertise: t1, Province: "14", ConflictSchools: []string{"S-2"}, ConflictApplications: []string{"A-17"}, Load: 5}, // two declarations, one expert
				exp("E-7", t1, "15", 0),
			},
		}
		_, err := assign.Assign(p)
		var ce *domain.ConflictError
		if !errors.As(err, &ce) {
			t.Fatalf("err = %v, want a *domain.ConflictError", err)
		}
		want := "申报 A-17 可回避后合格专家仅 2 名，少于每项所需 3 名（该任务类型有专长的专家 6 名，其中同一省份回避 2 名、本人申报回避 1 名、工作量上限为 0 的 1 名）"
		if ce.Field != "applications[1]" || ce.Message != want {
			t.Fatalf("error %q: %q\nwant %q", ce.Field, ce.Message, want)
		}
	})
	t.Run("TooFewEligibleForMany", func(t *testing.T) {
		p := assign.Problem{PerApplication: 2,
			Applications: []assign.Application{app("A-3", "T2", "S-1", "11"), app("A-1", "T1", "S-1", "11"), app("A-2", "T1", "S-2", "12")},
			Experts:      []assign.Expert{exp("E-1", t1, "11", 5), exp("E-2", t1, "13", 5)},
		}
		_, err := assign.Assign(p)
		var ie *assign.InfeasibleError
		if !errors.As(err, &ie) || ie.Field != "applications" || !slices.Equal(ie.Applications, []string{"A-1", "A-3"}) {
			t.Fatalf("err = %+v, want A-1 and A-3 short", err)
		}
		if want := "2 项申报可回避后合格专家少于每项所需 2 名：A-1 仅 1 名、A-3 仅 0 名"; ie.Message != want {
			t.Fatalf("message %q, want %q", ie.Message, want)
		}
		if ie.Shortages[1].Qualified != 0 || !strings.Contains(ie.Shortages[1].Field, "applications[0]") {
			t.Fatalf("shortage %+v: A-3 is applications[0] and has no qualified expert", ie.Shortages[1])
		}
	})
	t.Run("TotalLoad", func(t *testing.T) {
		p := assign.Problem{}
		for i := range 50 {
			p.Applications = append(p.Applications, app(fmt.Sprintf("A-%02d", i), "T1", "S-1", "11"))
		}
		for k := range 12 {
			p.Experts = append(p.Experts, exp(fmt.Sprintf("E-%02d", k), t1, "12", 10))
		}
		_, err := assign.Assign(p)
		var ie *assign.InfeasibleError
		if !errors.As(err, &ie) || ie.Constraint != assign.TotalLoad || ie.Field != "experts" || ie.Need != 150 || ie.Available != 120 {
			t.Fatalf("err = %+v, want total load 120 < 150", err)
		}
		if want := "专家总工作量上限 120 小于所需 150（50 项申报 × 每项 3 名）"; ie.Message != want {
			t.Fatalf("message %q, want %q", ie.Message, want)
		}
	})
	t.Run("LoadLimitOfOneTaskType", func(t *testing.T) {
		// Plenty of load overall, but the three T2 experts can give the two T2
		// applications only three reviews between them.
		t2 := map[string]int{"T2": 3}
		p := assign.Problem{
			Applications: []assign.Application{app("A-1", "T1", "S-1", "11"), app("B-1", "T2", "S-2", "11"), app("B-2", "T2", "S-3", "12")},
			Experts: []assign.Expert{
				exp("E-1", t1, "13", 9), exp("E-2", t1, "13", 9), exp("E-3", t1, "13", 9),
				exp("F-1", t2, "13", 1), exp("F-2", t2, "13", 1), exp("F-3", t2, "13", 1),
			},
		}
		_, err := assign.Assign(p)
		var ie *assign.InfeasibleError
		if !errors.As(err, &ie) || ie.Constraint != assign.LoadLimit || !slices.Equal(ie.Applications, []string{"B-1", "B-2"}) ||
			ie.Need != 6 || ie.Available != 3 {
			t.Fatalf("err = %+v, want B-1 and B-2 short by 3", err)
		}
		if want := "申报 B-1、B-2 共 2 项需专家 6 人次，但其合格专家在工作量上限内最多能提供 3 人次，缺 3 人次；请增加相关专业的专家或提高其工作量上限"; ie.Message != want {
			t.Fatalf("message %q, want %q", ie.Message, want)
		}
	})
	t.Run("LoadLimitWithDistinctExperts", func(t *testing.T) {
		// Loads total 4 = 2 applications x 2, yet X cannot review A twice: B
		// lacks a second expert.
		p := assign.Problem{PerApplication: 2,
			Applications: []assign.Application{app("A", "T1", "S-1", "11"), app("B", "T1", "S-2", "11")},
			Experts:      []assign.Expert{exp("X", t1, "12", 3), exp("Y", t1, "12", 1)},
		}
		_, err := assign.Assign(p)
		var ie *assign.InfeasibleError
		if !errors.As(err, &ie) || ie.Constraint != assign.LoadLimit || ie.Need != 4 || ie.Available != 3 || len(ie.Applications) != 2 {
			t.Fatalf("err = %+v, want A and B short by 1", err)
		}
	})
}

func TestValidate(t *testing.T) {
	ok := func() assign.Problem {
		return assign.Problem{
			Applications: []assign.Application{{ID: "A", TaskType: "T", School: "S", Province: "11", Alliances: []string{"L"}}},
			Experts:      []assign.Expert{{ID: "E", Expertise: map[string]int{"T": 1}, Load: 1}},
		}
	}
	for _, tc := range []struct {
		name  string
		edit  func(*assign.Problem)
		field string
		msg   string
	}{
		{"PerApplicationNegative", func(p *assign.Problem) { p.PerApplication = -1 }, "per_application", "每项申报所需专家数"},
		{"PerApplicationHuge", func(p *assign.Problem) { p.PerApplication = 101 }, "per_application", "1 至 100"},
		{"AppID", func(p *assign.Problem) { p.Applications[0].ID = "" }, "applications[0].id", "申报编号不能为空"},
		{"AppDuplicate", func(p *assign.Problem) { p.Applications = append(p.Applications, p.Applications[0]) }, "applications[1].id", "申报编号 A 重复"},
		{"TaskType", func(p *assign.Problem) { p.Applications[0].TaskType = "" }, "applications[0].task_type", "任务类型"},
		{"School", func(p *assign.Problem) { p.Applications[0].School = "" }, "applications[0].school", "申报学校不能为空"},
		{"Province", func(p *assign.Problem) { p.Applications[0].Province = "" }, "applications[0].province", "省份"},
		{"AppAlliance", func(p *assign.Problem) { p.Applications[0].Alliances = []string{"L", ""} }, "applications[0].alliances[1]", "联盟编号"},
		{"ExpertID", func(p *assign.Problem) { p.Experts[0].ID = "" }, "experts[0].id", "专家编号不能为空"},
		{"ExpertDuplicate", func(p *assign.Problem) { p.Experts = append(p.Experts, p.Experts[0]) }, "experts[1].id", "专家编号 E 重复"},
		{"LoadNegative", func(p *assign.Problem) { p.Experts[0].Load = -1 }, "experts[0].load", "工作量上限"},
		{"LevelHigh", func(p *assign.Problem) { p.Experts[0].Expertise["T"] = 4 }, "experts[0].expertise.T", "专长等级应为 0 至 3"},
		{"LevelNegative", func(p *assign.Problem) { p.Experts[0].Expertise["U"] = -1 }, "experts[0].expertise.U", "专长等级"},
		{"ExpertiseEmptyType", func(p *assign.Problem) { p.Experts[0].Expertise[""] = 1 }, "experts[0].expertise", "任务类型不能为空"},
		{"ConflictApp", func(p *assign.Problem) { p.Experts[0].ConflictApplications = []string{""} }, "experts[0].conflict_applications[0]", "申报编号不能为空"},
		{"ConflictSchool", func(p *assign.Problem) { p.Experts[0].ConflictSchools = []string{"S", ""} }, "experts[0].conflict_schools[1]", "学校编号不能为空"},
		{"ExpertAlliance", func(p *assign.Problem) { p.Experts[0].Alliances = []string{""} }, "experts[0].alliances[0]", "联盟编号"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := ok()
			tc.edit(&p)
			_, err := assign.Assign(p)
			var fe *domain.FieldError
			if !errors.As(err, &fe) || fe.Field != tc.field || !strings.Contains(fe.Message, tc.msg) {
				t.Fatalf("err = %+v, want field %s with %q", err, tc.field, tc.msg)
			}
		})
	}
	if _, err := assign.Assign(ok()); err == nil {
		t.Fatal("the base problem needs 3 experts and has 1: it must be refused")
	}
}
