package demo

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"keytask/domain/calendar"
	"keytask/domain/intent"
	"keytask/domain/selection"
	"keytask/workflows"
)

func TestGenerateNational(t *testing.T) {
	d, err := Generate(Scales["national"])
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Provinces) != 32 || len(d.ByProv) != 32 || len(d.Schools) != 2500 || len(d.Experts) != 1000 {
		t.Fatalf("%d provinces, %d with schools, %d schools, %d experts", len(d.Provinces), len(d.ByProv), len(d.Schools), len(d.Experts))
	}
	if n := countApps(d); n != 6000 {
		t.Fatalf("%d applications", n)
	}
	// As uneven as real provinces: the largest has many times the smallest.
	lo, hi := len(d.Schools), 0
	for _, ss := range d.ByProv {
		lo, hi = min(lo, len(ss)), max(hi, len(ss))
	}
	if lo < minSchools || hi < 20*lo {
		t.Fatalf("schools per province range %d..%d", lo, hi)
	}
	if len(d.Batches) != 6 {
		t.Fatalf("%d selection batches, want one per selection item of the plan", len(d.Batches))
	}
	for _, b := range d.Batches {
		rec := 0
		for p, q := range b.Quotas {
			if q < 1 || q > len(b.Province[p]) {
				t.Errorf("%s: %s may recommend %d of its %d applications", b.ID, p, q, len(b.Province[p]))
			}
			rec += q
		}
		if b.Quota < 1 || int64(b.Quota) > b.Item.Target || b.Quota >= rec {
			t.Errorf("%s: quota %d with %d recommended, target %d", b.ID, b.Quota, rec, b.Item.Target)
		}
		schema := selection.Schemas[b.Item.Code]
		for _, a := range b.Apps {
			raw := map[string]json.RawMessage{}
			for k, v := range a.Fields(d) {
				raw[k], _ = json.Marshal(v)
			}
			fs, err := schema.ParseFields(raw)
			if err != nil {
				t.Fatalf("%s: %v", a.Key, err)
			}
			if err := schema.Complete(fs, a.School); err != nil {
				t.Fatalf("%s: incomplete: %v", a.Key, err)
			}
		}
		// Every application can be staffed: enough experts know the task.
		versed := 0
		for _, e := range d.Experts {
			if e.Expertise[b.Item.Code] > 0 {
				versed++
			}
		}
		if versed < 3*10 {
			t.Errorf("%s: only %d experts know the task", b.ID, versed)
		}
	}
	for _, e := range d.Experts {
		if len(e.Expertise) != 2 {
			t.Fatalf("%s knows %v", e.ID, e.Expertise)
		}
	}
	for _, p := range d.Provinces {
		if _, err := intent.Validate(d.Items, d.IntentForm(p)); err != nil {
			t.Fatalf("intent form of %s: %v", p, err)
		}
	}
	again, err := Generate(Scales["national"])
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(d, again) {
		t.Fatal("two generations from the same seed differ")
	}
}

func TestGenerateSmall(t *testing.T) {
	d, err := Generate(Scales["small"])
	if err != nil {
		t.Fatal(err)
	}
	if len(d.ByProv) != 2 || len(d.Provinces) != 32 {
		t.Fatalf("%d provinces with schools of %d", len(d.ByProv), len(d.Provinces))
	}
	for _, p := range d.Provinces {
		f := d.IntentForm(p)
		if _, with := d.ByProv[p]; !with && len(f.Lines) != 0 {
			t.Fatalf("%s has no schools but undertakes %d items", p, len(f.Lines))
		}
		if _, err := intent.Validate(d.Items, f); err != nil {
			t.Fatalf("intent form of %s: %v", p, err)
		}
	}
}

func TestGenerateRefusesTooFewSchools(t *testing.T) {
	sc := Scales["national"]
	sc.Schools = 10
	if _, err := Generate(sc); err == nil {
		t.Fatal("10 schools for 32 provinces accepted")
	}
}

func TestApportion(t *testing.T) {
	got := apportion(10, map[string]int{"a": 1, "b": 1, "c": 1})
	if got["a"]+got["b"]+got["c"] != 10 || got["a"] != 4 || got["b"] != 3 || got["c"] != 3 {
		t.Fatalf("10 over three equal weights: %v", got)
	}
	if got := apportion(7, map[string]int{"x": 0, "y": 5}); got["x"] != 0 || got["y"] != 7 {
		t.Fatalf("zero weight: %v", got)
	}
}

