package performance_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"keytask/domain"
	"keytask/domain/identity"
	"keytask/domain/intent"
	"keytask/domain/performance"
)

// reportField is every path a report error may name.
var reportField = regexp.MustCompile(`^(task_type|planned|spent|(planned|spent|indicators)\..*|summary|deviation)$`)

// fuzzTaskTypes are the task types a fuzzed report is validated against: the
// catalogue's, then two it does not know.
var fuzzTaskTypes = append(performance.Indicators.Codes(), "JXBZ", "")

// FuzzReportInput feeds a report's JSON body through the decoder and the
// validator, as a draft and as a submission, for any task type. A refused
// report is a field error naming a path of the body in Chinese, checked in the
// documented order, and the collection records nothing for it; an accepted one
// carries exact sums of what was sent, only the catalogue's indicators within
// their bounds, texts Postgres can store, and sent back as a client would it
// validates to the same report, also after the event's JSON round trip.
func FuzzReportInput(f *testing.F) {
	for _, s := range []string{
		`{"planned":{"school":100,"industry":"20.5","sponsor":0,"municipal":30,"provincial":50},"spent":{"school":90,"industry":"20.5","sponsor":0,"municipal":"12.3456","provincial":50},"indicators":{"students_enrolled":5200,"graduate_employment":97,"teachers_trained":340},"summary":"完成实训基地改造"}`,
		`{"planned":{"school":1},"spent":{"school":2},"deviation":"追加设备采购","summary":"x"}`,
		`{"PLANNED":{"school":1},"Spent":{"School":1}}`,
		`{"indicators":{"platform_users":99999999,"learners":100000001,"digital_resources":1000001}}`,
		`{"indicators":{"graduate_employment":100,"students_enrolled":"5","teachers_trained":1.5}}`,
		`{"indicators":{"bogus":1,"students_enrolled":-1}}`,
		`{"planned":{"school":99999999.9999,"industry":99999999.9999,"sponsor":99999999.9999,"municipal":99999999.9999,"provincial":99999999.9999}}`,
		`{"planned":{"school":100000000.0001}}`, `{"spent":{"sponsor":1e3}}`, `{"spent":{"bank":1,"aaa":2}}`,
		`{"summary":"  \t "}`, `{"summary":"a\u0000b"}`, `{"deviation":"\u0000"}`, `{}`, `null`,
		`{"planned":null,"spent":{"school":null,"industry":""},"indicators":{"students_enrolled":null}}`,
	} {
		f.Add([]byte(s), uint8(1), true)
		f.Add([]byte(s), uint8(1), false)
	}
	f.Fuzz(func(t *testing.T, body []byte, tt uint8, complete bool) {
		var in performance.ReportInput
		if json.Unmarshal(body, &in) != nil {
			return // the API's decoder refuses it first (see api's FuzzDecodeReport)
		}
		taskType := fuzzTaskTypes[int(tt)%len(fuzzTaskTypes)]
		rep, err := performance.Validate(performance.Indicators, taskType, in, complete)
		if complete {
			// A submission is a draft that is also complete.
			draft, derr := performance.Validate(performance.Indicators, taskType, in, false)
			if err == nil && (derr != nil || !reflect.DeepEqual(draft, rep)) {
				t.Fatalf("Validate(%s, %s) submits as %+v but drafts as %+v, %v", taskType, body, rep, draft, derr)
			}
		}
		recorded := record(t, taskType, in, complete)
		if err != nil {
			checkRefusal(t, body, taskType, in, err)
			if recorded {
				t.Fatalf("Validate(%s, %s) refused (%v), yet the collection recorded the report", taskType, body, err)
			}
			return
		}
		if !recorded {
			t.Fatalf("Validate(%s, %s) accepted, yet the collection refused the report", taskType, body)
		}
		checkReport(t, body, taskType, in, rep, complete)

		// The event stores the report as JSON; it reads back the same.
		b, err := json.Marshal(rep)
		if err != nil {
			t.Fatal(err)
		}
		var stored performance.Report
		if err := json.Unmarshal(b, &stored); err != nil || !reflect.DeepEqual(stored, rep) {
			t.Fatalf("Validate(%s, %s) = %+v; stored as %s it reads %+v, %v", taskType, body, rep, b, stored, err)
		}

		// A client sending the report back (money as numbers or as fixed
		// strings, in turn) gets the same report, as a draft and as submitted.
		for _, asString := range []bool{false, true} {
			again := performance.ReportInput{Planned: map[string]json.RawMessage{}, Spent: map[string]json.RawMessage{},
				Indicators: map[string]json.RawMessage{}, Summary: rep.Summary, Deviation: rep.Deviation}
			for _, s := range intent.Sources {
				again.Planned[string(s)], again.Spent[string(s)] = wan(rep.Planned.Get(s), asString), wan(rep.Spent.Get(s), asString)
			}
			for k, v := range rep.Indicators {
				again.Indicators[k] = json.RawMessage(strconv.FormatInt(v, 10))
			}
			b, err := json.Marshal(again)
			if err != nil {
				t.Fatal(err)
			}
			var in2 performance.ReportInput
			if err := json.Unmarshal(b, &in2); err != nil {
				t.Fatal(err)
			}
			rep2, err := performance.Validate(performance.Indicators, taskType, in2, complete)
			if err != nil || !reflect.DeepEqual(rep2, rep) {
				t.Fatalf("Validate(%s, %s) = %+v; sent back as %s it validates to %+v, %v", taskType, body, rep, b, rep2, err)
			}
		}
	})
}

