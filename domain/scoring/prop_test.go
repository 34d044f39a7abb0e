package scoring_test

import (
	"fmt"
	"math/big"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"keytask/domain/scoring"
)

func rat(p scoring.Points) *big.Rat { return big.NewRat(p.Num(), p.Den()) }

// hundredthsHalfUp rounds a non-negative rational to hundredths, half up.
func hundredthsHalfUp(r *big.Rat) string {
	x := new(big.Rat).Mul(r, big.NewRat(100, 1))
	x.Add(x, big.NewRat(1, 2))
	q := new(big.Int).Quo(x.Num(), x.Denom())
	return fmt.Sprintf("%d.%02d", new(big.Int).Quo(q, big.NewInt(100)), new(big.Int).Rem(q, big.NewInt(100)))
}

func TestPointsProperties(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	parse := func(s string) scoring.Points {
		var p scoring.Points
		if err := p.UnmarshalText([]byte(s)); err != nil {
			t.Fatal(err)
		}
		return p
	}
	draw := func() (scoring.Points, *big.Rat) {
		limit := []int64{10, 1000, 1_000_000, 1_000_000_000_000_000}[r.IntN(4)]
		n, d := r.Int64N(limit+1), 1+r.Int64N(limit)
		return parse(fmt.Sprintf("%d/%d", n, d)), big.NewRat(n, d)
	}
	for range 20000 {
		p, pr := draw()
		q, qr := draw()
		if got, want := p.Cmp(q), pr.Cmp(qr); got != want {
			t.Fatalf("%s Cmp %s = %d, want %d", p.Exact(), q.Exact(), got, want)
		}
		if rat(p).Cmp(pr) != 0 || new(big.Int).GCD(nil, nil, big.NewInt(p.Num()), big.NewInt(p.Den())).Int64() > 1 && p.Num() != 0 {
			t.Fatalf("%s is not %s in lowest terms", p.Exact(), pr)
		}
		if got, want := p.String(), hundredthsHalfUp(pr); got != want {
			t.Fatalf("%s shows as %s, want %s", p.Exact(), got, want)
		}
		b, _ := p.MarshalText()
		if back := parse(string(b)); back != p {
			t.Fatalf("text round trip of %s gives %s", p.Exact(), back.Exact())
		}
	}
	var zero scoring.Points
	if zero.String() != "0.00" || zero.Exact() != "0" || zero.Den() != 1 || zero.Cmp(parse("0/5")) != 0 {
		t.Fatal("the zero value is 0")
	}
	for _, bad := range []string{"", "-1", "1/0", "1/-2", "x", "1/2/3", "1.5", "2000000000000000000"} {
		var p scoring.Points
		if p.UnmarshalText([]byte(bad)) == nil {
			t.Errorf("UnmarshalText(%q) succeeded", bad)
		}
	}
}

var fullMarks = []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 12, 15, 20, 25, 30, 40, 50, 60, 100}

// randomRubric draws a valid rubric of one to six criteria.
func randomRubric(r *rand.Rand) scoring.Rubric {
	for {
		k := 1 + r.IntN(6)
		cuts := []int{0, 100}
		for len(cuts) < k+1 {
			if c := 1 + r.IntN(99); !slices.Contains(cuts, c) {
				cuts = append(cuts, c)
			}
		}
		slices.Sort(cuts)
		rb := scoring.Rubric{TaskType: "random"}
		for i := range k {
			rb.Criteria = append(rb.Criteria, scoring.Criterion{
				Key: fmt.Sprint("c", i), Name: fmt.Sprint("项", i), Weight: cuts[i+1] - cuts[i], Max: fullMarks[r.IntN(len(fullMarks))]})
		}
		if rb.Validate() == nil {
			return rb
		}
	}
}

func randomScores(r *rand.Rand, rb scoring.Rubric) scoring.Scores {
	var s scoring.Scores
	for _, c := range rb.Criteria {
		v := r.IntN(c.Max + 1)
		switch r.IntN(5) { // the edges are where rounding would go wrong
		case 0:
			v = 0
		case 1:
			v = c.Max
		}
		s.Criteria = append(s.Criteria, v)
	}
	return s
}

// totalOracle is Σ weight × score / max, in big rationals.
func totalOracle(rb scoring.Rubric, s scoring.Scores) *big.Rat {
	sum := new(big.Rat)
	for i, c := range rb.Criteria {
		sum.Add(sum, big.NewRat(int64(c.Weight*s.Criteria[i]), int64(c.Max)))
	}
	return sum
}

