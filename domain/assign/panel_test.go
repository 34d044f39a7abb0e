package assign_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"keytask/domain"
	"keytask/domain/assign"
)

func day(s string) time.Time {
	t, err := time.Parse("2006-01-02", s)
	if err != nil {
		panic(err)
	}
	return t
}

func TestFormerEmployerAndMembers(t *testing.T) {
	asOf := day("2026-06-01")
	a := assign.Application{ID: "A-1", TaskType: "T", School: "S-1", Province: "11", Members: []string{"S-1", "S-2", "S-3"}}
	e := assign.Expert{ID: "E-1", Expertise: map[string]int{"T": 2}, Province: "44", Load: 5,
		FormerEmployers: []assign.FormerEmployment{{School: "S-1", Until: day("2024-01-31")}}}
	if got := constraints(assign.CheckAsOf(a, e, asOf)); !slices.Equal(got, []assign.Constraint{assign.FormerEmployer}) {
		t.Fatalf("left S-1 two years ago: %v, want former-employer", got)
	}
	e.FormerEmployers[0].Until = day("2023-05-31") // three years and a day before asOf
	if got := assign.CheckAsOf(a, e, asOf); len(got) != 0 {
		t.Fatalf("left S-1 over three years ago: %v, want eligible", got)
	}
	e.Employer = "S-2" // works at a member school of the alliance
	rs := assign.CheckAsOf(a, e, asOf)
	if got := constraints(rs); !slices.Equal(got, []assign.Constraint{assign.SameAlliance}) {
		t.Fatalf("employed at member S-2: %v, want same-alliance", got)
	}
	if want := "同一联盟：专家任职（或离职未满 3 年）于该申报的成员学校 S-2"; rs[0].Zh != want {
		t.Fatalf("explanation %q, want %q", rs[0].Zh, want)
	}
	e.Employer = ""
	e.FormerEmployers = []assign.FormerEmployment{{School: "S-3", Until: day("2025-01-01")}}
	if got := constraints(assign.CheckAsOf(a, e, asOf)); !slices.Equal(got, []assign.Constraint{assign.SameAlliance}) {
		t.Fatalf("lately at member S-3: %v, want same-alliance", got)
	}
}

// TestReassignKeepsPanel fills one declined place and changes nothing else:
// the staying experts are not reassigned, the one who left is never put back.
func TestReassignKeepsPanel(t *testing.T) {
	p := national(3, 300, 80)
	res, err := assign.Assign(p)
	if err != nil {
		t.Fatal(err)
	}
	panels := map[string][]string{}
	used := map[string]int{}
	for _, as := range res.Assignments {
		panels[as.Application] = append(panels[as.Application], as.Expert)
		used[as.Expert]++
	}
	target := p.Applications[17]
	declined := panels[target.ID][1]
	target.Panel = slices.DeleteFunc(slices.Clone(panels[target.ID]), func(e string) bool { return e == declined })
	target.Barred = []string{declined}
	q := assign.Problem{PerApplication: 3, Applications: []assign.Application{target}}
	for _, e := range p.Experts {
		e.Load -= used[e.ID]
		q.Experts = append(q.Experts, e)
	}
	again, err := assign.Assign(q)
	if err != nil {
		t.Fatal(err)
	}
	if len(again.Assignments) != 1 {
		t.Fatalf("reassignment made %d assignments, want the one open place", len(again.Assignments))
	}
	got := again.Assignments[0]
	if got.Expert == declined || slices.Contains(target.Panel, got.Expert) {
		t.Fatalf("open place given to %s (declined %s, panel %v)", got.Expert, declined, target.Panel)
	}
	if used[got.Expert] >= loadOf(p, got.Expert) {
		t.Fatalf("%s is at their load %d already", got.Expert, loadOf(p, got.Expert))
	}
	if !eligible(target, expertOf(p, got.Expert)) {
		t.Fatalf("%s conflicts with %s", got.Expert, target.ID)
	}
	want := fmt.Sprintf("填补空缺席位（其余 %d 名评审专家不变）；", len(target.Panel))
	if len(got.Zh) < len(want) || got.Zh[:len(want)] != want {
		t.Fatalf("explanation %q does not say the rest stays", got.Zh)
	}
	found := false
	for _, ex := range again.Exclusions {
		if ex.Expert == declined && ex.Reasons[0].Constraint == assign.Withdrawn {
			found = true
		}
	}
	if !found && expertOf(p, declined).Expertise[target.TaskType] > 0 {
		t.Fatalf("the declined expert %s is not excluded as withdrawn", declined)
	}

	// Nobody else eligible: the refusal names the application and the need.
	for i := range q.Experts {
		if q.Experts[i].ID != declined && !slices.Contains(target.Panel, q.Experts[i].ID) {
			q.Experts[i].Load = 0
		}
	}
	_, err = assign.Assign(q)
	var ie *assign.InfeasibleError
	if !errors.As(err, &ie) || ie.Constraint != assign.TooFewEligible || ie.Need != 1 {
		t.Fatalf("no one left: %v, want too-few-eligible needing 1", err)
	}
	target.Panel = append(target.Panel, declined)
	q.Applications = []assign.Application{target}
	if _, err := assign.Assign(q); !isField(err, "applications[0].panel") {
		t.Fatalf("a full panel: %v, want a refusal naming applications[0].panel", err)
	}
}

