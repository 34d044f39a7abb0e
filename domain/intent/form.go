package intent

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
)

// FormInput is an intent form as a client sends it. Values stay raw JSON until
// Validate reads them, so that a wrong type ("abc" for money, a string for a
// quantity) is reported against the exact field that carries it.
type FormInput struct {
	Lines []LineInput `json:"lines"`
	// Total, when sent, must equal the server's total (投入经费汇总 of the form).
	Total json.RawMessage `json:"total,omitempty"`
}

// LineInput is one row of a FormInput.
type LineInput struct {
	Item      string                     `json:"item"`
	Undertake json.RawMessage            `json:"undertake,omitempty"` // true or false
	Quantity  json.RawMessage            `json:"quantity,omitempty"`  // a non-negative integer
	Funds     map[string]json.RawMessage `json:"funds,omitempty"`     // source → 万元, number or string
	Total     json.RawMessage            `json:"total,omitempty"`     // optional; must equal the server's sum
	Units     json.RawMessage            `json:"units,omitempty"`     // 实施单位: school codes of the register
}

// MaxQuantity bounds 承接数量: national targets are in the hundreds, so a million
// is a typing error, and the bound keeps every count far from int64's limit.
const MaxQuantity = 1_000_000

// Errors of the raw-value readers below; Validate turns them into field errors.
var (
	ErrExponent         = errors.New("exponent notation")
	ErrNotBool          = errors.New("not a boolean")
	ErrNotInteger       = errors.New("not a non-negative integer")
	ErrQuantityNegative = errors.New("negative quantity")
	ErrQuantityTooLarge = errors.New("quantity above the maximum")
)

// absent reports whether a raw value was left out: missing, JSON null, or an empty
// string (a blank cell of a web form). Any of them means "nothing entered".
func absent(raw json.RawMessage) bool {
	t := bytes.TrimSpace(raw)
	return len(t) == 0 || string(t) == "null" || string(t) == `""`
}

// ParseMoney reads one amount of 万元 as the client sent it: a JSON number, whose
// literal text is parsed exactly (never through float64), or a JSON string holding
// a plain decimal. present is false when nothing was entered. Errors: ErrNotNumber
// (also for booleans, objects and arrays), ErrExponent, ErrNegative, ErrTooPrecise,
// ErrTooLarge.
func ParseMoney(raw json.RawMessage) (y Yuan, present bool, err error) {
	return parseMoney(raw, MaxYuan)
}

// parseMoney is ParseMoney up to limit yuan.
func parseMoney(raw json.RawMessage, limit Yuan) (y Yuan, present bool, err error) {
	if absent(raw) {
		return 0, false, nil
	}
	t := bytes.TrimSpace(raw)
	s := string(t)
	if t[0] == '"' {
		if err := json.Unmarshal(t, &s); err != nil {
			return 0, true, ErrNotNumber
		}
	} else if t[0] != '-' && (t[0] < '0' || t[0] > '9') {
		return 0, true, ErrNotNumber // true, false, {…}, […] or garbage
	}
	if strings.ContainsAny(s, "eE") {
		// Report the exponent only when the rest is a number, so that "abc" is
		// not called exponent notation.
		if exponentNumber(s) {
			return 0, true, ErrExponent
		}
		return 0, true, ErrNotNumber
	}
	y, err = parseWan(s, limit)
	if errors.Is(err, ErrEmptyMoney) {
		err = ErrNotNumber
	}
	return y, true, err
}

// ParseQuantity reads 承接数量: a JSON integer literal from 0 to MaxQuantity. A
// string ("3"), a fraction (1.5), an exponent (3e0) or a boolean is refused with
// ErrNotInteger; present is false when nothing was entered (see absent). Errors: ErrNotInteger,
// ErrQuantityNegative, ErrQuantityTooLarge.
func ParseQuantity(raw json.RawMessage) (q int64, present bool, err error) {
	if absent(raw) {
		return 0, false, nil
	}
	s := string(bytes.TrimSpace(raw))
	negative := s[0] == '-'
	if negative {
		s = s[1:]
	}
	if s == "" || !digits(s) {
		return 0, true, ErrNotInteger
	}
	if negative {
		return 0, true, ErrQuantityNegative
	}
	s = strings.TrimLeft(s, "0")
	if len(s) > len(strconv.Itoa(MaxQuantity)) {
		return 0, true, ErrQuantityTooLarge
	}
	q, err = strconv.ParseInt("0"+s, 10, 64)
	if err != nil || q > MaxQuantity {
		return 0, true, ErrQuantityTooLarge
	}
	return q, true, nil
}

// ParseUndertake reads 是否承接: JSON true or false; present is false when
// nothing was entered (see absent). Error: ErrNotBool.
func ParseUndertake(raw json.RawMessage) (v bool, present bool, err error) {
	if absent(raw) {
		return false, false, nil
	}
	switch string(bytes.TrimSpace(raw)) {
	case "true":
		return true, true, nil
	case "false":
		return false, true, nil
	}
	return false, true, ErrNotBool
}

// exponentNumber reports whether s is a decimal with an exponent, such as "1e3",
// "-2.5E-1" or "1e+3".
func exponentNumber(s string) bool {
	s = strings.TrimPrefix(s, "-")
	i := strings.IndexAny(s, "eE")
	mant, exp := s[:i], strings.TrimLeft(s[i+1:], "+-")
	if len(exp) == 0 || !digits(exp) || len(s[i+1:])-len(exp) > 1 {
		return false
	}
	whole, frac, hasDot := strings.Cut(mant, ".")
	return whole != "" && digits(whole) && digits(frac) && !(hasDot && frac == "")
}
