// Package importrows holds the rules for importing the ministry's registers
// (schools, experts, users) from a workbook row by row: the template's
// columns, and each row read into a validated record or a *domain.FieldError
// that names its column.
package importrows

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"keytask/domain"
	"keytask/domain/identity"
	"keytask/domain/register"
	"keytask/domain/selection"
)

// Sheet is the kind of register a workbook imports.
type Sheet string

// The registers the ministry imports.
const (
	SheetSchools Sheet = "schools"
	SheetExperts Sheet = "experts"
	SheetUsers   Sheet = "users"
)

// Sheets lists the registers that import.
var Sheets = []Sheet{SheetSchools, SheetExperts, SheetUsers}

// Title names a register in Chinese, for the workbook's sheet and the report.
func (s Sheet) Title() string {
	return map[Sheet]string{SheetSchools: "技工院校名录", SheetExperts: "专家库", SheetUsers: "用户名单"}[s]
}

// Column is one column of an import template. A workbook's first row names
// its columns by Header; its rows fill the record's Field.
type Column struct {
	Header   string `json:"header"`
	Field    string `json:"field"` // as a *domain.FieldError names it
	Required bool   `json:"required"`
	Example  string `json:"example"`
	Note     string `json:"note"`
}

// RowError is one bad row of an import: the worksheet row (the header is row
// 1), the column's header (empty when the row as a whole is at fault) and the
// reason, in Simplified Chinese.
type RowError struct {
	Row    int    `json:"row"`
	Column string `json:"column,omitempty"`
	Reason string `json:"reason"`
}

const listNote = "多项以“;”或“、”分隔"

// Columns returns the template's columns of a register, in order; nil for an
// unknown sheet.
func Columns(s Sheet) []Column {
	switch s {
	case SheetSchools:
		return []Column{
			{Header: "学校标识", Field: "code", Required: true, Example: "SCH-11-001", Note: "学校的唯一标识，与学校用户的所属单位相同；字母、数字、“.”、“_”、“-”，最长64位"},
			{Header: "院校全称", Field: "name", Required: true, Example: "北京市工贸技师学院", Note: "学校的正式名称，最长100个字"},
			{Header: "所在省份", Field: "province", Required: true, Example: "11", Note: "两位省级行政区划代码（如 11）或省份全称（如 北京市）"},
			{Header: "院校类别", Field: "kind", Required: true, Example: string(register.KindTechnicianCollege), Note: "技师学院、高级技工学校、技工学校 之一"},
		}
	case SheetExperts:
		cols := []Column{
			{Header: "专家ID", Field: "expert_id", Required: true, Example: "zhang.san", Note: "专家的用户ID：小写字母、数字、“.”、“_”、“-”"},
			{Header: "姓名", Field: "name", Required: true, Example: "张三"},
			{Header: "所在省份", Field: "province", Example: "11", Note: "两位省级行政区划代码或省份全称；国家级单位的专家留空"},
			{Header: "工作单位学校标识", Field: "employer", Example: "SCH-11-001", Note: "工作单位为技工院校时填写学校标识，否则留空"},
			{Header: "评审工作量上限", Field: "load", Required: true, Example: "20", Note: "最多评审的申报数，正整数"},
		}
		for _, task := range slices.Sorted(maps.Keys(selection.Schemas)) {
			cols = append(cols, Column{Header: "专业水平-" + task, Field: "expertise." + task, Example: "0",
				Note: selection.Schemas[task].Name + "：0 不评审，1 到 3 为专业水平，空白即 0"})
		}
		cols[len(cols)-1].Example = "3"
		return append(cols,
			Column{Header: "所属联盟", Field: "alliances", Note: "联盟（集团）标识，" + listNote},
			Column{Header: "回避学校", Field: "conflict_schools", Example: "SCH-11-002", Note: "须回避的学校标识，" + listNote},
		)
	case SheetUsers:
		return []Column{
			{Header: "用户ID", Field: "user_id", Required: true, Example: "sch-11-001", Note: "登录名：小写字母、数字、“.”、“_”、“-”"},
			{Header: "名称", Field: "name", Required: true, Example: "北京市工贸技师学院"},
			{Header: "角色", Field: "role", Required: true, Example: identity.RoleSchool.Label(), Note: roleNote()},
			{Header: "所属单位", Field: "organisation", Required: true, Example: "SCH-11-001",
				Note: "部：MOHRSS；省级人社厅：两位省份代码；技工院校：学校标识；其他：单位名称"},
		}
	}
	return nil
}

func roleNote() string {
	parts := make([]string, len(identity.Roles))
	for i, r := range identity.Roles {
		parts[i] = r.Label() + "（" + string(r) + "）"
	}
	return strings.Join(parts, "、") + " 之一"
}

