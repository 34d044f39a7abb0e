package selection

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"keytask/domain"
)

// FieldKind is the type of one structured field of an application.
type FieldKind string

const (
	FieldText    FieldKind = "text"    // free text up to Max characters
	FieldCode    FieldKind = "code"    // letters, digits and "-", e.g. a major's code
	FieldCount   FieldKind = "count"   // a non-negative integer up to Max
	FieldYear    FieldKind = "year"    // a four-digit year
	FieldURL     FieldKind = "url"     // an http(s) address
	FieldSchool  FieldKind = "school"  // one school id
	FieldSchools FieldKind = "schools" // school ids, at least Min of them
)

// Field is one structured field of a task type's application form.
type Field struct {
	Key      string    `json:"key"`   // JSON name under "fields"
	Label    string    `json:"label"` // for users
	Kind     FieldKind `json:"kind"`
	Required bool      `json:"required"` // needed to submit; a draft may lack it
	Min      int64     `json:"min,omitempty"`
	Max      int64     `json:"max,omitempty"` // characters, value or list length; 0 means the kind's default
}

// Schema is the application form of one task type.
type Schema struct {
	TaskType string  `json:"task_type"`
	Name     string  `json:"name"`
	Fields   []Field `json:"fields"`
	// ProvinceMayFile: a province may file on behalf of several schools (alliances,
	// jointly built courses); otherwise only a school applies, for itself.
	ProvinceMayFile bool `json:"province_may_file"`
}

// Schemas is the one table of application forms, by task type. Task types
// without a schema (development tasks) take no applications.
var Schemas = map[string]Schema{
	"SZJD": {TaskType: "SZJD", Name: "技工教育思想政治理论课师资研修基地", Fields: []Field{
		{Key: "school_name", Label: "学校名称", Kind: FieldText, Required: true},
		{Key: "base_name", Label: "基地名称", Kind: FieldText, Required: true},
		{Key: "ideology_teachers", Label: "思政课专任教师人数", Kind: FieldCount, Required: true},
		{Key: "trainees_per_year", Label: "年培训能力（人次）", Kind: FieldCount, Required: true},
		{Key: "summary", Label: "建设基础", Kind: FieldText, Max: 2000},
	}},
	"YZYX": {TaskType: "YZYX", Name: "优质技工院校", Fields: []Field{
		{Key: "school_name", Label: "学校名称", Kind: FieldText, Required: true},
		{Key: "founding_year", Label: "建校年份", Kind: FieldYear, Required: true},
		{Key: "enrolment", Label: "在校生人数", Kind: FieldCount, Required: true},
		{Key: "teachers", Label: "专任教师人数", Kind: FieldCount, Required: true},
		{Key: "key_majors", Label: "重点专业", Kind: FieldText, Required: true, Max: 500},
		{Key: "summary", Label: "建设基础", Kind: FieldText, Max: 2000},
	}},
	"YZZY": {TaskType: "YZZY", Name: "优质专业", Fields: []Field{
		{Key: "school_name", Label: "学校名称", Kind: FieldText, Required: true},
		{Key: "major_name", Label: "专业名称", Kind: FieldText, Required: true},
		{Key: "major_code", Label: "专业代码", Kind: FieldCode, Required: true, Max: 20},
		{Key: "years", Label: "开设年限", Kind: FieldCount, Required: true, Max: 100},
		{Key: "students", Label: "在校生人数", Kind: FieldCount, Required: true},
		{Key: "summary", Label: "建设基础", Kind: FieldText, Max: 2000},
	}},
	"LMJT": {TaskType: "LMJT", Name: "技工教育联盟（集团）", ProvinceMayFile: true, Fields: []Field{
		{Key: "alliance_name", Label: "联盟（集团）名称", Kind: FieldText, Required: true},
		{Key: "members", Label: "成员学校", Kind: FieldSchools, Required: true, Min: 2, Max: 200},
		{Key: "lead_school", Label: "牵头学校", Kind: FieldSchool, Required: true},
		{Key: "enterprises", Label: "成员企业数", Kind: FieldCount},
		{Key: "summary", Label: "建设基础", Kind: FieldText, Max: 2000},
	}},
	"SZZY": {TaskType: "SZZY", Name: "技工教育数字化资源建设与应用优秀院校", Fields: []Field{
		{Key: "school_name", Label: "学校名称", Kind: FieldText, Required: true},
		{Key: "digital_resources", Label: "数字化资源数量", Kind: FieldCount, Required: true},
		{Key: "platform_url", Label: "资源平台网址", Kind: FieldURL, Required: true},
		{Key: "summary", Label: "建设与应用情况", Kind: FieldText, Max: 2000},
	}},
	"JPKC": {TaskType: "JPKC", Name: "技工教育精品在线课程", ProvinceMayFile: true, Fields: []Field{
		{Key: "course_name", Label: "课程名称", Kind: FieldText, Required: true},
		{Key: "platform_url", Label: "课程平台网址", Kind: FieldURL, Required: true},
		{Key: "hours", Label: "课程学时", Kind: FieldCount, Required: true, Max: 10000},
		{Key: "schools", Label: "共建学校", Kind: FieldSchools, Max: 50},
		{Key: "summary", Label: "课程简介", Kind: FieldText, Max: 2000},
	}},
}