func TestSummaryProperties(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	hundred := big.NewRat(100, 1)
	for range 3000 {
		rb := randomRubric(r)
		full := scoring.Scores{}
		for _, c := range rb.Criteria {
			full.Criteria = append(full.Criteria, c.Max)
		}
		if got, _ := rb.Total(full); got.Exact() != "100" {
			t.Fatalf("full marks under %+v total %s", rb, got.Exact())
		}
		a := scoring.Application{ID: "A", Submitted: t0}
		var totals []*big.Rat
		for j := range 1 + r.IntN(7) {
			s := randomScores(r, rb)
			got, err := rb.Total(s)
			if err != nil {
				t.Fatal(err)
			}
			want := totalOracle(rb, s)
			if rat(got).Cmp(want) != 0 || want.Sign() < 0 || want.Cmp(hundred) > 0 {
				t.Fatalf("Total(%v) = %s, want %s, within 0..100", s.Criteria, got.Exact(), want)
			}
			// A higher mark never lowers the total.
			if i := r.IntN(len(s.Criteria)); s.Criteria[i] < rb.Criteria[i].Max {
				up := scoring.Scores{Criteria: slices.Clone(s.Criteria)}
				up.Criteria[i]++
				if higher, _ := rb.Total(up); higher.Cmp(got) <= 0 {
					t.Fatalf("raising mark %d of %v does not raise the total", i, s.Criteria)
				}
			}
			a.Reviews = append(a.Reviews, scoring.Review{Expert: fmt.Sprint("E", j), Scores: s})
			totals = append(totals, want)
		}
		threshold := 1 + r.IntN(30)
		sum, err := scoring.Summarize(rb, a, threshold)
		if err != nil {
			t.Fatal(err)
		}
		k := int64(len(totals))
		mean := new(big.Rat)
		for _, x := range totals {
			mean.Add(mean, x)
		}
		mean.Quo(mean, big.NewRat(k, 1))
		slices.SortFunc(totals, func(x, y *big.Rat) int { return x.Cmp(y) })
		median := new(big.Rat).Set(totals[k/2])
		if k%2 == 0 {
			median.Add(totals[k/2-1], totals[k/2]).Quo(median, big.NewRat(2, 1))
		}
		spread := new(big.Rat).Sub(totals[k-1], totals[0])
		outlier := spread.Cmp(big.NewRat(int64(threshold), 1)) > 0
		lead, best := 0, 0
		for i, c := range rb.Criteria {
			if c.Weight > best {
				lead, best = i, c.Weight
			}
		}
		leadSum := int64(0)
		for _, rv := range a.Reviews {
			leadSum += int64(rv.Scores.Criteria[lead])
		}
		if rat(sum.Mean).Cmp(mean) != 0 || rat(sum.Median).Cmp(median) != 0 || rat(sum.Spread).Cmp(spread) != 0 ||
			sum.Outlier != outlier || rat(sum.Lead).Cmp(big.NewRat(leadSum, k)) != 0 || rb.Lead() != lead {
			t.Fatalf("summary %+v; want mean %s median %s spread %s outlier %v lead %d/%d", sum, mean, median, spread, outlier, leadSum, k)
		}
		if (sum.OutlierZh != "") != outlier || !strings.Contains(sum.OutlierZh, fmt.Sprintf("超过阈值 %d 分", threshold)) && outlier {
			t.Fatalf("outlier explanation %q", sum.OutlierZh)
		}
	}
}

// randomBatch draws applications with few distinct marks and submission times,
// so that every tie-break rule gets work. Under the rubric two, whose total is
// the sum of two marks, equal totals from different marks are common.
func randomBatch(r *rand.Rand, rb scoring.Rubric, n int) []scoring.Application {
	palette := make([]scoring.Scores, 1+r.IntN(4))
	for i := range palette {
		palette[i] = randomScores(r, rb)
	}
	if rb.TaskType == two.TaskType {
		palette = palette[:0]
		for a := 50; a <= 53; a++ {
			for b := 30; b <= 33; b++ {
				palette = append(palette, scoring.Scores{Criteria: []int{a, b}})
			}
		}
	}
	var apps []scoring.Application
	for i := range n {
		a := scoring.Application{ID: fmt.Sprintf("A-%02d", i), Submitted: t0.Add(time.Duration(r.IntN(3)) * time.Hour)}
		for j := range 1 + r.IntN(5) {
			a.Reviews = append(a.Reviews, scoring.Review{Expert: fmt.Sprint("E", j), Scores: palette[r.IntN(len(palette))]})
		}
		apps = append(apps, a)
	}
	return apps
}

