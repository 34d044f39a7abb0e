package intent_test

import (
	"encoding/json"
	"errors"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"keytask/domain"
	"keytask/domain/intent"
)

// plainDecimal is the only notation ParseWan may accept.
var (
	plainDecimal = regexp.MustCompile(`^[0-9]+(\.[0-9]+)?$`)
	digitsOnly   = regexp.MustCompile(`^[0-9]+$`)
)

// FuzzParseWan: an accepted amount is plain decimal notation within bounds, and
// formatting it and parsing it again gives the same yuan; a refused one names
// one of the documented reasons.
func FuzzParseWan(f *testing.F) {
	for _, s := range []string{"0", "12", "12.5", "0.0001", "1.50000", "100000000", "100000000.0001",
		"-1", "-abc", "1e3", " 1", "1.", ".5", "00012.3400", "1,000", "١٢", "9223372036854775807"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		y, err := intent.ParseWan(s)
		if err != nil {
			if !errors.Is(err, intent.ErrNotNumber) && !errors.Is(err, intent.ErrNegative) &&
				!errors.Is(err, intent.ErrTooPrecise) && !errors.Is(err, intent.ErrTooLarge) && !errors.Is(err, intent.ErrEmptyMoney) {
				t.Fatalf("ParseWan(%q): undocumented error %v", s, err)
			}
			if y != 0 {
				t.Fatalf("ParseWan(%q) refused but returned %d", s, y)
			}
			return
		}
		if !plainDecimal.MatchString(s) {
			t.Fatalf("ParseWan(%q) accepted a value that is not plain decimal notation", s)
		}
		if y < 0 || y > intent.MaxYuan {
			t.Fatalf("ParseWan(%q) = %d, outside 0..MaxYuan", s, y)
		}
		for _, again := range []string{y.Wan(), y.WanFixed()} {
			z, err := intent.ParseWan(again)
			if err != nil || z != y {
				t.Fatalf("ParseWan(%q) = %d, formatted %q, which parses to %d, %v", s, y, again, z, err)
			}
		}
	})
}

// FuzzParseMoney: the JSON reader of one amount accepts exactly what ParseWan
// accepts, whether sent as a number or a string, and never goes through float.
func FuzzParseMoney(f *testing.F) {
	for _, s := range []string{`12.5`, `"12.5"`, `null`, `""`, `true`, `{}`, `[1]`, `1e3`, `"1E+3"`, `-0`, `"-1"`,
		`0.00001`, `"\u0031"`, `"abc"`, `   7  `, `"1.0000000"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		y, present, err := intent.ParseMoney(raw)
		if !present {
			if err != nil || y != 0 {
				t.Fatalf("ParseMoney(%q): absent but %d, %v", raw, y, err)
			}
			return
		}
		if err != nil {
			return // the reasons are checked through Validate's field errors
		}
		// An accepted value is either a JSON number or a string holding one.
		text := strings.TrimSpace(string(raw))
		var s string
		if strings.HasPrefix(text, `"`) {
			if json.Unmarshal([]byte(text), &s) != nil {
				t.Fatalf("ParseMoney(%q) accepted an invalid JSON string", raw)
			}
		} else {
			s = text
		}
		want, err := intent.ParseWan(s)
		if err != nil || want != y {
			t.Fatalf("ParseMoney(%q) = %d but ParseWan(%q) = %d, %v", raw, y, s, want, err)
		}
		// As a JSON number or a string, the formatted amount reads back the same.
		for _, again := range []string{y.Wan(), strconv.Quote(y.WanFixed())} {
			z, ok, err := intent.ParseMoney(json.RawMessage(again))
			if !ok || err != nil || z != y {
				t.Fatalf("ParseMoney(%q) = %d, re-encoded %s reads %d, %v, %v", raw, y, again, z, ok, err)
			}
		}
	})
}

