package intent_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strconv"
	"strings"
	"testing"

	"pgregory.net/rapid"

	"keytask/domain"
	"keytask/domain/intent"
)

// genYuan draws amounts across the whole range, with the edges and the smallest
// units likely.
func genYuan() *rapid.Generator[intent.Yuan] {
	return rapid.Custom(func(t *rapid.T) intent.Yuan {
		switch rapid.IntRange(0, 3).Draw(t, "shape") {
		case 0:
			return intent.Yuan(rapid.Int64Range(0, 20).Draw(t, "small"))
		case 1:
			return intent.MaxYuan - intent.Yuan(rapid.Int64Range(0, 20).Draw(t, "near max"))
		case 2:
			return intent.Yuan(rapid.Int64Range(0, 100_000).Draw(t, "wan")) * intent.YuanPerWan
		}
		return intent.Yuan(rapid.Int64Range(0, int64(intent.MaxYuan)).Draw(t, "any"))
	})
}

// moneyJSON writes y the ways a client may: a JSON number or a string, with
// few or exactly four decimals, or with leading or trailing zeros.
func moneyJSON(t *rapid.T, label string, y intent.Yuan) json.RawMessage {
	s := y.Wan()
	switch rapid.IntRange(0, 3).Draw(t, label+" style") {
	case 1:
		s = y.WanFixed()
	case 2:
		if !strings.Contains(s, ".") {
			s += ".0"
		}
		s += "000"
	case 3:
		s = "00" + s
	}
	if strings.HasPrefix(s, "00") || rapid.Bool().Draw(t, label+" as string") {
		return json.RawMessage(strconv.Quote(s)) // leading zeros are not a JSON number
	}
	return json.RawMessage(s)
}

type genLine struct {
	in    intent.LineInput
	item  intent.TaskItem
	funds intent.Funds
}

// genValidForm draws a valid form over the catalogue: random lines in random
// order, undertaken or not, with the client's totals sent correctly or not at all.
func genValidForm(t *rapid.T, items []intent.TaskItem) (intent.FormInput, []genLine) {
	perm := rapid.Permutation(items).Draw(t, "order")
	n := rapid.IntRange(0, len(items)).Draw(t, "lines")
	var in intent.FormInput
	var lines []genLine
	for i, it := range perm[:n] {
		l := genLine{item: it, in: intent.LineInput{Item: it.Item}}
		label := fmt.Sprintf("line %d", i)
		if rapid.Bool().Draw(t, label+" undertaken") {
			l.in.Undertake = json.RawMessage("true")
			q := rapid.Int64Range(1, intent.MaxQuantity).Draw(t, label+" quantity")
			l.in.Quantity = json.RawMessage(strconv.FormatInt(q, 10))
			l.in.Funds = map[string]json.RawMessage{}
			for _, s := range intent.Sources {
				if rapid.Bool().Draw(t, label+" has "+string(s)) {
					y := genYuan().Draw(t, label+" "+string(s))
					l.funds.Set(s, y)
					l.in.Funds[string(s)] = moneyJSON(t, label+" "+string(s), y)
				}
			}
			if rapid.Bool().Draw(t, label+" sends total") {
				total, err := l.funds.Total()
				if err != nil {
					t.Fatal(err)
				}
				l.in.Total = moneyJSON(t, label+" total", total)
			}
		} else if rapid.Bool().Draw(t, label+" says no") {
			l.in.Undertake = json.RawMessage("false")
		}
		in.Lines = append(in.Lines, l.in)
		lines = append(lines, l)
	}
	return in, lines
}