func TestMarksWithinRubric(t *testing.T) {
	maxes := []int{50, 35, 20}
	for i := range 200 {
		m := Marks(string(rune('a'+i%26))+"-app", "expert-"+string(rune('a'+i%7)), maxes)
		for k, v := range m {
			if v < maxes[k]/2 || v > maxes[k] {
				t.Fatalf("mark %d of %d", v, maxes[k])
			}
		}
	}
}

func TestBatchClock(t *testing.T) {
	sh := calendar.Shanghai
	cal := calendar.Default()
	const reach = 4 * time.Minute
	// noticeFits checks that a notice started anywhere within reach of now,
	// read on the clock, is counted inside the calendar.
	noticeFits := func(t *testing.T, c workflows.DilatedClock, now time.Time) {
		t.Helper()
		for _, wall := range []time.Time{now, now.Add(reach / 2), now.Add(reach)} {
			if _, err := cal.Notice(c.At(wall), 5); err != nil {
				t.Fatalf("clock %+v: a notice at wall %s (batch %s): %v", c, wall, c.At(wall), err)
			}
		}
	}
	for _, tc := range []struct {
		now        time.Time
		wantOrigin time.Time
	}{
		// Early in a covered year the batches run from now itself.
		{time.Date(2026, 3, 1, 10, 0, 0, 0, sh), time.Date(2026, 3, 1, 10, 0, 0, 0, sh)},
		// Too close to the calendar's end, and past it: a year earlier, still
		// at full speed.
		{time.Date(2026, 11, 28, 12, 0, 0, 0, sh), time.Date(2025, 11, 28, 12, 0, 0, 0, sh)},
		{time.Date(2026, 12, 25, 9, 30, 0, 0, sh), time.Date(2025, 12, 25, 9, 30, 0, 0, sh)},
		{time.Date(2027, 3, 1, 9, 0, 0, 0, sh), time.Date(2026, 3, 1, 9, 0, 0, 0, sh)},
		// Two years past the calendar: two years back.
		{time.Date(2028, 12, 30, 9, 0, 0, 0, sh), time.Date(2025, 12, 30, 9, 0, 0, 0, sh)},
	} {
		t.Run(tc.now.Format("2006-01-02"), func(t *testing.T) {
			c, err := BatchClock(tc.now, reach, cal)
			if err != nil {
				t.Fatal(err)
			}
			if c.Factor != 50_000 {
				t.Fatalf("factor %d, want 50000", c.Factor)
			}
			if !c.Origin.Equal(tc.wantOrigin) || !c.At(tc.now).Equal(tc.wantOrigin) {
				t.Fatalf("origin %s (reads %s at now), want %s", c.Origin, c.At(tc.now), tc.wantOrigin)
			}
			if got := c.At(tc.now.Add(time.Second)).Sub(c.At(tc.now)); got != 50_000*time.Second {
				t.Fatalf("a second of wall time is %s on the clock", got)
			}
			noticeFits(t, c, tc.now)
		})
	}
	// With the next year's arrangement loaded, 2027 runs from now again.
	ext, err := cal.Extend(strings.NewReader("date,kind,name\n2027-01-01,holiday,元旦\n"))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2027, 3, 1, 9, 0, 0, 0, sh)
	if c, err := BatchClock(now, reach, ext); err != nil || !c.Origin.Equal(now) || c.Factor != 50_000 {
		t.Fatalf("on a calendar through 2027: %+v, %v", c, err)
	}
	// A reach longer than what is left of any one year goes back further.
	now = time.Date(2026, 12, 25, 9, 0, 0, 0, sh)
	c, err := BatchClock(now, 15*time.Minute, cal)
	if err != nil || c.Factor != 50_000 || !c.Origin.Equal(time.Date(2024, 12, 25, 9, 0, 0, 0, sh)) {
		t.Fatalf("a reach of 520 days: %+v, %v", c, err)
	}
}

func TestMaxMetric(t *testing.T) {
	body := []byte(`# HELP keytask_projection_lag_events backlog
# TYPE keytask_projection_lag_events gauge
keytask_projection_lag_events{projection="users"} 12
keytask_projection_lag_events{projection="timeline"} 340
keytask_projection_lag_events_total 99999
keytask_projection_lag_seconds{projection="users"} 5000
`)
	if v, ok := maxMetric(body, "keytask_projection_lag_events"); !ok || v != 340 {
		t.Fatalf("%d %v", v, ok)
	}
	if _, ok := maxMetric(body, "keytask_missing"); ok {
		t.Fatal("found a missing metric")
	}
}
