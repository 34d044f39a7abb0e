package scoring_test

import (
	"encoding/json"
	"errors"
	"regexp"
	"testing"

	"keytask/domain"
	"keytask/domain/scoring"
)

var (
	rubricPath = regexp.MustCompile(`^(task_type|criteria|criteria\[\d+\]\.(key|name|weight|max))$`)
	scoresPath = regexp.MustCompile(`^scores\.criteria(\[\d+\])?$`)
)

// FuzzTotal decodes a rubric and one expert's marks as they arrive in JSON and
// totals them. An accepted total lies in 0..100, is 100 exactly for full marks
// and 0 for none, and grows when any mark grows; refusals name the rubric's or
// the scores' field.
func FuzzTotal(f *testing.F) {
	for _, c := range [][2]string{
		{`{"task_type":"YZYX","criteria":[{"key":"base","name":"建设基础","weight":60,"max":60},{"key":"plan","name":"建设方案","weight":40,"max":40}]}`, `{"criteria":[50,30]}`},
		{`{"task_type":"YZYX","criteria":[{"key":"a","name":"甲","weight":33,"max":7},{"key":"b","name":"乙","weight":67,"max":9}]}`, `{"criteria":[7,0]}`},
		{`{"task_type":"YZYX","criteria":[{"key":"a","name":"甲","weight":100,"max":1000}]}`, `{"criteria":[1001]}`},
		{`{"task_type":"YZYX","criteria":[{"key":"a","name":"甲","weight":50,"max":997},{"key":"b","name":"乙","weight":50,"max":991}]}`, `{"criteria":[1,1]}`},
		{`{"task_type":"","criteria":[]}`, `{"criteria":[]}`},
		{`{"task_type":"X","criteria":[{"key":"a","name":"甲","weight":50,"max":5},{"key":"a","name":"乙","weight":50,"max":5}]}`, `{"criteria":[1,1]}`},
		{`{"task_type":"X","criteria":[{"key":"a","name":"甲","weight":100,"max":5}]}`, `{"criteria":[-1]}`},
	} {
		f.Add([]byte(c[0]), []byte(c[1]))
	}
	f.Fuzz(func(t *testing.T, rubricJSON, scoresJSON []byte) {
		var r scoring.Rubric
		var s scoring.Scores
		if json.Unmarshal(rubricJSON, &r) != nil || json.Unmarshal(scoresJSON, &s) != nil {
			return
		}
		total, err := r.Total(s)
		if verr := r.Validate(); verr != nil {
			var fe *domain.FieldError
			if !errors.As(verr, &fe) || !rubricPath.MatchString(fe.Field) || !hasHan(fe.Message) {
				t.Fatalf("Validate(%s): %T %v does not name a field of the rubric", rubricJSON, verr, verr)
			}
			if err == nil {
				t.Fatalf("Total accepted marks under a rubric Validate refuses: %v", verr)
			}
			return
		}
		// A valid rubric: full marks make exactly 100, none make 0.
		full, none := scoring.Scores{}, scoring.Scores{}
		for _, c := range r.Criteria {
			full.Criteria = append(full.Criteria, c.Max)
			none.Criteria = append(none.Criteria, 0)
		}
		if p, err := r.Total(full); err != nil || p.Exact() != "100" {
			t.Fatalf("rubric %s: full marks total %s, %v", rubricJSON, p.Exact(), err)
		}
		if p, err := r.Total(none); err != nil || p.Exact() != "0" {
			t.Fatalf("rubric %s: no marks total %s, %v", rubricJSON, p.Exact(), err)
		}
		if err != nil {
			var fe *domain.FieldError
			if !errors.As(err, &fe) || !scoresPath.MatchString(fe.Field) || !hasHan(fe.Message) {
				t.Fatalf("Total(%s, %s): %T %v does not name a field of the scores", rubricJSON, scoresJSON, err, err)
			}
			return
		}
		if total.Num() < 0 || total.Cmp(mustPoints(t, "100")) > 0 {
			t.Fatalf("Total(%s, %s) = %s, outside 0..100", rubricJSON, scoresJSON, total.Exact())
		}
		// One more point on any criterion below its full mark raises the total.
		for i, c := range r.Criteria {
			if s.Criteria[i] < c.Max {
				more := scoring.Scores{Criteria: append([]int(nil), s.Criteria...)}
				more.Criteria[i]++
				if p, err := r.Total(more); err != nil || p.Cmp(total) <= 0 {
					t.Fatalf("Total(%s): raising criterion %d gives %s, not above %s (%v)", scoresJSON, i, p.Exact(), total.Exact(), err)
				}
			}
		}
		// The stored form of the total reads back as the same value.
		text, _ := total.MarshalText()
		if back := mustPoints(t, string(text)); back.Cmp(total) != 0 || back.Exact() != total.Exact() {
			t.Fatalf("total %s stored as %q reads back %s", total.Exact(), text, back.Exact())
		}
	})
}

// FuzzPointsText reads stored points: an accepted fraction is in lowest terms,
// non-negative, and writes back to text that reads to the same value.
func FuzzPointsText(f *testing.F) {
	for _, s := range []string{"87", "262/3", "0", "4/2", "0/5", "-1", "1/0", "1/-3", "x", "1000000000000000000/3", "+5", "07/14", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var p scoring.Points
		if err := p.UnmarshalText([]byte(s)); err != nil {
			return
		}
		if p.Num() < 0 || p.Den() < 1 || gcd(p.Num(), p.Den()) != 1 && p.Num() != 0 {
			t.Fatalf("%q reads as %d/%d, not a non-negative fraction in lowest terms", s, p.Num(), p.Den())
		}
		text, err := p.MarshalText()
		if err != nil {
			t.Fatal(err)
		}
		back := mustPoints(t, string(text))
		if back.Cmp(p) != 0 || string(text) != back.Exact() {
			t.Fatalf("%q reads %s, written %q, reads back %s", s, p.Exact(), text, back.Exact())
		}
		if h := p.Hundredths(); h < 0 {
			t.Fatalf("%q: negative hundredths %d", s, h)
		}
	})
}

func mustPoints(t *testing.T, s string) scoring.Points {
	t.Helper()
	var p scoring.Points
	if err := p.UnmarshalText([]byte(s)); err != nil {
		t.Fatalf("points %q: %v", s, err)
	}
	return p
}

func gcd(a, b int64) int64 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// hasHan reports whether s holds a Chinese character: users read messages in Chinese.
func hasHan(s string) bool {
	for _, r := range s {
		if r >= 0x4e00 && r <= 0x9fff {
			return true
		}
	}
	return false
}
