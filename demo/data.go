// Package demo drives a whole first round of keytask through its HTTP API, as
// the ministry, the provinces, the schools, the experts and the public would:
// the plan batch, liaisons, an intent round, then every selection batch of the
// plan from recommendation to publication. The data is synthetic but shaped
// like the real thing and deterministic for a seed. `keytask demo` runs it
// against a platform it brings up in-process.
package demo

import (
	"bytes"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"maps"
	"math/rand/v2"
	"slices"
	"time"

	"keytask/domain/identity"
	"keytask/domain/intent"
	"keytask/domain/selection"
	"keytask/reference"
)

// Scale is how big a round the demo runs.
type Scale struct {
	Name string
	// Provinces are the provinces that have schools and applications. Every
	// province still takes part in the intent round.
	Provinces    []string
	Schools      int
	Applications int
	Experts      int
	// IntentWindow is how long the intent round stays open: the round closes at
	// its deadline in real time before the ministry may file it.
	IntentWindow time.Duration
	// ReachNotice is the time allowed from opening the selection batches to
	// their public notices; with the holiday calendar's last covered day it
	// sets how fast the batches' clock runs (see Factor).
	ReachNotice time.Duration
	// A yearly performance collection's reports are due CollectionWindow plus
	// CollectionPerReport per report after it opens, and it closes
	// CollectionClose after that. The window is tight on purpose: while
	// schools are still reporting near the deadline, the ministry extends it.
	CollectionWindow, CollectionPerReport, CollectionClose time.Duration
	Seed                                                   uint64
}

// Scales are the named scales of `keytask demo --scale`.
var Scales = map[string]Scale{
	"national": {Name: "national", Provinces: slices.Sorted(maps.Keys(identity.Provinces)), Schools: 2500,
		Applications: 6000, Experts: 1000, IntentWindow: 15 * time.Second, ReachNotice: 4 * time.Minute,
		CollectionWindow: 20 * time.Second, CollectionPerReport: 10 * time.Millisecond, CollectionClose: 10 * time.Second, Seed: 2022},
	// Two provinces' worth: one large, one small.
	"small": {Name: "small", Provinces: []string{"44", "63"}, Schools: 30, Applications: 90, Experts: 30,
		IntentWindow: 20 * time.Second, ReachNotice: 2 * time.Minute,
		CollectionWindow: 6 * time.Second, CollectionPerReport: 100 * time.Millisecond, CollectionClose: 5 * time.Second, Seed: 2022},
}

// schoolWeight is a plausible relative number of technical schools (技工院校)
// per province: many in the populous industrial provinces, few in the west. It
// shapes the synthetic data; it is not an official statistic.
var schoolWeight = map[string]int{
	"11": 30, "12": 40, "13": 170, "14": 110, "15": 50,
	"21": 90, "22": 50, "23": 60,
	"31": 30, "32": 130, "33": 90, "34": 120, "35": 80, "36": 100, "37": 200,
	"41": 280, "42": 110, "43": 110, "44": 160, "45": 80, "46": 15,
	"50": 60, "51": 140, "52": 60, "53": 80, "54": 3,
	"61": 80, "62": 60, "63": 10, "64": 12, "65": 50,
	"66": 8,
}

// minSchools per province with schools: an alliance needs two member schools
// besides room for a lead.
const minSchools = 3

// recommendShare is the part of its applications a province recommends, and
// selectShare the part of the recommended the ministry selects nationally
// (capped by the plan's target).
const (
	recommendShare = 0.4
	selectShare    = 0.625
)

// School is one synthetic technical school.
type School struct {
	ID       string // organisation id, e.g. S44-0007
	User     string // its user id
	Province string
	Name     string
}

// Application is one planned application.
type Application struct {
	Key      string // idempotency key of its creation
	Item     string
	TaskType string
	Province string
	School   string   // the applicant, or the lead school of a province's filing
	Members  []string // an alliance's member schools (province filings)
	ByProv   bool     // filed by the province
	Title    string
	Seq      int // within its batch and province, from 0
}

// Expert is one synthetic expert.
type Expert struct {
	ID        string
	Province  string // empty for national bodies
	Expertise map[string]int
}

// Batch is one selection batch of the plan: one per selection task item.
type Batch struct {
	ID       string
	Item     intent.TaskItem
	Quota    int
	Quotas   map[string]int // per province: its intent quantity and recommendation quota
	Apps     []*Application
	Province map[string][]*Application
}

// Data is a whole synthetic round.
type Data struct {
	Scale     Scale
	PlanID    string
	Items     []intent.TaskItem
	Provinces []string // every province (all take part in the intent round)
	Schools   []School
	ByProv    map[string][]School
	Experts   []Expert
	Batches   []*Batch
}

