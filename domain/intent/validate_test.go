package intent_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"keytask/domain"
	"keytask/domain/intent"
)

// batch1 is the first batch of the notice's attachment (人社职司便函〔2022〕20号).
func batch1() []intent.TaskItem {
	return []intent.TaskItem{
		{Item: "1", Code: "SZJD", Name: "遴选技工教育思想政治理论课师资研修基地", Target: 30, Unit: "个", Kind: intent.KindSelection},
		{Item: "2.1", Code: "YZYX", Name: "遴选优质技工院校", Target: 300, Unit: "所", Kind: intent.KindSelection},
		{Item: "2.2", Code: "YZZY", Name: "遴选优质专业", Target: 500, Unit: "个", Kind: intent.KindSelection},
		{Item: "3", Code: "LMJT", Name: "打造技工教育联盟（集团）", Target: 100, Unit: "个", Kind: intent.KindSelection},
		{Item: "4", Code: "JXBZ", Name: "开发《技工院校XX专业教学标准》", Unit: "项标准", Kind: intent.KindDevelopment},
		{Item: "5", Code: "GHJC", Name: "开发全国技工教育规划教材", Unit: "种教材", Kind: intent.KindDevelopment},
		{Item: "6", Code: "SZZY", Name: "遴选技工教育数字化资源建设与应用优秀院校", Target: 100, Unit: "所", Kind: intent.KindSelection},
		{Item: "7", Code: "JPKC", Name: "遴选技工教育精品在线课程", Target: 500, Unit: "门", Kind: intent.KindSelection},
	}
}

// parseInput decodes a form as the API would, keeping values raw.
func parseInput(t tb, body string) intent.FormInput {
	t.Helper()
	var in intent.FormInput
	if err := json.Unmarshal([]byte(body), &in); err != nil {
		t.Fatalf("test body is not JSON: %v\n%s", err, body)
	}
	return in
}

func TestValidateOK(t *testing.T) {
	// Amounts a float would get wrong (0.1+0.2), the smallest unit (0.0001 万元
	// = 1 元), the largest amount, numbers and strings, and the totals the
	// client computed.
	in := parseInput(t, `{"lines":[
		{"item":"2.1","undertake":true,"quantity":3,"funds":{"school":0.1,"industry":"0.2","provincial":null,"municipal":""},"total":"0.3"},
		{"item":"4","undertake":true,"quantity":2,"funds":{"sponsor":"0.0001"}},
		{"item":"7","undertake":true,"quantity":12,"funds":{"provincial":100000000},"total":100000000.0000},
		{"item":"1","undertake":false,"quantity":0,"funds":{"school":0}},
		{"item":"5","undertake":true,"quantity":1}
	],"total":"100000000.3001"}`)
	form, err := intent.Validate(batch1(), in)
	if err != nil {
		t.Fatalf("Validate: %v", err)
	}
	if len(form.Lines) != len(batch1()) {
		t.Fatalf("got %d lines, want one per catalogue item (%d)", len(form.Lines), len(batch1()))
	}
	for i, it := range batch1() {
		if form.Lines[i].Item != it.Item {
			t.Fatalf("line %d is item %s, want catalogue order (%s)", i, form.Lines[i].Item, it.Item)
		}
	}
	want := map[string]intent.Line{
		"1":   {Item: "1"},
		"2.1": {Item: "2.1", Undertake: true, Quantity: 3, Funds: intent.Funds{School: 1000, Industry: 2000}, Total: 3000},
		"2.2": {Item: "2.2"},
		"4":   {Item: "4", Undertake: true, Quantity: 2, Funds: intent.Funds{Sponsor: 1}, Total: 1},
		"5":   {Item: "5", Undertake: true, Quantity: 1},
		"7":   {Item: "7", Undertake: true, Quantity: 12, Funds: intent.Funds{Provincial: intent.MaxYuan}, Total: intent.MaxYuan},
	}
	for _, l := range form.Lines {
		w, ok := want[l.Item]
		if !ok {
			w = intent.Line{Item: l.Item}
		}
		if !reflect.DeepEqual(l, w) {
			t.Errorf("line %s = %+v, want %+v", l.Item, l, w)
		}
	}
	wantTotals := intent.Funds{School: 1000, Industry: 2000, Sponsor: 1, Provincial: intent.MaxYuan}
	if form.Totals != wantTotals {
		t.Errorf("totals = %+v, want %+v", form.Totals, wantTotals)
	}
	if form.Total != intent.MaxYuan+3001 || form.Total.Wan() != "100000000.3001" {
		t.Errorf("total = %d (%s 万元), want 1000000003001 yuan", form.Total, form.Total.Wan())
	}
	// Money is recorded as integer yuan, never as a float.
	b, _ := json.Marshal(form.Lines[1])
	if !strings.Contains(string(b), `"school":1000,`) {
		t.Errorf("line JSON %s does not hold yuan as integers", b)
	}
}