// FuzzParseQuantity: an accepted quantity is a JSON integer within bounds that
// reads back from its own decimal form.
func FuzzParseQuantity(f *testing.F) {
	for _, s := range []string{`3`, `0`, `"3"`, `1.5`, `3e0`, `-1`, `-`, `1000000`, `1000001`, `0001`, `null`, `true`, `99999999999999999999`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		q, present, err := intent.ParseQuantity(raw)
		if !present || err != nil {
			if q != 0 {
				t.Fatalf("ParseQuantity(%q) = %d with present=%v err=%v", raw, q, present, err)
			}
			if err != nil && !errors.Is(err, intent.ErrNotInteger) && !errors.Is(err, intent.ErrQuantityNegative) &&
				!errors.Is(err, intent.ErrQuantityTooLarge) {
				t.Fatalf("ParseQuantity(%q): undocumented error %v", raw, err)
			}
			return
		}
		if q < 0 || q > intent.MaxQuantity {
			t.Fatalf("ParseQuantity(%q) = %d, outside 0..MaxQuantity", raw, q)
		}
		if text := strings.TrimSpace(string(raw)); !digitsOnly.MatchString(text) {
			t.Fatalf("ParseQuantity(%q) accepted what is not an integer literal", raw)
		}
		z, ok, err := intent.ParseQuantity(json.RawMessage(strconv.FormatInt(q, 10)))
		if !ok || err != nil || z != q {
			t.Fatalf("ParseQuantity(%q) = %d does not read back: %d, %v, %v", raw, q, z, ok, err)
		}
	})
}

// fuzzCatalogue is a small catalogue with both kinds of task.
var fuzzCatalogue = []intent.TaskItem{
	{Item: "1.1", Code: "KFBZ", Name: "开发国家技能人才培养标准", Unit: "项标准", Kind: intent.KindDevelopment},
	{Item: "2.1", Code: "YZYX", Name: "遴选优质技工院校", Target: 200, Unit: "所", Kind: intent.KindSelection},
	{Item: "2.2", Code: "YZZY", Name: "遴选优质专业", Target: 500, Unit: "个", Kind: intent.KindSelection},
}

// formFieldPath is every field a form error may name.
var formFieldPath = regexp.MustCompile(`^(total|lines\[\d+\]\.(item|undertake|quantity|total|units(\[\d+\])?|funds\..*))$`)