// Generate builds the round's data from the scale, deterministically.
func Generate(sc Scale) (*Data, error) {
	items, err := intent.ParseTaskItemsCSV(bytes.NewReader(reference.KeyTasks2022Batch1))
	if err != nil {
		return nil, fmt.Errorf("reference task items: %w", err)
	}
	for _, p := range sc.Provinces {
		if _, ok := schoolWeight[p]; !ok {
			return nil, fmt.Errorf("no such province %q", p)
		}
	}
	if sc.Schools < minSchools*len(sc.Provinces) {
		return nil, fmt.Errorf("%d schools is too few for %d provinces", sc.Schools, len(sc.Provinces))
	}
	rng := rand.New(rand.NewPCG(sc.Seed, 0x6b6579))
	d := &Data{Scale: sc, PlanID: "2022-1", Items: items, Provinces: slices.Sorted(maps.Keys(identity.Provinces)),
		ByProv: map[string][]School{}}

	// Schools, spread by weight with at least minSchools each.
	weights := map[string]int{}
	for _, p := range sc.Provinces {
		weights[p] = schoolWeight[p]
	}
	counts := apportion(sc.Schools-minSchools*len(sc.Provinces), weights)
	for _, p := range sc.Provinces {
		for k := range counts[p] + minSchools {
			s := School{ID: fmt.Sprintf("S%s-%04d", p, k+1), User: fmt.Sprintf("sch-%s-%04d", p, k+1), Province: p}
			s.Name = fmt.Sprintf("%s第%d技工学校", identity.Provinces[p], k+1)
			if k%5 == 0 {
				s.Name = fmt.Sprintf("%s第%d技师学院", identity.Provinces[p], k/5+1)
			}
			d.Schools = append(d.Schools, s)
			d.ByProv[p] = append(d.ByProv[p], s)
		}
	}

	// Applications per selection item in proportion to its target, then per
	// province in proportion to its schools.
	var sel []intent.TaskItem
	targets := map[string]int{}
	for _, it := range items {
		if it.Kind != intent.KindSelection {
			continue
		}
		if _, ok := selection.Schemas[it.Code]; !ok {
			continue
		}
		sel = append(sel, it)
		targets[it.Item] = int(it.Target)
	}
	perItem := apportion(sc.Applications, targets)
	schoolCounts := map[string]int{}
	for p, ss := range d.ByProv {
		schoolCounts[p] = len(ss)
	}
	for _, it := range sel {
		b := &Batch{ID: BatchID(d.PlanID, it.Code), Item: it, Quotas: map[string]int{}, Province: map[string][]*Application{}}
		schema := selection.Schemas[it.Code]
		perProv := apportion(perItem[it.Item], schoolCounts)
		recommended := 0
		for _, p := range sc.Provinces {
			// A school applies at most once per batch: no more applications
			// in a province than it has schools.
			ss := d.ByProv[p]
			n := min(perProv[p], len(ss))
			if n == 0 {
				continue
			}
			for k := range n {
				li := (k + 7*len(it.Code)) % len(ss)
				lead := ss[li]
				a := &Application{Key: fmt.Sprintf("demo-%s-%s-%d", it.Code, p, k), Item: it.Item, TaskType: it.Code,
					Province: p, School: lead.ID, Seq: k}
				if schema.ProvinceMayFile && it.Code == "LMJT" {
					a.ByProv = true
					for m := 1; m <= 1+rng.IntN(min(4, len(ss)-1)); m++ {
						a.Members = append(a.Members, ss[(li+m)%len(ss)].ID)
					}
					a.Title = fmt.Sprintf("%s%s技工教育联盟（第%d）", identity.Provinces[p], lead.Name, k+1)
				} else {
					a.Title = fmt.Sprintf("%s申报%s（%d）", lead.Name, schema.Name, k+1)
				}
				b.Apps = append(b.Apps, a)
				b.Province[p] = append(b.Province[p], a)
			}
			q := max(1, int(float64(n)*recommendShare+0.5))
			b.Quotas[p] = q
			recommended += q
		}
		b.Quota = max(1, min(int(it.Target), int(float64(recommended)*selectShare)))
		d.Batches = append(d.Batches, b)
	}

	// Experts: from the provinces in proportion to their schools (a tenth from
	// national bodies), each versed in two task types.
	var types []string
	for _, it := range sel {
		types = append(types, it.Code)
	}
	allWeights := map[string]int{"": 0}
	total := 0
	for p, w := range schoolWeight {
		allWeights[p] = w
		total += w
	}
	allWeights[""] = total / 9
	expertProv := apportion(sc.Experts, allWeights)
	var pool []string
	for _, p := range slices.Sorted(maps.Keys(expertProv)) {
		for range expertProv[p] {
			pool = append(pool, p)
		}
	}
	rng.Shuffle(len(pool), func(i, j int) { pool[i], pool[j] = pool[j], pool[i] })
	for i, p := range pool {
		e := Expert{ID: fmt.Sprintf("expert-%04d", i+1), Province: p, Expertise: map[string]int{}}
		e.Expertise[types[i%len(types)]] = 1 + rng.IntN(3)
		e.Expertise[types[(i+1+(i/len(types))%(len(types)-1))%len(types)]] = 1 + rng.IntN(3)
		d.Experts = append(d.Experts, e)
	}
	return d, nil
}

