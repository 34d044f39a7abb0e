package assign_test

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"keytask/domain/assign"
)

// national draws a batch shaped like a national round: 8 task types, the 32
// provincial units, 1,500 schools, 30 alliances; each expert qualified in one to
// three task types, with a few declared conflicts and a load of 20 to 30.
func national(seed uint64, apps, experts int) assign.Problem {
	r := rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))
	const types, provinces, schools, alliances = 8, 32, 1500, 30
	schoolProvince := make([]int, schools)
	for s := range schoolProvince {
		schoolProvince[s] = r.IntN(provinces)
	}
	some := func(n, max int, format string) []string {
		var ids []string
		for range r.IntN(max + 1) {
			ids = append(ids, fmt.Sprintf(format, r.IntN(n)))
		}
		return ids
	}
	p := assign.Problem{PerApplication: 3}
	for i := range apps {
		s := r.IntN(schools)
		p.Applications = append(p.Applications, assign.Application{
			ID:        fmt.Sprintf("A-%05d", i),
			TaskType:  fmt.Sprintf("T%d", r.IntN(types)),
			School:    fmt.Sprintf("S-%04d", s),
			Province:  fmt.Sprintf("P%02d", schoolProvince[s]),
			Alliances: some(alliances, 2, "L-%02d"),
		})
	}
	for k := range experts {
		e := assign.Expert{
			ID:                   fmt.Sprintf("E-%04d", k),
			Expertise:            map[string]int{},
			Province:             fmt.Sprintf("P%02d", r.IntN(provinces)),
			Alliances:            some(alliances, 2, "L-%02d"),
			ConflictSchools:      some(schools, 3, "S-%04d"),
			ConflictApplications: some(apps, 2, "A-%05d"),
			Load:                 20 + r.IntN(11),
		}
		if r.IntN(2) == 0 {
			s := r.IntN(schools)
			e.Employer, e.Province = fmt.Sprintf("S-%04d", s), fmt.Sprintf("P%02d", schoolProvince[s])
		}
		for range 1 + r.IntN(3) {
			e.Expertise[fmt.Sprintf("T%d", r.IntN(types))] = 1 + r.IntN(assign.MaxLevel)
		}
		p.Experts = append(p.Experts, e)
	}
	return p
}

// BenchmarkAssignNational solves a national round: 6,000 applications, 1,000
// experts, 3 experts each.
func BenchmarkAssignNational(b *testing.B) {
	p := national(1, 6000, 1000)
	for b.Loop() {
		if _, err := assign.Assign(p); err != nil {
			b.Fatal(err)
		}
	}
}

func TestNational(t *testing.T) {
	if testing.Short() {
		t.Skip("national batch takes seconds")
	}
	p := national(1, 6000, 1000)
	start := time.Now()
	res, err := assign.Assign(p)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("solved %d applications x %d experts in %s: total level %d, %d exclusions",
		len(p.Applications), len(p.Experts), time.Since(start), res.TotalLevel, len(res.Exclusions))
	verify(t, p, res, false)
	again, err := assign.Assign(shuffled(rand.New(rand.NewPCG(7, 8)), p))
	if err != nil || !reflect.DeepEqual(again, res) {
		t.Fatalf("the same batch in another order gives another result (%v)", err)
	}
}