// Every total equals the sum of its parts, computed here independently in
// arbitrary precision, and every amount is the one the client sent.
func TestPropertyTotalsAreSums(t *testing.T) {
	items := batch1()
	rapid.Check(t, func(t *rapid.T) {
		in, sent := genValidForm(t, items)
		var formTotal big.Int
		for _, l := range sent {
			var lt big.Int
			for _, s := range intent.Sources {
				lt.Add(&lt, big.NewInt(int64(l.funds.Get(s))))
			}
			formTotal.Add(&formTotal, &lt)
		}
		if rapid.Bool().Draw(t, "sends form total") {
			in.Total = json.RawMessage(strconv.Quote(intent.Yuan(formTotal.Int64()).Wan()))
		}

		form, err := intent.Validate(items, in)
		if err != nil {
			t.Fatalf("valid form refused: %v", err)
		}
		if len(form.Lines) != len(items) {
			t.Fatalf("%d lines, want %d", len(form.Lines), len(items))
		}
		byItem := map[string]genLine{}
		for _, l := range sent {
			byItem[l.item.Item] = l
		}
		var perSource [5]big.Int
		var sumOfLineTotals, sumOfTotals big.Int
		for k, l := range form.Lines {
			if l.Item != items[k].Item {
				t.Fatalf("line %d is %s, want %s", k, l.Item, items[k].Item)
			}
			if l.Funds != byItem[l.Item].funds {
				t.Fatalf("line %s funds %+v, want what was sent %+v", l.Item, l.Funds, byItem[l.Item].funds)
			}
			var lt big.Int
			for i, s := range intent.Sources {
				lt.Add(&lt, big.NewInt(int64(l.Funds.Get(s))))
				perSource[i].Add(&perSource[i], big.NewInt(int64(l.Funds.Get(s))))
			}
			if lt.Cmp(big.NewInt(int64(l.Total))) != 0 {
				t.Fatalf("line %s total %d, sum of its funds %s", l.Item, l.Total, &lt)
			}
			sumOfLineTotals.Add(&sumOfLineTotals, big.NewInt(int64(l.Total)))
		}
		for i, s := range intent.Sources {
			if perSource[i].Cmp(big.NewInt(int64(form.Totals.Get(s)))) != 0 {
				t.Fatalf("total of %s = %d, sum over lines %s", s, form.Totals.Get(s), &perSource[i])
			}
			sumOfTotals.Add(&sumOfTotals, big.NewInt(int64(form.Totals.Get(s))))
		}
		total := big.NewInt(int64(form.Total))
		if total.Cmp(&sumOfTotals) != 0 || total.Cmp(&sumOfLineTotals) != 0 || total.Cmp(&formTotal) != 0 {
			t.Fatalf("total %s, sum of source totals %s, sum of line totals %s, sum sent %s",
				total, &sumOfTotals, &sumOfLineTotals, &formTotal)
		}
	})
}

// Formatting and parsing are inverse over the whole range.
func TestPropertyWanRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		y := genYuan().Draw(t, "yuan")
		for _, s := range []string{y.Wan(), y.WanFixed()} {
			got, err := intent.ParseWan(s)
			if err != nil || got != y {
				t.Fatalf("ParseWan(%q) = %d, %v; want %d", s, got, err, y)
			}
		}
		got, present, err := intent.ParseMoney(json.RawMessage(y.Wan()))
		if err != nil || !present || got != y {
			t.Fatalf("ParseMoney(%s) = %d, %v, %v; want %d", y.Wan(), got, present, err, y)
		}
	})
}

// badMoney draws a value that is not an acceptable amount: a wrong JSON type,
// text, a negative, too many decimals, too large, or an exponent.
// A form's total may exceed the bound of one amount, so for it "too large" means
// beyond int64.
func badMoney(t *rapid.T, label string, forTotal bool) json.RawMessage {
	y := genYuan().Draw(t, label+" base")
	kind := rapid.IntRange(0, 7).Draw(t, label+" kind")
	if forTotal && kind == 4 {
		kind = 5
	}
	switch kind {
	case 0:
		return json.RawMessage(rapid.SampledFrom([]string{"true", "false", "{}", `{"wan":1}`, "[]", "[1]"}).Draw(t, label))
	case 1:
		s := rapid.StringMatching(`[a-zA-Z万元,，\s]{1,8}`).Draw(t, label)
		return json.RawMessage(strconv.Quote(s))
	case 2:
		return json.RawMessage("-" + y.Wan())
	case 3:
		d := rapid.IntRange(1, 9).Draw(t, label+" fifth decimal")
		return json.RawMessage(y.WanFixed() + strconv.Itoa(d))
	case 4:
		over := intent.MaxYuan + 1 + intent.Yuan(rapid.Int64Range(0, 1<<40).Draw(t, label+" over"))
		return json.RawMessage(over.Wan())
	case 5:
		return json.RawMessage(strings.Repeat("9", rapid.IntRange(20, 400).Draw(t, label+" digits")))
	case 6:
		return json.RawMessage(y.Wan() + rapid.SampledFrom([]string{"e0", "E2", "e-3", "e+10"}).Draw(t, label))
	}
	return json.RawMessage(strconv.Quote(y.Wan() + "e1"))
}

func badQuantity(t *rapid.T, label string) json.RawMessage {
	q := rapid.Int64Range(0, intent.MaxQuantity).Draw(t, label+" base")
	switch rapid.IntRange(0, 5).Draw(t, label+" kind") {
	case 0:
		return json.RawMessage(fmt.Sprintf("%d.5", q))
	case 1:
		return json.RawMessage(strconv.Quote(strconv.FormatInt(q, 10)))
	case 2:
		return json.RawMessage(fmt.Sprintf("-%d", q+1))
	case 3:
		return json.RawMessage(strconv.FormatInt(intent.MaxQuantity+1+rapid.Int64Range(0, 1<<62).Draw(t, label+" over"), 10))
	case 4:
		return json.RawMessage(fmt.Sprintf("%de0", q))
	}
	return json.RawMessage(rapid.SampledFrom([]string{"true", "false", "{}", "[]"}).Draw(t, label))
}