// Defaults for a field's Max when the schema leaves it 0.
const (
	defaultTextRunes = 200
	defaultMaxCount  = 10_000_000
	maxURLBytes      = 500
)

// Fields are an application's structured fields, validated: string for text,
// code, url and school; int64 for count and year; []string for schools.
type Fields map[string]any

// schoolIDForm matches identity's school ids (a school user's organisation).
var schoolIDForm = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

var majorCodeForm = regexp.MustCompile(`^[A-Za-z0-9-]+$`)

// fieldPath is how errors name a field: under "fields", as the request spells it.
func fieldPath(key string) string { return "fields." + key }

// ParseFields validates raw JSON values against the task type's schema. It
// checks each value's form, never completeness (see Schema.Complete): a draft may
// be saved half filled. Errors: *domain.FieldError naming "fields.<key>".
func (s Schema) ParseFields(raw map[string]json.RawMessage) (Fields, error) {
	out := Fields{}
	for _, key := range slices.Sorted(maps.Keys(raw)) {
		f, ok := s.field(key)
		if !ok {
			return nil, domain.Invalid(fieldPath(key), fmt.Sprintf("不支持的字段：%s（%s申报表没有此项）", key, s.Name),
				fmt.Sprintf("task type %s has no field %q", s.TaskType, key))
		}
		v, present, err := f.parse(raw[key])
		if err != nil {
			return nil, err
		}
		if present {
			out[key] = v
		}
	}
	return out, nil
}

func (s Schema) field(key string) (Field, bool) {
	for _, f := range s.Fields {
		if f.Key == key {
			return f, true
		}
	}
	return Field{}, false
}

// parse reads one value; present is false for null or an empty string, which
// clear the field.
func (f Field) parse(raw json.RawMessage) (v any, present bool, err error) {
	path := fieldPath(f.Key)
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, false, nil
	}
	switch f.Kind {
	case FieldCount, FieldYear:
		n, err := strconv.ParseInt(string(raw), 10, 64)
		if f.Kind == FieldYear {
			if err != nil || n < 1900 || n > 2100 {
				return nil, false, domain.Invalid(path, f.Label+"须为四位年份，如 1985", fmt.Sprintf("%s: %s is not a year", path, clipInput(string(raw))))
			}
			return n, true, nil
		}
		if err != nil || n < 0 {
			return nil, false, domain.Invalid(path, f.Label+"须为非负整数", fmt.Sprintf("%s: %s is not a non-negative integer", path, clipInput(string(raw))))
		}
		if limit := f.maxOr(defaultMaxCount); n > limit {
			return nil, false, domain.Invalid(path, fmt.Sprintf("%s不能超过%d", f.Label, limit), fmt.Sprintf("%s: %d exceeds %d", path, n, limit))
		}
		return n, true, nil
	case FieldSchools:
		var list []string
		if err := json.Unmarshal(raw, &list); err != nil {
			return nil, false, domain.Invalid(path, f.Label+"须为学校标识的列表，如 [\"11-001\", \"11-002\"]", fmt.Sprintf("%s: not a list of strings", path))
		}
		seen := map[string]bool{}
		out := make([]string, 0, len(list))
		for i, id := range list {
			id = strings.TrimSpace(id)
			if !schoolIDForm.MatchString(id) {
				return nil, false, domain.Invalid(path, fmt.Sprintf("%s第%d项不是有效的学校标识", f.Label, i+1), fmt.Sprintf("%s[%d]: %q is not a school id", path, i, clipInput(id)))
			}
			if seen[id] {
				return nil, false, domain.Invalid(path, fmt.Sprintf("%s中学校 %s 重复", f.Label, id), fmt.Sprintf("%s: %s repeated", path, id))
			}
			seen[id] = true
			out = append(out, id)
		}
		if limit := f.maxOr(1000); int64(len(out)) > limit {
			return nil, false, domain.Invalid(path, fmt.Sprintf("%s不能超过%d所", f.Label, limit), fmt.Sprintf("%s: more than %d schools", path, limit))
		}
		if len(out) == 0 {
			return nil, false, nil
		}
		return out, true, nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, false, domain.Invalid(path, f.Label+"须为文本", fmt.Sprintf("%s: not a string", path))
	}
	if s = strings.TrimSpace(s); s == "" {
		return nil, false, nil
	}
	switch f.Kind {
	case FieldText:
		if limit := f.maxOr(defaultTextRunes); int64(utf8.RuneCountInString(s)) > limit {
			return nil, false, domain.Invalid(path, fmt.Sprintf("%s不能超过%d个字", f.Label, limit), fmt.Sprintf("%s: more than %d characters", path, limit))
		}
	case FieldCode:
		if !majorCodeForm.MatchString(s) || int64(len(s)) > f.maxOr(20) {
			return nil, false, domain.Invalid(path, f.Label+"只能包含字母、数字和“-”，最长"+strconv.FormatInt(f.maxOr(20), 10)+"位", fmt.Sprintf("%s: %q is not a code", path, clipInput(s)))
		}
	case FieldURL:
		u, err := url.Parse(s)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || len(s) > maxURLBytes {
			return nil, false, domain.Invalid(path, f.Label+"须为以 http:// 或 https:// 开头的网址", fmt.Sprintf("%s: %q is not an http(s) URL", path, clipInput(s)))
		}
	case FieldSchool:
		if !schoolIDForm.MatchString(s) {
			return nil, false, domain.Invalid(path, f.Label+"须为学校标识，只能包含字母、数字、“.”、“_”和“-”", fmt.Sprintf("%s: %q is not a school id", path, clipInput(s)))
		}
	}
	return s, true, nil
}

