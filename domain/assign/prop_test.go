package assign_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"

	"keytask/domain/assign"
)

// shape bounds a random problem.
type shape struct {
	apps, experts, types, provinces, schools, alliances, maxLoad, maxN int
}

// random draws a problem in which every kind of conflict is likely.
func random(r *rand.Rand, s shape) assign.Problem {
	pick := func(prefix string, n int) string { return fmt.Sprintf("%s%d", prefix, r.IntN(n)) }
	subset := func(prefix string, n int, prob float64) []string {
		var ids []string
		for i := range n {
			if r.Float64() < prob {
				ids = append(ids, fmt.Sprintf("%s%d", prefix, i))
			}
		}
		return ids
	}
	p := assign.Problem{PerApplication: 1 + r.IntN(s.maxN)}
	na := 1 + r.IntN(s.apps)
	for i := range na {
		p.Applications = append(p.Applications, assign.Application{
			ID: fmt.Sprintf("A%d", i), TaskType: pick("T", s.types), School: pick("S", s.schools),
			Province: pick("P", s.provinces), Alliances: subset("L", s.alliances, 0.25),
		})
	}
	for k := range 1 + r.IntN(s.experts) {
		e := assign.Expert{ID: fmt.Sprintf("E%d", k), Expertise: map[string]int{}, Load: r.IntN(s.maxLoad + 1),
			Alliances: subset("L", s.alliances, 0.2), ConflictSchools: subset("S", s.schools, 0.1),
			ConflictApplications: subset("A", na, 0.1)}
		for t := range s.types {
			if lvl := r.IntN(assign.MaxLevel + 2); lvl <= assign.MaxLevel { // sometimes absent
				e.Expertise[fmt.Sprintf("T%d", t)] = lvl
			}
		}
		if r.IntN(5) > 0 {
			e.Province = pick("P", s.provinces)
		}
		if r.IntN(3) == 0 {
			e.Employer = pick("S", s.schools)
		}
		p.Experts = append(p.Experts, e)
	}
	return p
}

// bruteForce tries every way to give each application n eligible experts and
// returns the greatest total level, or false when there is none.
func bruteForce(p assign.Problem) (int, bool) {
	n := p.PerApplication
	var choices [][][]int // per application, every n-subset of eligible experts
	for _, a := range p.Applications {
		var candidates []int
		for k, e := range p.Experts {
			if e.Load > 0 && eligible(a, e) {
				candidates = append(candidates, k)
			}
		}
		var subsets [][]int
		var comb func(start int, cur []int)
		comb = func(start int, cur []int) {
			if len(cur) == n {
				subsets = append(subsets, slices.Clone(cur))
				return
			}
			for i := start; i < len(candidates); i++ {
				comb(i+1, append(cur, candidates[i]))
			}
		}
		comb(0, nil)
		choices = append(choices, subsets)
	}
	used := make([]int, len(p.Experts))
	best, found := -1, false
	var search func(i, total int)
	search = func(i, total int) {
		if i == len(p.Applications) {
			best, found = max(best, total), true
			return
		}
		tt := p.Applications[i].TaskType
		for _, set := range choices[i] {
			ok := true
			for _, k := range set {
				ok = ok && used[k] < p.Experts[k].Load
			}
			if !ok {
				continue
			}
			sum := 0
			for _, k := range set {
				used[k]++
				sum += p.Experts[k].Expertise[tt]
			}
			search(i+1, total+sum)
			for _, k := range set {
				used[k]--
			}
		}
	}
	search(0, 0)
	return best, found
}

func TestAgainstBruteForce(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	s := shape{apps: 4, experts: 8, types: 2, provinces: 3, schools: 5, alliances: 3, maxLoad: 4, maxN: 3}
	feasible := 0
	for i := range 6000 {
		p := random(r, s)
		best, ok := bruteForce(p)
		res, err := assign.Assign(p)
		if !ok {
			var ie *assign.InfeasibleError
			if !errors.As(err, &ie) {
				t.Fatalf("instance %d: no assignment exists, Assign returned %v, %v\n%+v", i, res, err, p)
			}
			checkInfeasible(t, p, ie)
			continue
		}
		if err != nil {
			t.Fatalf("instance %d: an assignment of level %d exists, Assign failed: %v\n%+v", i, best, err, p)
		}
		if res.TotalLevel != best {
			t.Fatalf("instance %d: total level %d, the optimum is %d\n%+v", i, res.TotalLevel, best, p)
		}
		verify(t, p, res, true)
		feasible++
	}
	t.Logf("%d feasible instances of 6000", feasible)
	if feasible < 800 || feasible > 5000 {
		t.Fatalf("%d feasible instances of 6000: the generator no longer exercises both outcomes", feasible)
	}
}

// checkInfeasible checks what an infeasibility error claims.
func checkInfeasible(tb testing.TB, p assign.Problem, ie *assign.InfeasibleError) {
	tb.Helper()
	if len(ie.Message) == 0 || ie.Need <= ie.Available {
		tb.Fatalf("infeasible error %+v claims no shortfall", ie)
	}
	switch ie.Constraint {
	case assign.TooFewEligible:
		for _, s := range ie.Shortages {
			i := slices.IndexFunc(p.Applications, func(a assign.Application) bool { return a.ID == s.Application })
			count := 0
			for _, e := range p.Experts {
				if e.Load > 0 && eligible(p.Applications[i], e) {
					count++
				}
			}
			if count != s.Eligible || count >= p.PerApplication || s.Field != fmt.Sprintf("applications[%d]", i) {
				tb.Fatalf("shortage %+v, but %d eligible", s, count)
			}
		}
	case assign.TotalLoad:
		sum := 0
		for _, e := range p.Experts {
			sum += e.Load
		}
		if sum != ie.Available || ie.Need != p.PerApplication*len(p.Applications) {
			tb.Fatalf("total load error %+v, loads add up to %d", ie, sum)
		}
	case assign.LoadLimit:
		if len(ie.Applications) == 0 || ie.Need != p.PerApplication*len(ie.Applications) || !slices.IsSorted(ie.Applications) {
			tb.Fatalf("load limit error %+v", ie)
		}
	default:
		tb.Fatalf("unexpected constraint %s", ie.Constraint)
	}
}