func TestValidateEmptyFormUndertakesNothing(t *testing.T) {
	form, err := intent.Validate(batch1(), parseInput(t, `{"lines":[],"total":0}`))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range form.Lines {
		if l.Undertake || l.Total != 0 {
			t.Fatalf("omitted line %s = %+v, want not undertaken", l.Item, l)
		}
	}
}

func TestValidateRefuses(t *testing.T) {
	sel := func(funds string) string {
		return `{"lines":[{"item":"2.1","undertake":true,"quantity":2,"funds":{"school":` + funds + `}}]}`
	}
	qty := func(q string) string {
		return `{"lines":[{"item":"1","undertake":true,"quantity":` + q + `}]}`
	}
	cases := []struct {
		name, body, field, message string
	}{
		{"UnknownItem", `{"lines":[{"item":"9","undertake":true,"quantity":1}]}`, "lines[0].item", "不在本批次任务目录中"},
		{"EmptyItem", `{"lines":[{"undertake":true,"quantity":1}]}`, "lines[0].item", "请填写任务（项目）序号"},
		{"DuplicateItem", `{"lines":[{"item":"3","undertake":false},{"item":"2.1"},{"item":"3"}]}`, "lines[2].item", "与第1行重复"},
		{"UnknownSource", `{"lines":[{"item":"1","undertake":true,"quantity":1,"funds":{"school":1,"tuition":2}}]}`, "lines[0].funds.tuition", "未知的经费来源“tuition”"},
		{"MoneyBool", sel(`true`), "lines[0].funds.school", "学校自筹金额须为非负数，单位万元，最多4位小数"},
		{"MoneyObject", sel(`{"wan":1}`), "lines[0].funds.school", "学校自筹金额须为非负数"},
		{"MoneyArray", sel(`[1]`), "lines[0].funds.school", "学校自筹金额须为非负数"},
		{"MoneyText", sel(`"十二"`), "lines[0].funds.school", "学校自筹金额须为非负数"},
		{"MoneyWithUnit", sel(`"12万"`), "lines[0].funds.school", "学校自筹金额须为非负数"},
		{"MoneySpaces", sel(`" 12"`), "lines[0].funds.school", "学校自筹金额须为非负数"},
		{"MoneyThousands", sel(`"1,200"`), "lines[0].funds.school", "学校自筹金额须为非负数"},
		{"MoneyNegative", sel(`-1`), "lines[0].funds.school", "学校自筹金额须为非负数"},
		{"MoneyNegativeText", sel(`"-0.5"`), "lines[0].funds.school", "学校自筹金额须为非负数"},
		{"MoneyTooPrecise", sel(`1.00001`), "lines[0].funds.school", "学校自筹金额最多4位小数"},
		{"MoneyTooPreciseText", sel(`"0.00005"`), "lines[0].funds.school", "最多4位小数"},
		{"MoneyTooLarge", sel(`100000000.0001`), "lines[0].funds.school", "超出上限"},
		{"MoneyOverflow", sel(`99999999999999999999999999`), "lines[0].funds.school", "超出上限"},
		{"MoneyExponent", sel(`1e3`), "lines[0].funds.school", "不支持科学计数法"},
		{"MoneyExponentText", sel(`"2.5E-1"`), "lines[0].funds.school", "不支持科学计数法"},
		{"MoneyHugeExponent", sel(`1e400`), "lines[0].funds.school", "不支持科学计数法"},
		{"UndertakeText", `{"lines":[{"item":"1","undertake":"true","quantity":1}]}`, "lines[0].undertake", "“是否承接”须为 true（承接）或 false（不承接）"},
		{"UndertakeNumber", `{"lines":[{"item":"1","undertake":1,"quantity":1}]}`, "lines[0].undertake", "是否承接"},
		{"QuantityFraction", qty(`1.5`), "lines[0].quantity", "承接数量须为非负整数"},
		{"QuantityText", qty(`"3"`), "lines[0].quantity", "承接数量须为非负整数"},
		{"QuantityNegative", qty(`-1`), "lines[0].quantity", "承接数量须为非负整数"},
		{"QuantityExponent", qty(`1e2`), "lines[0].quantity", "承接数量须为非负整数"},
		{"QuantityBool", qty(`true`), "lines[0].quantity", "承接数量须为非负整数"},
		{"QuantityTooLarge", qty(`1000001`), "lines[0].quantity", "承接数量过大"},
		{"QuantityOverflow", qty(`99999999999999999999999`), "lines[0].quantity", "承接数量过大"},
		{"QuantityWithoutUndertaking", `{"lines":[{"item":"1","quantity":3}]}`, "lines[0].quantity", "未承接的任务（项目）不能填写承接数量"},
		{"QuantityNotUndertaken", `{"lines":[{"item":"2.2","undertake":false,"quantity":3}]}`, "lines[0].quantity", "未承接"},
		{"UndertakeWithoutQuantity", `{"lines":[{"item":"6","undertake":true}]}`, "lines[0].quantity", "须填写承接数量"},
		{"UndertakeZeroQuantity", `{"lines":[{"item":"6","undertake":true,"quantity":0}]}`, "lines[0].quantity", "须填写承接数量"},
		{"DevelopmentWithoutQuantity", `{"lines":[{"item":"4","undertake":true}]}`, "lines[0].quantity", "须填写承接数量（正整数，单位：项标准）"},
		{"DevelopmentZeroQuantity", `{"lines":[{"item":"5","undertake":true,"quantity":0}]}`, "lines[0].quantity", "单位：种教材"},
		{"MoneyNotUndertaken", `{"lines":[{"item":"3","undertake":false,"funds":{"school":0,"municipal":5}}]}`, "lines[0].funds.municipal", "未承接的任务（项目）不能填写投入经费（地市县投入）"},
		{"MoneyWithoutUndertaking", `{"lines":[{"item":"5","funds":{"industry":"1"}}]}`, "lines[0].funds.industry", "不能填写投入经费"},
		{"LineTotalDiffers", `{"lines":[
			{"item":"1","undertake":false},{"item":"2.1","undertake":false},{"item":"2.2","undertake":false},
			{"item":"3","undertake":true,"quantity":1,"funds":{"school":1,"sponsor":2},"total":"3.0001"}]}`,
			"lines[3].total", "应为各项经费之和 3 万元，与填写的 3.0001 万元不一致"},
		{"LineTotalNotNumber", `{"lines":[{"item":"1","undertake":true,"quantity":1,"total":"合计"}]}`, "lines[0].total", "投入经费汇总须为非负数"},
		{"FormTotalFromFloat", `{"lines":[{"item":"1","undertake":true,"quantity":1,"funds":{"school":0.1}},
			{"item":"4","undertake":true,"quantity":1,"funds":{"school":0.2}}],"total":0.30000000000000004}`, "total", "最多4位小数"},
		{"FormTotalWrong", `{"lines":[{"item":"1","undertake":true,"quantity":1,"funds":{"school":0.1}},
			{"item":"4","undertake":true,"quantity":1,"funds":{"school":0.2}}],"total":0.4}`, "total", "本表投入经费汇总应为各项经费之和 0.3 万元，与填写的 0.4 万元不一致"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			form, err := intent.Validate(batch1(), parseInput(t, c.body))
			var fe *domain.FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("err = %v (form %+v), want a field error on %s", err, form, c.field)
			}
			if fe.Field != c.field || !strings.Contains(fe.Message, c.message) {
				t.Fatalf("got field %q message %q, want field %q message containing %q", fe.Field, fe.Message, c.field, c.message)
			}
			if fe.Detail == "" {
				t.Error("no English detail for the logs")
			}
			if form.Lines != nil {
				t.Error("a refused form came back with lines")
			}
		})
	}
}