// ruleOracle says which rule orders x before y, in big rationals and from the
// raw marks, sharing nothing with the package but Total.
func ruleOracle(t *testing.T, rb scoring.Rubric, x, y scoring.Application) (scoring.Rule, bool) {
	t.Helper()
	stats := func(a scoring.Application) (mean, median, lead *big.Rat) {
		var totals []*big.Rat
		lead, mean = new(big.Rat), new(big.Rat)
		li := rb.Lead()
		for _, rv := range a.Reviews {
			tot := totalOracle(rb, rv.Scores)
			totals = append(totals, tot)
			mean.Add(mean, tot)
			lead.Add(lead, big.NewRat(int64(rv.Scores.Criteria[li]), 1))
		}
		k := big.NewRat(int64(len(totals)), 1)
		mean.Quo(mean, k)
		lead.Quo(lead, k)
		slices.SortFunc(totals, func(p, q *big.Rat) int { return p.Cmp(q) })
		median = new(big.Rat).Set(totals[len(totals)/2])
		if len(totals)%2 == 0 {
			median.Add(totals[len(totals)/2-1], totals[len(totals)/2]).Quo(median, big.NewRat(2, 1))
		}
		return mean, median, lead
	}
	xm, xd, xl := stats(x)
	ym, yd, yl := stats(y)
	switch {
	case xm.Cmp(ym) != 0:
		return scoring.RuleMean, xm.Cmp(ym) > 0
	case xd.Cmp(yd) != 0:
		return scoring.RuleMedian, xd.Cmp(yd) > 0
	case xl.Cmp(yl) != 0:
		return scoring.RuleLead, xl.Cmp(yl) > 0
	case !x.Submitted.Equal(y.Submitted):
		return scoring.RuleSubmitted, x.Submitted.Before(y.Submitted)
	}
	return scoring.RuleID, x.ID < y.ID
}

func TestRankProperties(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	decided := map[scoring.Rule]int{}
	for i := range 1000 {
		rb := two
		if i%2 == 0 {
			rb = randomRubric(r)
		}
		apps := randomBatch(r, rb, 1+r.IntN(25))
		o := scoring.Options{Quota: r.IntN(len(apps) + 2), OutlierThreshold: 1 + r.IntN(20)}
		rk, err := scoring.Rank(rb, apps, o)
		if err != nil {
			t.Fatal(err)
		}
		byID := map[string]scoring.Application{}
		for _, a := range apps {
			byID[a.ID] = a
		}
		if len(rk.Entries) != len(apps) {
			t.Fatalf("%d entries for %d applications", len(rk.Entries), len(apps))
		}
		for i, e := range rk.Entries {
			if e.Rank != i+1 || e.Selected != (i < o.Quota) {
				t.Fatalf("#%d: rank %d selected %v with quota %d", i+1, e.Rank, e.Selected, o.Quota)
			}
			if i == 0 {
				continue
			}
			rule, before := ruleOracle(t, rb, byID[rk.Entries[i-1].Application], byID[e.Application])
			if !before || rule != e.DecidedBy {
				t.Fatalf("#%d %s after %s decided by %s; the rules say %s (in order: %v)", i+1, e.Application, rk.Entries[i-1].Application, e.DecidedBy, rule, before)
			}
			decided[rule]++
		}
		if q := o.Quota; q > 0 && q < len(apps) {
			if rk.Cut == nil || rk.Cut.LastIn != rk.Entries[q-1].Application || rk.Cut.FirstOut != rk.Entries[q].Application || rk.Cut.DecidedBy != rk.Entries[q].DecidedBy {
				t.Fatalf("cut %+v at quota %d", rk.Cut, q)
			}
		} else if rk.Cut != nil {
			t.Fatalf("cut %+v with quota %d of %d", rk.Cut, q, len(apps))
		}
		// The same batch in another order, reviews shuffled too, ranks the same.
		again := slices.Clone(apps)
		r.Shuffle(len(again), func(i, j int) { again[i], again[j] = again[j], again[i] })
		for i := range again {
			again[i].Reviews = slices.Clone(again[i].Reviews)
			r.Shuffle(len(again[i].Reviews), func(x, y int) { again[i].Reviews[x], again[i].Reviews[y] = again[i].Reviews[y], again[i].Reviews[x] })
		}
		if rk2, _ := scoring.Rank(rb, again, o); !reflect.DeepEqual(rk, rk2) {
			t.Fatal("the same batch in another order ranks differently")
		}
	}
	t.Logf("pairs decided by each rule: %v", decided)
	for _, rule := range scoring.Rules() {
		if decided[rule] < 20 {
			t.Fatalf("rule %s decided only %d pairs: the generator no longer exercises it (%v)", rule, decided[rule], decided)
		}
	}
}