// Header returns the header of the column that fills field, or "" when none
// does. An expert's "expertise" error, about the levels as a whole, names the
// first level column.
func Header(s Sheet, field string) string {
	for _, c := range Columns(s) {
		if c.Field == field || field == "expertise" && strings.HasPrefix(c.Field, "expertise.") {
			return c.Header
		}
	}
	return ""
}

// Cells is one row of a workbook, its text by field.
type Cells map[string]string

// Key is the identifier a row of the register carries: the same key in two
// rows of one workbook is a mistake.
func (c Cells) Key(s Sheet) string {
	switch s {
	case SheetSchools:
		return strings.TrimSpace(c["code"])
	case SheetExperts:
		return strings.TrimSpace(c["expert_id"])
	}
	return strings.TrimSpace(c["user_id"])
}

// KeyField is the field Key reads.
func KeyField(s Sheet) string {
	return map[Sheet]string{SheetSchools: "code", SheetExperts: "expert_id", SheetUsers: "user_id"}[s]
}

// SchoolFromRow reads and validates a school row. Errors: *domain.FieldError.
func SchoolFromRow(c Cells) (register.School, error) {
	return register.Normalize(register.School{Code: c["code"], Name: c["name"], Province: provinceCode(c["province"]), Kind: register.Kind(c["kind"])})
}

// ExpertFromRow reads and validates an expert row. The workbook does not carry
// the applications an expert declared a conflict with nor their former
// employers; the caller keeps the recorded ones. Errors: *domain.FieldError.
func ExpertFromRow(c Cells) (selection.ExpertRegistered, error) {
	e := selection.ExpertRegistered{ExpertID: c["expert_id"], Name: c["name"], Province: provinceCode(c["province"]),
		Employer: c["employer"], Expertise: map[string]int{}, Alliances: splitList(c["alliances"]), ConflictSchools: splitList(c["conflict_schools"])}
	load, err := wholeNumber(c["load"])
	if err != nil {
		return e, domain.Invalid("load", "评审工作量上限应为正整数", "load is not a whole number")
	}
	e.Load = load
	for _, task := range slices.Sorted(maps.Keys(selection.Schemas)) {
		text := strings.TrimSpace(c["expertise."+task])
		if text == "" {
			continue
		}
		level, err := wholeNumber(text)
		if err != nil {
			return e, domain.Invalid("expertise."+task, "专业水平应为0到3之间的整数", "level is not a whole number")
		}
		e.Expertise[task] = level
	}
	return selection.NormalizeExpert(e)
}

// UserFromRow reads and validates a user row; the role may be written as its
// code or its Chinese name. Errors: *domain.FieldError.
func UserFromRow(c Cells) (identity.Principal, error) {
	role := identity.Role(strings.TrimSpace(c["role"]))
	for _, r := range identity.Roles {
		if string(role) == r.Label() {
			role = r
		}
	}
	p := identity.Principal{UserID: c["user_id"], Name: c["name"], Role: role, Organisation: provinceCodeFor(role, c["organisation"])}.Normalize()
	return p, p.Validate()
}

// FromRow validates a row of sheet s and returns its record: a register.School, a
// selection.ExpertRegistered or an identity.Principal. Errors: *domain.FieldError.
func FromRow(s Sheet, c Cells) (any, error) {
	switch s {
	case SheetSchools:
		return SchoolFromRow(c)
	case SheetExperts:
		return ExpertFromRow(c)
	case SheetUsers:
		return UserFromRow(c)
	}
	return nil, domain.Invalid("sheet", "未知的名录类型", fmt.Sprintf("unknown sheet %q", s))
}

// RowErrorOf turns a row's *domain.FieldError into a RowError naming the
// column. Any other error is returned as is.
func RowErrorOf(s Sheet, row int, err error) (RowError, error) {
	var fe *domain.FieldError
	if !errors.As(err, &fe) {
		return RowError{}, err
	}
	return RowError{Row: row, Column: Header(s, fe.Field), Reason: fe.Message}, nil
}

// provinceCode accepts a province's code or its full name, as a clerk types it.
func provinceCode(text string) string {
	text = strings.TrimSpace(text)
	for code, name := range identity.Provinces {
		if text == name {
			return code
		}
	}
	return text
}

func provinceCodeFor(r identity.Role, org string) string {
	if r == identity.RoleProvince {
		return provinceCode(org)
	}
	return org
}

func wholeNumber(text string) (int, error) {
	text = strings.TrimSpace(text)
	// Spreadsheets hand whole numbers back as "20" or, once formatted, "20.0".
	if whole, frac, ok := strings.Cut(text, "."); ok {
		if strings.Trim(frac, "0") != "" {
			return 0, strconv.ErrSyntax
		}
		text = whole
	}
	return strconv.Atoi(text)
}

func splitList(text string) []string {
	fields := strings.FieldsFunc(text, func(r rune) bool { return r == ';' || r == '；' || r == '、' || r == ',' || r == '，' })
	var out []string
	for _, f := range fields {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}