func wan(y intent.Yuan, asString bool) json.RawMessage {
	if asString {
		return json.RawMessage(strconv.Quote(y.WanFixed()))
	}
	return json.RawMessage(y.Wan())
}

// record sends the report to an open collection as the project's school
// would, and reports whether the collection returned an event to record.
func record(t *testing.T, taskType string, in performance.ReportInput, complete bool) bool {
	t.Helper()
	deadline := time.Date(2022, 12, 31, 9, 0, 0, 0, time.UTC)
	c := performance.NewCollection(2022, deadline, []performance.ReportOpened{{ProjectID: "p1", TaskType: taskType, School: "s1", Province: "11"}})
	school := performance.Actor{Role: identity.RoleSchool, Organisation: "s1"}
	var ev any
	var err error
	if complete {
		ev, err = c.Submit("p1", school, in, deadline.Add(-time.Hour))
	} else {
		ev, err = c.SaveDraft("p1", school, in, deadline.Add(-time.Hour))
	}
	if err != nil {
		if !reflect.ValueOf(ev).IsZero() {
			t.Fatalf("refused (%v) with an event %+v", err, ev)
		}
		return false
	}
	if err := c.Apply(ev); err != nil {
		t.Fatalf("the collection cannot apply its own event %+v: %v", ev, err)
	}
	return true
}

// checkRefusal asserts that a refusal names a field of the body, in Chinese,
// and that every block before the one at fault is valid on its own.
func checkRefusal(t *testing.T, body []byte, taskType string, in performance.ReportInput, err error) {
	t.Helper()
	var fe *domain.FieldError
	if !errors.As(err, &fe) {
		t.Fatalf("Validate(%s, %s): not a field error: %T %v", taskType, body, err, err)
	}
	if !reportField.MatchString(fe.Field) || !hasHan(fe.Message) || fe.Detail == "" {
		t.Fatalf("Validate(%s, %s): field %q, message %q, detail %q", taskType, body, fe.Field, fe.Message, fe.Detail)
	}
	if _, known := performance.Indicators.For(taskType); !known {
		if fe.Field != "task_type" {
			t.Fatalf("Validate(%s, %s): unknown task type refused on %q", taskType, body, fe.Field)
		}
		return
	}
	block, key, _ := strings.Cut(fe.Field, ".")
	if key != "" {
		// The key is a source or indicator the form knows, or one the body
		// sent (shortened when long).
		sent := map[string]map[string]json.RawMessage{"planned": in.Planned, "spent": in.Spent, "indicators": in.Indicators}[block]
		known := false
		for _, s := range intent.Sources {
			known = known || (block != "indicators" && key == string(s))
		}
		tt, _ := performance.Indicators.For(taskType)
		for _, ind := range tt.Indicators {
			known = known || (block == "indicators" && key == ind.Key)
		}
		for k := range sent {
			known = known || k == key || (strings.HasSuffix(key, "…") && strings.HasPrefix(k, strings.TrimSuffix(key, "…")))
		}
		if !known {
			t.Fatalf("Validate(%s, %s): error names %q, neither the form's nor the body's", taskType, body, fe.Field)
		}
	}
	// Blocks are checked in order: those before the one at fault pass alone.
	before := performance.ReportInput{}
	switch block {
	case "summary", "deviation":
		before.Indicators = in.Indicators
		fallthrough
	case "indicators":
		before.Spent = in.Spent
		fallthrough
	case "spent":
		before.Planned = in.Planned
	}
	if _, err := performance.Validate(performance.Indicators, taskType, before, false); err != nil {
		t.Fatalf("Validate(%s, %s) refused on %q, yet an earlier block is at fault alone: %v", taskType, body, fe.Field, err)
	}
}