// BatchID names the selection batch of a plan's task type.
func BatchID(plan, code string) string {
	return fmt.Sprintf("%s-%s", plan, lower(code))
}

func lower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// apportion splits n in proportion to the weights by largest remainders, ties
// to the smaller key, so that the parts always add up to n.
func apportion(n int, weights map[string]int) map[string]int {
	out := map[string]int{}
	total := 0
	for _, w := range weights {
		total += w
	}
	if total == 0 || n <= 0 {
		return out
	}
	keys := slices.Sorted(maps.Keys(weights))
	rem := make(map[string]int, len(keys))
	given := 0
	for _, k := range keys {
		out[k] = n * weights[k] / total
		rem[k] = n * weights[k] % total
		given += out[k]
	}
	slices.SortStableFunc(keys, func(a, b string) int { return rem[b] - rem[a] })
	for i := 0; given < n; i++ {
		out[keys[i%len(keys)]]++
		given++
	}
	return out
}

// Fields are an application's form fields as a client would send them.
func (a *Application) Fields(d *Data) map[string]any {
	h := hash(a.Key)
	name := a.schoolName(d)
	switch a.TaskType {
	case "SZJD":
		return map[string]any{"school_name": name, "base_name": name + "思政课师资研修基地",
			"ideology_teachers": 10 + h%40, "trainees_per_year": 200 + h%2000}
	case "YZYX":
		return map[string]any{"school_name": name, "founding_year": 1950 + h%60, "enrolment": 2000 + h%12000,
			"teachers": 120 + h%600, "key_majors": "数控加工、工业机器人应用与维护、电气自动化设备安装与维修"}
	case "YZZY":
		majors := []string{"数控加工", "汽车维修", "电气自动化设备安装与维修", "工业机器人应用与维护", "烹饪（中式烹调）", "计算机网络应用"}
		return map[string]any{"school_name": name, "major_name": majors[h%uint64(len(majors))],
			"major_code": fmt.Sprintf("%04d-%d", 100+h%900, 1+h%4), "years": 5 + h%30, "students": 100 + h%900}
	case "LMJT":
		return map[string]any{"alliance_name": a.Title, "members": append([]string{a.School}, a.Members...),
			"lead_school": a.School, "enterprises": 5 + h%60}
	case "SZZY":
		return map[string]any{"school_name": name, "digital_resources": 50 + h%3000,
			"platform_url": fmt.Sprintf("https://edu.example.cn/%s", lower(a.School))}
	case "JPKC":
		return map[string]any{"course_name": fmt.Sprintf("%s精品在线课程%d", name, a.Seq+1),
			"platform_url": fmt.Sprintf("https://course.example.cn/%s/%d", lower(a.School), a.Seq+1), "hours": 16 + h%64}
	}
	return map[string]any{}
}

func (a *Application) schoolName(d *Data) string {
	for _, s := range d.ByProv[a.Province] {
		if s.ID == a.School {
			return s.Name
		}
	}
	return a.School
}

func hash(s string) uint64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte(s))
	return h.Sum64()
}

// Marks is an expert's score sheet for an application: deterministic, spread
// over the rubric's range.
func Marks(app, expert string, r []int) []int {
	x := hash(app + "/" + expert)
	out := make([]int, len(r))
	for i, m := range r {
		lo := m / 2
		out[i] = lo + int((x>>(8*uint(i)))%uint64(m-lo+1))
	}
	return out
}

// IntentForm is a province's undertaking intent: every selection item it will
// recommend for, with the quantity it will recommend, some development items,
// and funding in 万元 with up to four decimals.
func (d *Data) IntentForm(province string) intent.FormInput {
	rng := rand.New(rand.NewPCG(d.Scale.Seed, hash(province)))
	quotas := map[string]int{}
	for _, b := range d.Batches {
		if q := b.Quotas[province]; q > 0 {
			quotas[b.Item.Item] = q
		}
	}
	var in intent.FormInput
	for _, it := range d.Items {
		q, ok := quotas[it.Item]
		switch {
		case it.Kind == intent.KindSelection && !ok:
			continue
		case it.Kind != intent.KindSelection && (len(quotas) == 0 || rng.IntN(2) == 0):
			continue
		}
		line := intent.LineInput{Item: it.Item, Undertake: json.RawMessage(`true`), Funds: map[string]json.RawMessage{}}
		if it.Kind != intent.KindSelection {
			q = 1 + rng.IntN(3) // standards or textbooks to write
		}
		line.Quantity = json.RawMessage(fmt.Sprint(q))
		for _, s := range intent.Sources {
			if rng.IntN(3) == 0 {
				continue
			}
			line.Funds[string(s)] = json.RawMessage(fmt.Sprintf(`"%d.%04d"`, 10+rng.IntN(3000), rng.IntN(10000)))
		}
		in.Lines = append(in.Lines, line)
	}
	return in
}