// Breaking exactly one value of a valid form is refused with a field error that
// names that value; nothing panics and no form comes back.
func TestPropertyBadValueNamesItsField(t *testing.T) {
	items := batch1()
	rapid.Check(t, func(t *rapid.T) {
		in, sent := genValidForm(t, items)
		var field string
		kind := rapid.IntRange(0, 6).Draw(t, "break")
		if len(sent) == 0 {
			kind = 6
		}
		i := 0
		if len(sent) > 0 {
			i = rapid.IntRange(0, len(sent)-1).Draw(t, "line")
		}
		at := fmt.Sprintf("lines[%d]", i)
		switch kind {
		case 0: // an amount
			s := rapid.SampledFrom(intent.Sources).Draw(t, "source")
			if in.Lines[i].Funds == nil {
				in.Lines[i].Funds = map[string]json.RawMessage{}
			}
			in.Lines[i].Funds[string(s)] = badMoney(t, "money", false)
			field = at + ".funds." + string(s)
		case 1: // a funding source
			key := rapid.StringMatching(`[a-z_]{1,12}`).Filter(func(k string) bool {
				for _, s := range intent.Sources {
					if string(s) == k {
						return false
					}
				}
				return true
			}).Draw(t, "key")
			if in.Lines[i].Funds == nil {
				in.Lines[i].Funds = map[string]json.RawMessage{}
			}
			in.Lines[i].Funds[key] = json.RawMessage("1")
			field = at + ".funds." + key
		case 2: // the quantity
			in.Lines[i].Quantity = badQuantity(t, "quantity")
			field = at + ".quantity"
		case 3: // the item
			in.Lines[i].Item = rapid.StringMatching(`[0-9.]{0,4}x?`).Filter(func(s string) bool {
				for _, it := range items {
					if it.Item == s {
						return false
					}
				}
				return true
			}).Draw(t, "item")
			field = at + ".item"
		case 4: // undertake
			in.Lines[i].Undertake = json.RawMessage(rapid.SampledFrom([]string{`"true"`, "1", "0", "{}", `"是"`}).Draw(t, "undertake"))
			field = at + ".undertake"
		case 5: // the line's total
			var want intent.Yuan
			want, _ = sent[i].funds.Total()
			in.Lines[i].Total = json.RawMessage((want + intent.Yuan(rapid.Int64Range(1, 1<<40).Draw(t, "off by"))).Wan())
			field = at + ".total"
		case 6: // the form's total
			in.Total = badMoney(t, "form total", true)
			field = "total"
		}
		form, err := intent.Validate(items, in)
		var fe *domain.FieldError
		if !errors.As(err, &fe) {
			t.Fatalf("err = %v, want a field error on %s", err, field)
		}
		if fe.Field != field || fe.Message == "" {
			t.Fatalf("field error on %q (%s), want %q", fe.Field, fe.Message, field)
		}
		if form.Lines != nil || form.Total != 0 {
			t.Fatalf("refused form came back: %+v", form)
		}
	})
}

// Arbitrary bytes in every raw value never panic; whatever is accepted obeys
// the sums.
func TestPropertyGarbageNeverPanics(t *testing.T) {
	items := batch1()
	raw := rapid.Custom(func(t *rapid.T) json.RawMessage {
		if rapid.Bool().Draw(t, "bytes") {
			return json.RawMessage(rapid.SliceOfN(rapid.Byte(), 0, 12).Draw(t, "raw"))
		}
		return json.RawMessage(rapid.StringMatching(`[-+0-9.eE"tfnul{}\[\] ]{0,12}`).Draw(t, "raw"))
	})
	rapid.Check(t, func(t *rapid.T) {
		var in intent.FormInput
		for range rapid.IntRange(0, 10).Draw(t, "lines") {
			li := intent.LineInput{
				Item:      rapid.SampledFrom([]string{"1", "2.1", "4", "7", "", "8", "2.1 "}).Draw(t, "item"),
				Undertake: raw.Draw(t, "undertake"),
				Quantity:  raw.Draw(t, "quantity"),
				Total:     raw.Draw(t, "total"),
				Funds:     map[string]json.RawMessage{},
			}
			for range rapid.IntRange(0, 6).Draw(t, "funds") {
				k := rapid.SampledFrom([]string{"school", "industry", "sponsor", "municipal", "provincial", "other", ""}).Draw(t, "source")
				li.Funds[k] = raw.Draw(t, "amount")
			}
			in.Lines = append(in.Lines, li)
		}
		in.Total = raw.Draw(t, "form total")
		form, err := intent.Validate(items, in)
		if err != nil {
			var fe *domain.FieldError
			if !errors.As(err, &fe) || fe.Field == "" || fe.Message == "" {
				t.Fatalf("err = %#v, want a field error naming the field", err)
			}
			return
		}
		var sum intent.Yuan
		for _, l := range form.Lines {
			lt, _ := l.Funds.Total()
			if lt != l.Total {
				t.Fatalf("line %s total %d != %d", l.Item, l.Total, lt)
			}
			sum += l.Total
		}
		if sum != form.Total {
			t.Fatalf("form total %d != %d", form.Total, sum)
		}
	})
}