// checkReport asserts the invariants of an accepted report.
func checkReport(t *testing.T, body []byte, taskType string, in performance.ReportInput, rep performance.Report, complete bool) {
	t.Helper()
	for _, b := range []struct {
		name  string
		sent  map[string]json.RawMessage
		funds intent.Funds
		total intent.Yuan
	}{{"planned", in.Planned, rep.Planned, rep.PlannedTotal}, {"spent", in.Spent, rep.Spent, rep.SpentTotal}} {
		var sum intent.Yuan
		for _, s := range intent.Sources {
			want, present, err := intent.ParseMoney(b.sent[string(s)])
			if err != nil || (complete && !present) {
				t.Fatalf("Validate(%s, %s) accepted %s.%s = %s (%v, present %v)", taskType, body, b.name, s, b.sent[string(s)], err, present)
			}
			if got := b.funds.Get(s); got != want || got < 0 || got > intent.MaxYuan {
				t.Fatalf("Validate(%s, %s): %s.%s = %d, sent %s", taskType, body, b.name, s, got, b.sent[string(s)])
			}
			sum += want // five amounts up to MaxYuan cannot overflow int64
		}
		if sum != b.total {
			t.Fatalf("Validate(%s, %s): %s total %d, sum of the sources %d", taskType, body, b.name, b.total, sum)
		}
	}
	tt, _ := performance.Indicators.For(taskType)
	for k, v := range rep.Indicators {
		var ind *performance.Indicator
		for i := range tt.Indicators {
			if tt.Indicators[i].Key == k {
				ind = &tt.Indicators[i]
			}
		}
		if ind == nil {
			t.Fatalf("Validate(%s, %s) accepted indicator %q, not in the catalogue", taskType, body, k)
		}
		limit := ind.Max
		switch {
		case ind.Kind == performance.KindPercent:
			limit = 100
		case limit == 0:
			limit = 1_000_000_000 // the package's bound of a count left unbounded
		}
		if v < 0 || v > limit || strings.TrimSpace(string(in.Indicators[k])) != strconv.FormatInt(v, 10) {
			t.Fatalf("Validate(%s, %s): indicator %s = %d (bound %d), sent %s", taskType, body, k, v, limit, in.Indicators[k])
		}
	}
	for k, raw := range in.Indicators {
		if _, kept := rep.Indicators[k]; !kept && !absent(raw) {
			t.Fatalf("Validate(%s, %s) dropped indicator %s = %s", taskType, body, k, raw)
		}
	}
	for _, text := range []struct {
		name, got, sent string
		limit           int
	}{{"summary", rep.Summary, in.Summary, performance.MaxSummaryRunes}, {"deviation", rep.Deviation, in.Deviation, performance.MaxDeviationRunes}} {
		// Postgres stores no NUL in text or jsonb: the read models would stall on it.
		if text.got != strings.TrimSpace(text.sent) || utf8.RuneCountInString(text.got) > text.limit || strings.ContainsRune(text.got, 0) {
			t.Fatalf("Validate(%s, %s): %s %q from %q", taskType, body, text.name, text.got, text.sent)
		}
	}
	if !complete {
		return
	}
	if rep.Summary == "" {
		t.Fatalf("Validate(%s, %s) submitted without a summary", taskType, body)
	}
	for _, ind := range tt.Indicators {
		if _, ok := rep.Indicators[ind.Key]; ind.Required && !ok {
			t.Fatalf("Validate(%s, %s) submitted without required indicator %s", taskType, body, ind.Key)
		}
	}
	for _, s := range intent.Sources {
		if rep.Spent.Get(s) > rep.Planned.Get(s) && rep.Deviation == "" {
			t.Fatalf("Validate(%s, %s) submitted %s overspent without a deviation note", taskType, body, s)
		}
	}
}

// absent is intent's notion of a value left out: missing, null or "".
func absent(raw json.RawMessage) bool {
	t := strings.TrimSpace(string(raw))
	return t == "" || t == "null" || t == `""`
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
