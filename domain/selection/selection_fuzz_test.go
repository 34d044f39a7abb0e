package selection_test

import (
	"encoding/json"
	"errors"
	"maps"
	"net/url"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"keytask/domain"
	"keytask/domain/scoring"
	"keytask/domain/selection"
)

// taskTypes is the fuzzed schemas, in a fixed order so that a corpus entry
// always means the same schema.
var taskTypes = slices.Sorted(maps.Keys(selection.Schemas))

// FuzzParseFields feeds an application's "fields" object through the schema of
// one task type. Accepted fields satisfy their kind's rules, and what is stored
// (Encode) decodes back to the same typed fields and parses again unchanged. A
// refused body is a field error naming "fields.<key>" for a key that was sent.
func FuzzParseFields(f *testing.F) {
	for i, body := range []string{
		`{"school_name":"北京市工贸技师学院","founding_year":1985,"enrolment":5000,"teachers":300,"key_majors":"数控加工"}`,
		`{"alliance_name":"京津冀联盟","members":["11-001","12-002"],"lead_school":"11-001","enterprises":12}`,
		`{"course_name":"机械制图","platform_url":"https://example.cn/c/1","hours":64,"schools":["a.b","c_d"]}`,
		`{"major_code":"0601-4","years":100,"students":"12"}`,
		`{"founding_year":1899}`, `{"members":["x","x"]}`, `{"platform_url":"ftp://x"}`, `{"unknown":1}`,
		`{"summary":null,"school_name":"  "}`, `{"hours":1e3}`, `{"members":[]}`, `{"lead_school":"-bad"}`,
	} {
		f.Add(uint8(i), []byte(body))
	}
	f.Fuzz(func(t *testing.T, which uint8, body []byte) {
		schema := selection.Schemas[taskTypes[int(which)%len(taskTypes)]]
		var raw map[string]json.RawMessage
		if json.Unmarshal(body, &raw) != nil {
			return // the API's decoder refuses it first
		}
		fs, err := schema.ParseFields(raw)
		if err != nil {
			var fe *domain.FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("%s ParseFields(%s): not a field error: %v", schema.TaskType, body, err)
			}
			key, ok := strings.CutPrefix(fe.Field, "fields.")
			if _, sent := raw[key]; !ok || !sent {
				t.Fatalf("%s ParseFields(%s): error names %q, not a field that was sent", schema.TaskType, body, fe.Field)
			}
			if !hasHan(fe.Message) || fe.Detail == "" {
				t.Fatalf("%s ParseFields(%s): message %q, detail %q", schema.TaskType, body, fe.Message, fe.Detail)
			}
			return
		}
		for k, v := range fs {
			checkFieldValue(t, schema, k, v)
		}
		stored := fs.Encode()
		back, err := schema.DecodeContent(stored)
		if err != nil {
			t.Fatalf("%s: stored %v does not decode: %v", schema.TaskType, stored, err)
		}
		if len(fs) == 0 && len(back) == 0 {
			return
		}
		if !reflect.DeepEqual(map[string]any(fs), map[string]any(back)) {
			t.Fatalf("%s: parsed %#v, stored %v, decoded %#v", schema.TaskType, fs, stored, back)
		}
		// Sending the stored values again as JSON parses to the same fields.
		again := map[string]json.RawMessage{}
		for k, v := range fs {
			b, _ := json.Marshal(v)
			again[k] = b
		}
		fs2, err := schema.ParseFields(again)
		if err != nil || !reflect.DeepEqual(fs, fs2) {
			t.Fatalf("%s: %#v sent again parses to %#v, %v", schema.TaskType, fs, fs2, err)
		}
	})
}