// FuzzValidateForm feeds the intent form's JSON body through the decoder and the
// validator. An accepted form lists the catalogue in order with the server's
// totals and obeys the rules of each kind of task; encoding it back as a client
// would gives the same form. A refused one is a field error naming a path of the
// body, with a message in Chinese.
func FuzzValidateForm(f *testing.F) {
	for _, s := range []string{
		`{"lines":[]}`,
		`{"lines":[{"item":"2.1","undertake":true,"quantity":12,"funds":{"school":"120.5","provincial":100}}]}`,
		`{"lines":[{"item":"1.1","undertake":true,"quantity":2,"funds":{"sponsor":1}},{"item":"2.2","undertake":false}],"total":"1"}`,
		`{"lines":[{"item":"1.1","undertake":true,"funds":{"sponsor":1}}]}`,
		`{"lines":[{"item":"2.1","undertake":true,"quantity":1,"funds":{"school":1},"total":2}]}`,
		`{"lines":[{"item":"9.9"}]}`,
		`{"lines":[{"item":"2.1"},{"item":"2.1"}]}`,
		`{"lines":[{"item":"2.1","undertake":"yes"}]}`,
		`{"lines":[{"item":"2.2","undertake":true,"quantity":3,"funds":{"bank":1}}]}`,
		`{"lines":[{"item":"2.2","undertake":true,"quantity":3,"funds":{"school":99999999.9999,"industry":99999999.9999}}],"total":"199999999.9998"}`,
		`{"lines":[{"item":"1.1","undertake":false,"funds":{"school":1}}]}`,
		`{"lines":[{"item":"1.1","undertake":true,"quantity":2}]}`,
		`{"lines":[{"item":"","undertake":true}]}`,
		`{"lines":[{"item":"2.1","undertake":true,"quantity":2,"units":["G001"," G002"]}]}`,
		`{"lines":[{"item":"2.1","undertake":false,"units":["G001"]}]}`,
		`{"lines":[{"item":"2.1","undertake":true,"quantity":2,"units":["G001","G001"]}]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var in intent.FormInput
		if json.Unmarshal(body, &in) != nil {
			return // the API's decoder refuses it before validation (see api's FuzzDecodeJSON)
		}
		form, err := intent.Validate(fuzzCatalogue, in)
		if err != nil {
			var fe *domain.FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("Validate(%s): not a field error: %v", body, err)
			}
			if !formFieldPath.MatchString(fe.Field) {
				t.Fatalf("Validate(%s): error names %q, not a field of the form", body, fe.Field)
			}
			if !hasHan(fe.Message) || fe.Detail == "" {
				t.Fatalf("Validate(%s): message %q / detail %q", body, fe.Message, fe.Detail)
			}
			return
		}
		checkForm(t, body, form)
		// A client that sends the validated form back, with its totals, gets the same form.
		again := intent.FormInput{Total: json.RawMessage(strconv.Quote(form.Total.WanFixed()))}
		for _, l := range form.Lines {
			li := intent.LineInput{Item: l.Item, Undertake: json.RawMessage(strconv.FormatBool(l.Undertake)),
				Quantity: json.RawMessage(strconv.FormatInt(l.Quantity, 10)), Total: json.RawMessage(l.Total.Wan()),
				Funds: map[string]json.RawMessage{}}
			for _, s := range intent.Sources {
				li.Funds[string(s)] = json.RawMessage(l.Funds.Get(s).Wan())
			}
			if len(l.Units) > 0 {
				codes := make([]string, len(l.Units))
				for j, u := range l.Units {
					codes[j] = u.Code
				}
				li.Units, _ = json.Marshal(codes)
			}
			again.Lines = append(again.Lines, li)
		}
		b, err := json.Marshal(again)
		if err != nil {
			t.Fatal(err)
		}
		var in2 intent.FormInput
		if err := json.Unmarshal(b, &in2); err != nil {
			t.Fatal(err)
		}
		form2, err := intent.Validate(fuzzCatalogue, in2)
		if err != nil {
			t.Fatalf("Validate(%s) accepted; its re-encoding %s is refused: %v", body, b, err)
		}
		x, _ := json.Marshal(form)
		y, _ := json.Marshal(form2)
		if string(x) != string(y) {
			t.Fatalf("Validate(%s) = %s; re-encoded it validates to %s", body, x, y)
		}
	})
}

// checkForm asserts the invariants of an accepted form.
func checkForm(t *testing.T, body []byte, form intent.Form) {
	t.Helper()
	if len(form.Lines) != len(fuzzCatalogue) {
		t.Fatalf("Validate(%s): %d lines for %d items", body, len(form.Lines), len(fuzzCatalogue))
	}
	var totals intent.Funds
	for k, l := range form.Lines {
		it := fuzzCatalogue[k]
		if l.Item != it.Item {
			t.Fatalf("Validate(%s): line %d is %q, want %q", body, k, l.Item, it.Item)
		}
		sum, err := l.Funds.Total()
		if err != nil || sum != l.Total {
			t.Fatalf("Validate(%s): line %s total %d, sum of funds %d (%v)", body, l.Item, l.Total, sum, err)
		}
		for _, s := range intent.Sources {
			if v := l.Funds.Get(s); v < 0 || v > intent.MaxYuan {
				t.Fatalf("Validate(%s): line %s %s = %d", body, l.Item, s, v)
			}
		}
		switch {
		case !l.Undertake && (l.Quantity != 0 || l.Total != 0 || len(l.Units) != 0):
			t.Fatalf("Validate(%s): line %s not undertaken yet carries quantity %d, total %d, units %v", body, l.Item, l.Quantity, l.Total, l.Units)
		case l.Undertake && (l.Quantity < 1 || l.Quantity > intent.MaxQuantity):
			// Every undertaken row carries 承接数量, development tasks included.
			t.Fatalf("Validate(%s): %s line %s undertaken with quantity %d", body, it.Kind, l.Item, l.Quantity)
		}
		if totals, err = totals.Plus(l.Funds); err != nil {
			t.Fatal(err)
		}
	}
	total, err := totals.Total()
	if totals != form.Totals || err != nil || total != form.Total {
		t.Fatalf("Validate(%s): totals %+v / %d, recomputed %+v / %d", body, form.Totals, form.Total, totals, total)
	}
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
