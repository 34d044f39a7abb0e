package intent

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
)

// Yuan is an exact amount of money in yuan. The intent form is kept in 万元 with at
// most four decimals, which is exactly one yuan, so integers lose nothing and no
// float is ever involved.
type Yuan int64

// YuanPerWan is how many yuan one 万元 holds.
const YuanPerWan = 10000

// MaxWan bounds one amount: 1 亿万元 (one trillion yuan) is far above any task's
// budget and keeps every sum over a national round far from int64's limit.
const MaxWan = 100_000_000

// MaxYuan is MaxWan in yuan.
const MaxYuan Yuan = MaxWan * YuanPerWan

// Errors of ParseWan; callers wrap them into a field error.
var (
	ErrNotNumber    = errors.New("not a decimal number")
	ErrNegative     = errors.New("negative")
	ErrTooPrecise   = errors.New("more than 4 decimals of 万元")
	ErrTooLarge     = errors.New("above the maximum amount")
	ErrEmptyMoney   = errors.New("empty")
	errSumOverflows = errors.New("sum overflows")
)

// ParseWan parses a non-negative decimal amount of 万元 ("12", "12.5", "0.0001")
// into yuan. It accepts plain decimal notation only: no sign, exponent, spaces
// or thousands separators.
func ParseWan(s string) (Yuan, error) { return parseWan(s, MaxYuan) }

// parseWan is ParseWan with its own bound, so that a client's total, which may
// exceed the bound of one amount, is read by the same rules.
func parseWan(s string, limit Yuan) (Yuan, error) {
	if s == "" {
		return 0, ErrEmptyMoney
	}
	if s[0] == '-' {
		if _, err := parseWan(s[1:], limit); err == nil || !errors.Is(err, ErrNotNumber) {
			return 0, ErrNegative
		}
		return 0, ErrNotNumber
	}
	whole, frac, hasDot := strings.Cut(s, ".")
	if whole == "" || (hasDot && frac == "") || !digits(whole) || !digits(frac) {
		return 0, ErrNotNumber
	}
	if len(frac) > 4 {
		// Trailing zeros add no precision: "1.50000" is 1.5.
		trimmed := strings.TrimRight(frac, "0")
		if len(trimmed) > 4 {
			return 0, ErrTooPrecise
		}
		frac = trimmed
	}
	whole = strings.TrimLeft(whole, "0")
	if len(whole) > len(fmt.Sprint(int64(limit)/YuanPerWan)) {
		return 0, ErrTooLarge
	}
	var w int64
	for _, c := range whole {
		w = w*10 + int64(c-'0')
	}
	var f int64
	for i := 0; i < 4; i++ {
		f *= 10
		if i < len(frac) {
			f += int64(frac[i] - '0')
		}
	}
	// w*YuanPerWan+f <= limit, checked without computing a product that could overflow.
	if w > (int64(limit)-f)/YuanPerWan {
		return 0, ErrTooLarge
	}
	return Yuan(w*YuanPerWan + f), nil
}

func digits(s string) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// Wan formats y in 万元 with as few decimals as it needs ("12.5", "0.0001", "3").
func (y Yuan) Wan() string {
	sign := ""
	v := int64(y)
	if v < 0 {
		sign, v = "-", -v
	}
	w, f := v/YuanPerWan, v%YuanPerWan
	if f == 0 {
		return fmt.Sprintf("%s%d", sign, w)
	}
	return strings.TrimRight(fmt.Sprintf("%s%d.%04d", sign, w, f), "0")
}

// WanFixed formats y in 万元 with exactly four decimals, for printed forms.
func (y Yuan) WanFixed() string {
	v := int64(y)
	sign := ""
	if v < 0 {
		sign, v = "-", -v
	}
	return fmt.Sprintf("%s%d.%04d", sign, v/YuanPerWan, v%YuanPerWan)
}

// Add returns y+z, or an error when the sum would overflow.
func (y Yuan) Add(z Yuan) (Yuan, error) {
	if (z > 0 && y > math.MaxInt64-z) || (z < 0 && y < math.MinInt64-z) {
		return 0, errSumOverflows
	}
	return y + z, nil
}

// Source is one of the five funding sources of the intent form.
type Source string

const (
	SourceSchool     Source = "school"     // 学校自筹
	SourceIndustry   Source = "industry"   // 行业企业投入
	SourceSponsor    Source = "sponsor"    // 举办方投入
	SourceMunicipal  Source = "municipal"  // 地市县投入
	SourceProvincial Source = "provincial" // 省财政投入
)

// Sources lists the funding sources in the order of the notice's form.
var Sources = []Source{SourceSchool, SourceIndustry, SourceSponsor, SourceMunicipal, SourceProvincial}

// Label is the source's column heading on the form.
func (s Source) Label() string {
	switch s {
	case SourceSchool:
		return "学校自筹"
	case SourceIndustry:
		return "行业企业投入"
	case SourceSponsor:
		return "举办方投入"
	case SourceMunicipal:
		return "地市县投入"
	case SourceProvincial:
		return "省财政投入"
	}
	return string(s)
}

// Funds is money per funding source, in yuan.
type Funds struct {
	School     Yuan `json:"school"`
	Industry   Yuan `json:"industry"`
	Sponsor    Yuan `json:"sponsor"`
	Municipal  Yuan `json:"municipal"`
	Provincial Yuan `json:"provincial"`
}

// Get returns the amount of one source.
func (f Funds) Get(s Source) Yuan {
	switch s {
	case SourceSchool:
		return f.School
	case SourceIndustry:
		return f.Industry
	case SourceSponsor:
		return f.Sponsor
	case SourceMunicipal:
		return f.Municipal
	case SourceProvincial:
		return f.Provincial
	}
	return 0
}

// Set sets the amount of one source.
func (f *Funds) Set(s Source, y Yuan) {
	switch s {
	case SourceSchool:
		f.School = y
	case SourceIndustry:
		f.Industry = y
	case SourceSponsor:
		f.Sponsor = y
	case SourceMunicipal:
		f.Municipal = y
	case SourceProvincial:
		f.Provincial = y
	}
}

// Total is the sum over the sources (投入经费汇总).
func (f Funds) Total() (Yuan, error) {
	var t Yuan
	for _, s := range Sources {
		var err error
		if t, err = t.Add(f.Get(s)); err != nil {
			return 0, err
		}
	}
	return t, nil
}

// Plus adds g to f source by source.
func (f Funds) Plus(g Funds) (Funds, error) {
	var out Funds
	for _, s := range Sources {
		v, err := f.Get(s).Add(g.Get(s))
		if err != nil {
			return Funds{}, err
		}
		out.Set(s, v)
	}
	return out, nil
}

// MarshalJSON keeps yuan as a JSON integer; it is declared so that the encoding
// is explicit and never a float.
func (y Yuan) MarshalJSON() ([]byte, error) { return json.Marshal(int64(y)) }