var schoolID = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// checkFieldValue asserts that an accepted value obeys its field's kind.
func checkFieldValue(t *testing.T, s selection.Schema, key string, v any) {
	t.Helper()
	var f selection.Field
	for _, x := range s.Fields {
		if x.Key == key {
			f = x
		}
	}
	if f.Key == "" {
		t.Fatalf("%s: accepted unknown field %q", s.TaskType, key)
	}
	bad := func(why string) { t.Fatalf("%s: field %s accepted %#v: %s", s.TaskType, key, v, why) }
	switch f.Kind {
	case selection.FieldCount:
		n, ok := v.(int64)
		if !ok || n < 0 || (f.Max > 0 && n > f.Max) {
			bad("not a count within bounds")
		}
	case selection.FieldYear:
		if n, ok := v.(int64); !ok || n < 1900 || n > 2100 {
			bad("not a year")
		}
	case selection.FieldSchools:
		l, ok := v.([]string)
		if !ok || len(l) == 0 || (f.Max > 0 && int64(len(l)) > f.Max) {
			bad("not a list of schools within bounds")
		}
		for i, id := range l {
			if !schoolID.MatchString(id) || slices.Index(l, id) != i {
				bad("bad or repeated school id " + id)
			}
		}
	default:
		str, ok := v.(string)
		if !ok || str == "" || str != strings.TrimSpace(str) {
			bad("not trimmed, non-empty text")
		}
		switch f.Kind {
		case selection.FieldText:
			if limit := f.Max; limit > 0 && int64(utf8.RuneCountInString(str)) > limit {
				bad("too long")
			}
		case selection.FieldSchool:
			if !schoolID.MatchString(str) {
				bad("not a school id")
			}
		case selection.FieldURL:
			u, err := url.Parse(str)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				bad("not an http(s) URL")
			}
		case selection.FieldCode:
			if strings.Trim(str, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-") != "" {
				bad("not a code")
			}
		}
	}
}

// FuzzFileObjection files a real-name objection during the notice. An accepted
// objection keeps trimmed, non-empty, bounded text against an application on the
// list; a refused one names the field at fault (or is a conflict of state).
func FuzzFileObjection(f *testing.F) {
	f.Add("张三", "13800000000", "材料不实", "a1", "o1")
	f.Add("  ", "x", "y", "a1", "o2")
	f.Add("李四", "", "理由", "a3", "o3")
	f.Add("王五", "wang@example.cn", strings.Repeat("异", 1001), "a2", "")
	f.Add("赵六", "010-12345678", "理由", "nope", "o4")
	f.Fuzz(func(t *testing.T, name, contact, text, app, id string) {
		s, now := throughNotice(t)
		in := selection.ObjectionFiled{ObjectionID: id, Application: app, Name: name, Contact: contact, Text: text}
		o, err := s.FileObjection(in, now)
		if err != nil {
			var ce *domain.ConflictError
			var fe *domain.FieldError
			if errors.As(err, &ce) {
				t.Fatalf("FileObjection(%+v) during the notice: conflict %v", in, err)
			}
			if !errors.As(err, &fe) || !slices.Contains([]string{"name", "contact", "text", "objection_id", "application"}, fe.Field) {
				t.Fatalf("FileObjection(%+v): %T %v does not name a field of the objection", in, err, err)
			}
			if !hasHan(fe.Message) {
				t.Fatalf("FileObjection(%+v): message %q", in, fe.Message)
			}
			return
		}
		for field, v := range map[string]string{"name": o.Name, "contact": o.Contact, "text": o.Text} {
			if v == "" || v != strings.TrimSpace(v) || utf8.RuneCountInString(v) > selection.MaxTextRunes {
				t.Fatalf("FileObjection(%+v) accepted %s = %q", in, field, v)
			}
		}
		if !slices.Contains(s.Notice.List, o.Application) || strings.TrimSpace(o.ObjectionID) == "" {
			t.Fatalf("FileObjection(%+v) accepted application %q, id %q", in, o.Application, o.ObjectionID)
		}
		// The event applies, and the same objection cannot be filed twice.
		if err := s.Apply(o); err != nil {
			t.Fatal(err)
		}
		if _, err := s.FileObjection(in, now); err == nil {
			t.Fatalf("FileObjection(%+v) accepted twice", in)
		}
	})
}

