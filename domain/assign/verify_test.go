package assign_test

import (
	"slices"
	"testing"

	"keytask/domain/assign"
)

// eligible restates the rules of eligibility independently of the package.
func eligible(a assign.Application, e assign.Expert) bool {
	switch {
	case e.Expertise[a.TaskType] < 1,
		e.Employer != "" && e.Employer == a.School,
		e.Province != "" && e.Province == a.Province,
		slices.ContainsFunc(a.Alliances, func(l string) bool { return slices.Contains(e.Alliances, l) }),
		slices.Contains(e.ConflictApplications, a.ID),
		slices.Contains(e.ConflictSchools, a.School):
		return false
	}
	return true
}

// verify checks a result against the problem from first principles, using only
// an independent statement of the rules: every application has exactly N distinct experts, none in
// conflict, within every load, the totals add up, and no assignment could be
// improved by swapping in a better expert with load to spare. With full it also
// checks that Exclusions lists exactly the qualified pairs Check refuses.
func verify(tb testing.TB, p assign.Problem, res *assign.Result, full bool) {
	tb.Helper()
	n := p.PerApplication
	if n == 0 {
		n = assign.DefaultPerApplication
	}
	if res.PerApplication != n {
		tb.Fatalf("PerApplication = %d, want %d", res.PerApplication, n)
	}
	apps := map[string]assign.Application{}
	for _, a := range p.Applications {
		apps[a.ID] = a
	}
	experts := map[string]assign.Expert{}
	for _, e := range p.Experts {
		experts[e.ID] = e
	}
	byApp := map[string][]string{}
	used := map[string]int{}
	total := 0
	for i, as := range res.Assignments {
		a, ok := apps[as.Application]
		e, ok2 := experts[as.Expert]
		if !ok || !ok2 {
			tb.Fatalf("assignment %+v names an unknown application or expert", as)
		}
		if !eligible(a, e) {
			tb.Fatalf("%s assigned to %s despite a conflict or no expertise", e.ID, a.ID)
		}
		if slices.Contains(byApp[a.ID], e.ID) {
			tb.Fatalf("%s assigned to %s twice", e.ID, a.ID)
		}
		if as.Level != e.Expertise[a.TaskType] || as.TaskType != a.TaskType || as.Zh == "" || as.En == "" {
			tb.Fatalf("assignment %+v misreports the expert", as)
		}
		if i > 0 {
			prev := res.Assignments[i-1]
			if prev.Application > as.Application || (prev.Application == as.Application && prev.Expert >= as.Expert) {
				tb.Fatalf("assignments not sorted: %s/%s before %s/%s", prev.Application, prev.Expert, as.Application, as.Expert)
			}
		}
		byApp[a.ID] = append(byApp[a.ID], e.ID)
		used[e.ID]++
		total += as.Level
	}
	if total != res.TotalLevel {
		tb.Fatalf("TotalLevel = %d, levels add up to %d", res.TotalLevel, total)
	}
	for _, a := range p.Applications {
		if len(byApp[a.ID]) != n {
			tb.Fatalf("%s has %d experts, want %d", a.ID, len(byApp[a.ID]), n)
		}
	}
	for _, l := range res.Loads {
		if l.Assigned != used[l.Expert] || l.Limit != experts[l.Expert].Load {
			tb.Fatalf("load %+v, but %d assigned", l, used[l.Expert])
		}
	}
	for _, e := range p.Experts {
		if used[e.ID] > e.Load {
			tb.Fatalf("%s reviews %d, above the load %d", e.ID, used[e.ID], e.Load)
		}
	}
	// Optimality, locally: an eligible expert of a higher level than one chosen
	// for a, left out of a, must be at full load, or the swap would score more.
	for _, as := range res.Assignments {
		a := apps[as.Application]
		higher := 0
		for _, h := range p.Experts {
			if h.Expertise[a.TaskType] > as.Level && h.Load > 0 && !slices.Contains(byApp[a.ID], h.ID) && eligible(a, h) {
				higher++
				if used[h.ID] < h.Load {
					tb.Fatalf("%s (level %d) chosen for %s while %s (level %d) has load to spare",
						as.Expert, as.Level, a.ID, h.ID, h.Expertise[a.TaskType])
				}
			}
		}
		if higher != as.HigherLevelFull {
			tb.Fatalf("assignment %s/%s reports %d higher-level experts at full load, found %d", as.Application, as.Expert, as.HigherLevelFull, higher)
		}
	}
	if !full {
		return
	}
	type pair struct{ app, expert string }
	excluded := map[pair][]assign.Reason{}
	for _, x := range res.Exclusions {
		excluded[pair{x.Application, x.Expert}] = x.Reasons
	}
	for _, a := range p.Applications {
		for _, e := range p.Experts {
			rs := assign.Check(a, e)
			if (len(rs) == 0) != eligible(a, e) {
				tb.Fatalf("%s/%s: Check = %v, but the rules say eligible = %v", a.ID, e.ID, rs, eligible(a, e))
			}
			got, listedAsExcluded := excluded[pair{a.ID, e.ID}]
			switch {
			case e.Expertise[a.TaskType] == 0:
				if listedAsExcluded {
					tb.Fatalf("%s/%s: unqualified pair listed among exclusions", a.ID, e.ID)
				}
				if rs[0].Constraint != assign.NoExpertise {
					tb.Fatalf("%s/%s: Check = %v, want no-expertise first", a.ID, e.ID, rs)
				}
				if !slices.ContainsFunc(res.Unqualified, func(u assign.Unqualified) bool { return u.TaskType == a.TaskType && u.Expert == e.ID }) {
					tb.Fatalf("%s has no expertise in %s but is not listed unqualified", e.ID, a.TaskType)
				}
			case len(rs) > 0:
				if !slices.Equal(got, rs) {
					tb.Fatalf("%s/%s: exclusion %v, Check says %v", a.ID, e.ID, got, rs)
				}
			case listedAsExcluded:
				tb.Fatalf("%s/%s: eligible pair listed as excluded", a.ID, e.ID)
			}
		}
	}
}