func (f Field) maxOr(def int64) int64 {
	if f.Max > 0 {
		return f.Max
	}
	return def
}

// Complete returns a *domain.FieldError naming the first required field that
// is missing, or a rule between fields that fails; nil when the fields may be
// submitted. school is the application's school (the lead school when a
// province files).
func (s Schema) Complete(fs Fields, school string) error {
	for _, f := range s.Fields {
		v, ok := fs[f.Key]
		if !ok {
			if f.Required {
				return domain.Invalid(fieldPath(f.Key), "提交前请填写"+f.Label, fmt.Sprintf("%s is required to submit", fieldPath(f.Key)))
			}
			continue
		}
		if list, ok := v.([]string); ok && int64(len(list)) < f.Min {
			return domain.Invalid(fieldPath(f.Key), fmt.Sprintf("%s至少应有%d所", f.Label, f.Min),
				fmt.Sprintf("%s has %d schools, fewer than %d", fieldPath(f.Key), len(list), f.Min))
		}
	}
	if s.TaskType == "LMJT" {
		lead, _ := fs["lead_school"].(string)
		members, _ := fs["members"].([]string)
		switch {
		case !slices.Contains(members, lead):
			return domain.Invalid(fieldPath("lead_school"), "牵头学校须是成员学校之一", "lead_school is not among members")
		case lead != school:
			return domain.Invalid(fieldPath("lead_school"), "牵头学校须是本申报的申报学校 "+school, fmt.Sprintf("lead_school %s is not the application's school %s", lead, school))
		}
	}
	return nil
}

// Encode renders validated fields as ApplicationEdited.Content: text as is,
// numbers in decimal, school lists as JSON arrays.
func (fs Fields) Encode() map[string]string {
	if len(fs) == 0 {
		return nil
	}
	out := make(map[string]string, len(fs))
	for k, v := range fs {
		switch v := v.(type) {
		case string:
			out[k] = v
		case int64:
			out[k] = strconv.FormatInt(v, 10)
		case []string:
			b, _ := json.Marshal(v) // a []string always encodes
			out[k] = string(b)
		}
	}
	return out
}

// DecodeContent reads ApplicationEdited.Content back into typed fields by the
// schema. Keys the schema does not know are kept as text, so that history
// recorded under an older schema still reads.
func (s Schema) DecodeContent(content map[string]string) (Fields, error) {
	out := Fields{}
	for k, v := range content {
		f, ok := s.field(k)
		if !ok {
			out[k] = v
			continue
		}
		switch f.Kind {
		case FieldCount, FieldYear:
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("content %s: %w", k, err)
			}
			out[k] = n
		case FieldSchools:
			var list []string
			if err := json.Unmarshal([]byte(v), &list); err != nil {
				return nil, fmt.Errorf("content %s: %w", k, err)
			}
			out[k] = list
		default:
			out[k] = v
		}
	}
	return out, nil
}

func clipInput(s string) string {
	if r := []rune(s); len(r) > 32 {
		return string(r[:32]) + "…"
	}
	return s
}

// MemberSchools returns, sorted and without repeats, the schools an
// application's content names besides its applicant (an alliance's members and
// lead school, a course's co-building schools): the expert conflict of the
// same alliance is checked against them.
func MemberSchools(taskType string, content map[string]string) []string {
	s, ok := Schemas[taskType]
	if !ok || len(content) == 0 {
		return nil
	}
	fs, err := s.DecodeContent(content)
	if err != nil {
		return nil
	}
	var out []string
	for _, f := range s.Fields {
		switch v := fs[f.Key].(type) {
		case string:
			if f.Kind == FieldSchool && v != "" {
				out = append(out, v)
			}
		case []string:
			if f.Kind == FieldSchools {
				out = append(out, v...)
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}
