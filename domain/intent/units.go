package intent

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"keytask/domain"
	"keytask/domain/identity"
)

// School is a school of the register as the intent form needs it: its code,
// its official name and the province it belongs to.
type School struct {
	Code     string `json:"code"`
	Name     string `json:"name"`
	Province string `json:"province"`
}

// Unit is one 实施单位 of an undertaken row: a school of the province, with
// the name the register gave it when the form was saved, so that the log
// reads as the province saw it.
type Unit struct {
	Code string `json:"code"`
	Name string `json:"name"`
}

// MaxUnitsPerLine bounds the 实施单位 of one row: the largest national target
// is 500, so a province never names more schools than that for one task.
const MaxUnitsPerLine = 500

// parseUnits reads a row's 实施单位 as the client sent them: a JSON array of
// school codes, or nothing. Codes are trimmed; a repeated code is refused.
// The codes come back in the order sent, with empty names: only the register
// can name them (see CheckUnits).
func parseUnits(at, who string, raw json.RawMessage) ([]Unit, error) {
	if absent(raw) {
		return nil, nil
	}
	field := at + ".units"
	var codes []json.RawMessage
	if t := bytes.TrimSpace(raw); t[0] != '[' || json.Unmarshal(t, &codes) != nil {
		return nil, domain.Invalid(field, who+"：实施单位须为学校代码的列表", field+": not an array of school codes")
	}
	if len(codes) > MaxUnitsPerLine {
		return nil, domain.Invalid(field, fmt.Sprintf("%s：实施单位不能超过 %d 所学校", who, MaxUnitsPerLine),
			fmt.Sprintf("%s: %d units, more than %d", field, len(codes), MaxUnitsPerLine))
	}
	out := make([]Unit, 0, len(codes))
	for j, c := range codes {
		at := fmt.Sprintf("%s[%d]", field, j)
		var code string
		if json.Unmarshal(c, &code) != nil {
			return nil, domain.Invalid(at, fmt.Sprintf("%s：第%d个实施单位须为学校代码（文本）", who, j+1), at+": not a string")
		}
		code = strings.TrimSpace(code)
		switch {
		case code == "":
			return nil, domain.Invalid(at, fmt.Sprintf("%s：第%d个实施单位未填写学校代码", who, j+1), at+": empty school code")
		case !identity.IsSchoolID(code):
			return nil, domain.Invalid(at, fmt.Sprintf("%s：学校代码“%s”格式不对", who, clip(code)),
				fmt.Sprintf("%s: malformed school code %q", at, clip(code)))
		}
		for k, u := range out {
			if u.Code == code {
				return nil, domain.Invalid(at, fmt.Sprintf("%s：实施单位“%s”与第%d个重复", who, code, k+1),
					fmt.Sprintf("%s: school %s repeats %s[%d]", at, code, field, k))
			}
		}
		out = append(out, Unit{Code: code})
	}
	return out, nil
}

// CheckUnits holds each 实施单位 of a validated form against the register:
// every school must be registered and belong to the form's province. schools
// maps the codes the form names to what the register holds (a code it does
// not know is absent); the names are filled in from it. Field names are those
// of the input, so in must be the input form was validated from.
func CheckUnits(form Form, in FormInput, province string, schools map[string]School) (Form, error) {
	at := map[string]int{}
	for i, li := range in.Lines {
		at[li.Item] = i
	}
	lines := make([]Line, len(form.Lines))
	for k, l := range form.Lines {
		lines[k] = l
		if len(l.Units) == 0 {
			continue
		}
		units := make([]Unit, len(l.Units))
		who := "任务（项目）" + l.Item
		for j, u := range l.Units {
			field := fmt.Sprintf("lines[%d].units[%d]", at[l.Item], j)
			s, ok := schools[u.Code]
			switch {
			case !ok:
				return Form{}, domain.Invalid(field, fmt.Sprintf("%s：实施单位“%s”不在学校名录中，请先登记该校", who, u.Code),
					fmt.Sprintf("%s: school %s is not in the register", field, u.Code))
			case s.Province != province:
				return Form{}, domain.Invalid(field,
					fmt.Sprintf("%s：实施单位“%s”属于%s，只能选择%s的学校", who, s.Name, provinceName(s.Province), provinceName(province)),
					fmt.Sprintf("%s: school %s belongs to %s, not %s", field, u.Code, s.Province, province))
			}
			units[j] = Unit{Code: s.Code, Name: s.Name}
		}
		lines[k].Units = units
	}
	form.Lines = lines
	return form, nil
}

// UnitCodes lists the distinct school codes a form input names, in order of
// appearance; unreadable entries are skipped (Validate reports them).
func UnitCodes(in FormInput) []string {
	var out []string
	seen := map[string]bool{}
	for _, li := range in.Lines {
		var codes []string
		if absent(li.Units) || json.Unmarshal(li.Units, &codes) != nil {
			continue
		}
		for _, c := range codes {
			if c = strings.TrimSpace(c); c != "" && !seen[c] && len(out) < MaxUnitsPerLine*MaxItemsPerBatch {
				seen[c] = true
				out = append(out, c)
			}
		}
	}
	return out
}

func provinceName(code string) string {
	if n, ok := identity.Provinces[code]; ok {
		return n
	}
	return code
}