func isField(err error, field string) bool {
	var fe *domain.FieldError
	return errors.As(err, &fe) && fe.Field == field
}

func loadOf(p assign.Problem, id string) int { return expertOf(p, id).Load }

func expertOf(p assign.Problem, id string) assign.Expert {
	for _, e := range p.Experts {
		if e.ID == id {
			return e
		}
	}
	return assign.Expert{}
}

// nationalAllRules is national with every conflict rule on: besides the
// employers, provinces, alliances and declared conflicts, a third of the
// experts left a school within five years, and a tenth of the applications
// are an alliance's, filed for 2 to 8 member schools.
func nationalAllRules(seed uint64, apps, experts int) assign.Problem {
	p := national(seed, apps, experts)
	r := rand.New(rand.NewPCG(seed, 42))
	p.AsOf = day("2026-06-01")
	for i := range p.Applications {
		if r.IntN(10) == 0 {
			for range 2 + r.IntN(7) {
				p.Applications[i].Members = append(p.Applications[i].Members, fmt.Sprintf("S-%04d", r.IntN(1500)))
			}
		}
	}
	for k := range p.Experts {
		if r.IntN(3) == 0 {
			p.Experts[k].FormerEmployers = []assign.FormerEmployment{{School: fmt.Sprintf("S-%04d", r.IntN(1500)),
				Until: p.AsOf.AddDate(0, 0, -r.IntN(5*365))}}
		}
	}
	return p
}

// BenchmarkAssignNationalAllRules is BenchmarkAssignNational with every
// conflict rule on; compare the two in one run.
func BenchmarkAssignNationalAllRules(b *testing.B) {
	p := nationalAllRules(1, 6000, 1000)
	for b.Loop() {
		if _, err := assign.Assign(p); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkReassignOneSlot fills one declined place of a solved national
// batch against the whole pool, with every conflict rule on.
func BenchmarkReassignOneSlot(b *testing.B) {
	p := nationalAllRules(1, 6000, 1000)
	res, err := assign.Assign(p)
	if err != nil {
		b.Fatal(err)
	}
	panels := map[string][]string{}
	used := map[string]int{}
	for _, as := range res.Assignments {
		panels[as.Application] = append(panels[as.Application], as.Expert)
		used[as.Expert]++
	}
	target := p.Applications[100]
	target.Panel, target.Barred = panels[target.ID][1:], panels[target.ID][:1]
	q := assign.Problem{PerApplication: 3, AsOf: p.AsOf, Applications: []assign.Application{target}}
	for _, e := range p.Experts {
		e.Load = max(0, e.Load-used[e.ID])
		if e.ID == panels[target.ID][0] {
			e.Load++ // the declined place frees one
		}
		q.Experts = append(q.Experts, e)
	}
	b.ResetTimer()
	for b.Loop() {
		if _, err := assign.Assign(q); err != nil {
			b.Fatal(err)
		}
	}
}

func TestNationalAllRules(t *testing.T) {
	if testing.Short() {
		t.Skip("national batch takes seconds")
	}
	p := nationalAllRules(1, 6000, 1000)
	res, err := assign.Assign(p)
	if err != nil {
		t.Fatal(err)
	}
	former := 0
	for _, ex := range res.Exclusions {
		for _, r := range ex.Reasons {
			if r.Constraint == assign.FormerEmployer {
				former++
			}
		}
	}
	if former == 0 {
		t.Fatal("no former-employer exclusion in a national batch with employment histories")
	}
}