// The money messages name the item and the source, so a user finds the cell.
func TestValidateMessageNamesTheCell(t *testing.T) {
	_, err := intent.Validate(batch1(), parseInput(t, `{"lines":[{"item":"2.2","undertake":true,"quantity":1,"funds":{"provincial":"x"}}]}`))
	var fe *domain.FieldError
	if !errors.As(err, &fe) || fe.Message != "任务（项目）2.2：省财政投入金额须为非负数，单位万元，最多4位小数" {
		t.Fatalf("err = %#v", err)
	}
}

// Raw values the JSON decoder would never produce still get a field error.
func TestValidateRawGarbage(t *testing.T) {
	for _, raw := range []string{"1e", "--1", "0x10", "１２", "12.", ".5", "+1", "NaN", "Infinity", "1_000", `"`, "{"} {
		in := intent.FormInput{Lines: []intent.LineInput{{Item: "1", Undertake: json.RawMessage("true"), Quantity: json.RawMessage("1"),
			Funds: map[string]json.RawMessage{"school": json.RawMessage(raw)}}}}
		_, err := intent.Validate(batch1(), in)
		var fe *domain.FieldError
		if !errors.As(err, &fe) || fe.Field != "lines[0].funds.school" {
			t.Errorf("money %q: err = %v, want a field error on lines[0].funds.school", raw, err)
		}
	}
}