// TestOptimalityCertificate checks medium instances, too big for brute force,
// with the textbook certificate: a flow of fixed value is of least cost exactly
// when its residual network has no negative cycle. Bellman-Ford here shares no
// code with the solver.
func TestOptimalityCertificate(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 22))
	s := shape{apps: 60, experts: 40, types: 3, provinces: 5, schools: 15, alliances: 4, maxLoad: 8, maxN: 4}
	feasible := 0
	for i := range 300 {
		p := random(r, s)
		res, err := assign.Assign(p)
		var ie *assign.InfeasibleError
		if errors.As(err, &ie) {
			checkInfeasible(t, p, ie)
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		verify(t, p, res, true)
		if cycle := negativeCycle(p, res); cycle {
			t.Fatalf("instance %d: the residual network has a negative cycle: the assignment is not optimal\n%+v", i, p)
		}
		feasible++
	}
	t.Logf("%d feasible instances of 300", feasible)
	if feasible < 50 || feasible > 250 {
		t.Fatalf("%d feasible instances of 300: the generator no longer exercises both outcomes", feasible)
	}
}

func negativeCycle(p assign.Problem, res *assign.Result) bool {
	// Nodes: applications, experts, then the sink. The source is left out: every
	// application is saturated, so no residual cycle passes through it.
	na, ne := len(p.Applications), len(p.Experts)
	sink := na + ne
	type edge struct{ u, v, c int }
	var edges []edge
	assigned := map[[2]string]bool{}
	used := map[string]int{}
	for _, as := range res.Assignments {
		assigned[[2]string{as.Application, as.Expert}] = true
		used[as.Expert]++
	}
	for i, a := range p.Applications {
		for k, e := range p.Experts {
			if e.Load == 0 || !eligible(a, e) {
				continue
			}
			lvl := e.Expertise[a.TaskType]
			if assigned[[2]string{a.ID, e.ID}] {
				edges = append(edges, edge{na + k, i, lvl}) // take the review back
			} else {
				edges = append(edges, edge{i, na + k, -lvl}) // give it instead
			}
		}
	}
	for k, e := range p.Experts {
		if used[e.ID] < e.Load {
			edges = append(edges, edge{na + k, sink, 0})
		}
		if used[e.ID] > 0 {
			edges = append(edges, edge{sink, na + k, 0})
		}
	}
	dist := make([]int, sink+1) // all zero: a virtual source reaching every node
	for range sink + 1 {
		changed := false
		for _, e := range edges {
			if dist[e.u]+e.c < dist[e.v] {
				dist[e.v] = dist[e.u] + e.c
				changed = true
			}
		}
		if !changed {
			return false
		}
	}
	return true
}

// shuffled returns a deep copy of p with every list in a new order.
func shuffled(r *rand.Rand, p assign.Problem) assign.Problem {
	perm := func(s []string) []string {
		if s == nil {
			return nil
		}
		c := slices.Clone(s)
		r.Shuffle(len(c), func(i, j int) { c[i], c[j] = c[j], c[i] })
		return c
	}
	q := assign.Problem{PerApplication: p.PerApplication}
	for _, a := range p.Applications {
		a.Alliances = perm(a.Alliances)
		q.Applications = append(q.Applications, a)
	}
	for _, e := range p.Experts {
		lv := map[string]int{}
		for k, v := range e.Expertise {
			lv[k] = v
		}
		e.Expertise = lv
		e.Alliances, e.ConflictApplications, e.ConflictSchools = perm(e.Alliances), perm(e.ConflictApplications), perm(e.ConflictSchools)
		q.Experts = append(q.Experts, e)
	}
	r.Shuffle(len(q.Applications), func(i, j int) { q.Applications[i], q.Applications[j] = q.Applications[j], q.Applications[i] })
	r.Shuffle(len(q.Experts), func(i, j int) { q.Experts[i], q.Experts[j] = q.Experts[j], q.Experts[i] })
	return q
}

func TestDeterminism(t *testing.T) {
	r := rand.New(rand.NewPCG(31, 32))
	s := shape{apps: 60, experts: 40, types: 3, provinces: 5, schools: 15, alliances: 4, maxLoad: 8, maxN: 4}
	for i := range 200 {
		p := random(r, s)
		want, wantErr := assign.Assign(p)
		for range 3 {
			got, err := assign.Assign(shuffled(r, p))
			if !sameError(err, wantErr) {
				t.Fatalf("instance %d: errors differ after shuffling: %v vs %v", i, err, wantErr)
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("instance %d: results differ after shuffling", i)
			}
		}
	}
}

// sameError compares what a user sees; field indexes follow the caller's order.
func sameError(a, b error) bool {
	var x, y *assign.InfeasibleError
	if errors.As(a, &x) != errors.As(b, &y) {
		return false
	}
	if x == nil {
		return (a == nil) == (b == nil)
	}
	return x.Constraint == y.Constraint && x.Message == y.Message && slices.Equal(x.Applications, y.Applications) &&
		x.Need == y.Need && x.Available == y.Available
}
