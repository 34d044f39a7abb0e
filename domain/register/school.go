// Package register holds the rules of the register of schools (技工院校名录)
// that the ministry keeps, whose code is the school id a school user acts for
// (domain/importrows reads it from a workbook). Rules are pure: input in, a
// normalised record or a *domain.FieldError naming the field out.
package register

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"keytask/domain"
	"keytask/domain/identity"
)

// Kind is a school's kind (院校类别).
type Kind string

// The kinds of technical schools.
const (
	KindTechnicianCollege     Kind = "技师学院"
	KindSeniorTechnicalSchool Kind = "高级技工学校"
	KindTechnicalSchool       Kind = "技工学校"
)

// Limits of a school's record, and of bad input echoed back in errors.
const (
	maxSchoolNameRunes = 100
	maxInputEcho       = 80
)

// Kinds lists the kinds in the order forms offer them.
var Kinds = []Kind{KindTechnicianCollege, KindSeniorTechnicalSchool, KindTechnicalSchool}

// Valid reports whether k is one of Kinds.
func (k Kind) Valid() bool {
	return k == KindTechnicianCollege || k == KindSeniorTechnicalSchool || k == KindTechnicalSchool
}

// School is one school of the register.
type School struct {
	// Code identifies the school: the same string a school user's
	// Organisation holds, so the policy and the register agree on who is who.
	Code     string `json:"code"`
	Name     string `json:"name"`     // official name (院校全称)
	Province string `json:"province"` // two-digit code of identity.Provinces
	Kind     Kind   `json:"kind"`
}

// ProvinceName is the name of the school's province.
func (s School) ProvinceName() string { return identity.Provinces[s.Province] }

// Normalize validates a school and returns it trimmed. Errors:
// *domain.FieldError naming "code", "name", "province" or "kind".
func Normalize(s School) (School, error) {
	s.Code, s.Name = strings.TrimSpace(s.Code), strings.TrimSpace(s.Name)
	s.Province, s.Kind = strings.TrimSpace(s.Province), Kind(strings.TrimSpace(string(s.Kind)))
	switch {
	case s.Code == "":
		return s, domain.Invalid("code", "请填写学校标识", "code is required")
	case !identity.IsSchoolID(s.Code):
		return s, domain.Invalid("code", "学校标识只能包含字母、数字、“.”、“_”和“-”，以字母或数字开头，最长64位（与学校用户的所属单位相同，如 SCH-11-001）",
			fmt.Sprintf("code %q is malformed", clip(s.Code)))
	case s.Name == "":
		return s, domain.Invalid("name", "请填写院校全称", "name is required")
	case utf8.RuneCountInString(s.Name) > maxSchoolNameRunes:
		return s, domain.Invalid("name", fmt.Sprintf("院校全称不能超过%d个字", maxSchoolNameRunes), "name too long")
	case s.Province == "":
		return s, domain.Invalid("province", "请填写所在省份的两位行政区划代码，如 11（北京市）", "province is required")
	case identity.Provinces[s.Province] == "":
		return s, domain.Invalid("province", "所在省份应为两位省级行政区划代码，如 11（北京市）、66（新疆生产建设兵团）",
			fmt.Sprintf("province %q is not a province code", clip(s.Province)))
	case s.Kind == "":
		return s, domain.Invalid("kind", "请填写院校类别：技师学院、高级技工学校或技工学校", "kind is required")
	case !s.Kind.Valid():
		return s, domain.Invalid("kind", "院校类别应为 技师学院、高级技工学校、技工学校 之一",
			fmt.Sprintf("kind %q is not a school kind", clip(string(s.Kind))))
	}
	return s, nil
}

// RegisterSchool decides adding a school to the register. existing tells
// whether the school's stream has events. Errors: *domain.FieldError,
// *domain.ConflictError when the code is taken.
func RegisterSchool(existing bool, s School) (SchoolRegistered, error) {
	s, err := Normalize(s)
	if err != nil {
		return SchoolRegistered(s), err
	}
	if existing {
		return SchoolRegistered(s), domain.Conflict("code", "该学校标识已在名录中，请修改该校信息",
			fmt.Sprintf("school %s is registered", s.Code))
	}
	return SchoolRegistered(s), nil
}

// UpdateSchool decides replacing a registered school's record; changed is
// false when nothing differs. Errors: *domain.FieldError.
func UpdateSchool(current, s School) (SchoolUpdated, bool, error) {
	s, err := Normalize(s)
	if err != nil {
		return SchoolUpdated(s), false, err
	}
	if s.Code != current.Code {
		return SchoolUpdated(s), false, domain.Invalid("code", "学校标识不能修改", fmt.Sprintf("code %q differs from %q", clip(s.Code), current.Code))
	}
	return SchoolUpdated(s), s != current, nil
}

// Fold returns the school that evs, the payloads of one school's stream in
// order, describe; found is false before its registration.
func Fold(evs ...any) (s School, found bool) {
	for _, e := range evs {
		switch e := e.(type) {
		case SchoolRegistered:
			s, found = School(e), true
		case SchoolUpdated:
			s = School(e)
		}
	}
	return s, found
}

func clip(s string) string {
	if utf8.RuneCountInString(s) <= maxInputEcho {
		return s
	}
	return string([]rune(s)[:maxInputEcho]) + "…"
}