// atExpertReview takes a batch to expert review with a1, a2 assigned to e1, e2.
func atExpertReview(t *testing.T) (selection.BatchState, time.Time) {
	t.Helper()
	s := opened(t)
	now := t0.Add(time.Hour)
	e, err := s.Recommend("11", []string{"a1", "a2"}, now)
	apply(t, &s, e, err)
	e2, err := s.Recommend("44", []string{"a3"}, now)
	apply(t, &s, e2, err)
	adv, err := s.Advance(selection.StageRecommendation, selection.StageQualification, now)
	apply(t, &s, adv, err)
	q, err := s.Qualify([]selection.QualificationDecision{
		{Application: "a1", Outcome: selection.Passed}, {Application: "a2", Outcome: selection.Passed},
		{Application: "a3", Outcome: selection.Failed, Reason: "不符合申报条件"}}, now)
	apply(t, &s, q, err)
	adv, err = s.Advance(selection.StageQualification, selection.StageExpertReview, now)
	apply(t, &s, adv, err)
	apply(t, &s, selection.ExpertsAssigned{Round: 1, Assignments: []selection.ExpertAssignment{
		{Application: "a1", Experts: []string{"e1", "e2"}}, {Application: "a2", Experts: []string{"e1", "e2"}}}}, nil)
	return s, now
}

var scoresPath = regexp.MustCompile(`^(expert|scores|scores\[\d+\]\.(application|criteria|criteria\[\d+\]))$`)

// FuzzSubmitScores decodes an expert's scores body as the API receives it and
// decides on it. Accepted scores are for assigned applications, once each, with
// one mark per criterion within its full mark; a refused body names the field.
func FuzzSubmitScores(f *testing.F) {
	for _, s := range []string{
		`{"expert":"e1","scores":[{"application":"a1","criteria":[50,30]}]}`,
		`{"expert":"e2","scores":[{"application":"a1","criteria":[60,40]},{"application":"a2","criteria":[0,0]}]}`,
		`{"expert":"e1","scores":[{"application":"a1","criteria":[61,30]}]}`,
		`{"expert":"e1","scores":[{"application":"a1","criteria":[-1,30]}]}`,
		`{"expert":"e1","scores":[{"application":"a1","criteria":[1]}]}`,
		`{"expert":"e1","scores":[{"application":"a1","criteria":[1,1]},{"application":"a1","criteria":[1,1]}]}`,
		`{"expert":"e3","scores":[{"application":"a1","criteria":[1,1]}]}`,
		`{"expert":"","scores":[]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var req struct {
			Expert string                        `json:"expert"`
			Scores []selection.ApplicationScores `json:"scores"`
		}
		if json.Unmarshal(body, &req) != nil {
			return
		}
		s, now := atExpertReview(t)
		e, err := s.SubmitScores(req.Expert, req.Scores, now)
		if err != nil {
			var fe *domain.FieldError
			if !errors.As(err, &fe) || !scoresPath.MatchString(fe.Field) || !hasHan(fe.Message) {
				t.Fatalf("SubmitScores(%s): %T %v does not name a field of the body", body, err, err)
			}
			return
		}
		if e.Expert != "e1" && e.Expert != "e2" {
			t.Fatalf("SubmitScores(%s) accepted expert %q, who is not assigned", body, e.Expert)
		}
		seen := map[string]bool{}
		for _, sc := range e.Scores {
			if seen[sc.Application] || (sc.Application != "a1" && sc.Application != "a2") {
				t.Fatalf("SubmitScores(%s) accepted application %q", body, sc.Application)
			}
			seen[sc.Application] = true
			total, err := s.Rubric.Total(scoring.Scores{Criteria: sc.Criteria})
			if err != nil || total.Num() < 0 || total.Hundredths() > 100_00 {
				t.Fatalf("SubmitScores(%s) accepted marks %v: total %v, %v", body, sc.Criteria, total, err)
			}
		}
		if err := s.Apply(e); err != nil {
			t.Fatalf("accepted scores do not apply: %v", err)
		}
	})
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