func TestParseMoney(t *testing.T) {
	cases := []struct {
		raw     string
		want    intent.Yuan
		present bool
		err     error
	}{
		{``, 0, false, nil},
		{`null`, 0, false, nil},
		{`""`, 0, false, nil},
		{`0`, 0, true, nil},
		{`12`, 120000, true, nil},
		{`"12.5"`, 125000, true, nil},
		{`0.0001`, 1, true, nil},
		{`1.50000`, 15000, true, nil},
		{`100000000`, intent.MaxYuan, true, nil},
		{`"abc"`, 0, true, intent.ErrNotNumber},
		{`false`, 0, true, intent.ErrNotNumber},
		{`-3`, 0, true, intent.ErrNegative},
		{`1e3`, 0, true, intent.ErrExponent},
		{`"1e+3"`, 0, true, intent.ErrExponent},
		{`"e3"`, 0, true, intent.ErrNotNumber},
		{`"1e"`, 0, true, intent.ErrNotNumber},
		{`0.00001`, 0, true, intent.ErrTooPrecise},
		{`100000001`, 0, true, intent.ErrTooLarge},
	}
	for _, c := range cases {
		got, present, err := intent.ParseMoney(json.RawMessage(c.raw))
		if got != c.want || present != c.present || !errors.Is(err, c.err) || (c.err == nil && err != nil) {
			t.Errorf("ParseMoney(%s) = %d, %v, %v; want %d, %v, %v", c.raw, got, present, err, c.want, c.present, c.err)
		}
	}
}

func TestParseQuantity(t *testing.T) {
	cases := []struct {
		raw     string
		want    int64
		present bool
		err     error
	}{
		{``, 0, false, nil},
		{`null`, 0, false, nil},
		{`0`, 0, true, nil},
		{`30`, 30, true, nil},
		{`1000000`, intent.MaxQuantity, true, nil},
		{`1000001`, 0, true, intent.ErrQuantityTooLarge},
		{`9223372036854775808`, 0, true, intent.ErrQuantityTooLarge},
		{`-1`, 0, true, intent.ErrQuantityNegative},
		{`1.0`, 0, true, intent.ErrNotInteger},
		{`"3"`, 0, true, intent.ErrNotInteger},
		{`""`, 0, false, nil},
		{`-`, 0, true, intent.ErrNotInteger},
		{`[]`, 0, true, intent.ErrNotInteger},
	}
	for _, c := range cases {
		got, present, err := intent.ParseQuantity(json.RawMessage(c.raw))
		if got != c.want || present != c.present || !errors.Is(err, c.err) || (c.err == nil && err != nil) {
			t.Errorf("ParseQuantity(%s) = %d, %v, %v; want %d, %v, %v", c.raw, got, present, err, c.want, c.present, c.err)
		}
	}
}

// tb is what the helpers need of *testing.T and *rapid.T alike.
type tb interface {
	Helper()
	Fatal(args ...any)
	Fatalf(format string, args ...any)
}
