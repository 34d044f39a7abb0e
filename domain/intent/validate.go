package intent

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"unicode/utf8"

	"keytask/domain"
)

// Validate reads a province's raw form against the round's catalogue and returns
// it with every total computed by the server. Lines come back in catalogue order,
// one per item; an item the client left out is not undertaken. Drafts and
// submissions go through the same checks, so a province learns of a mistake when
// it saves rather than when it submits.
//
// The first mistake is returned as a *domain.FieldError whose Field is the JSON
// path of the value at fault ("lines[2].funds.school", "lines[0].quantity",
// "total"), with a message in Simplified Chinese. Fields are checked line by line
// in input order, and within a line in the order item, undertake, quantity, funds
// (in the order of Sources, then unknown keys sorted), units, total; the form's total
// comes last. A client-sent total that differs from the server's sum is refused
// rather than corrected, because it means the client showed the user something
// else.
//
// Validate checks the shape of the 实施单位 (units) only: their schools are
// held against the register by CheckUnits, which the round's decisions call.
func Validate(items []TaskItem, in FormInput) (Form, error) {
	index := make(map[string]int, len(items))
	lines := make([]Line, len(items))
	for k, it := range items {
		index[it.Item] = k
		lines[k] = Line{Item: it.Item}
	}
	seenAt := make(map[string]int, len(in.Lines))
	for i, li := range in.Lines {
		at := fmt.Sprintf("lines[%d]", i)
		k, known := index[li.Item]
		switch first, dup := seenAt[li.Item]; {
		case strings.TrimSpace(li.Item) == "":
			return Form{}, domain.Invalid(at+".item", fmt.Sprintf("第%d行：请填写任务（项目）序号", i+1),
				fmt.Sprintf("line %d has no item", i))
		case !known:
			return Form{}, domain.Invalid(at+".item",
				fmt.Sprintf("第%d行：任务（项目）“%s”不在本批次任务目录中", i+1, clip(li.Item)),
				fmt.Sprintf("line %d: unknown item %q", i, clip(li.Item)))
		case dup:
			return Form{}, domain.Invalid(at+".item",
				fmt.Sprintf("第%d行：任务（项目）%s 与第%d行重复，每项只能填写一行", i+1, li.Item, first+1),
				fmt.Sprintf("line %d repeats item %s of line %d", i, li.Item, first))
		}
		seenAt[li.Item] = i
		line, err := validateLine(at, items[k], li)
		if err != nil {
			return Form{}, err
		}
		lines[k] = line
	}

	form := Form{Lines: lines}
	for _, l := range lines {
		var err error
		if form.Totals, err = form.Totals.Plus(l.Funds); err != nil {
			return Form{}, overflow("total")
		}
	}
	total, err := form.Totals.Total()
	if err != nil {
		return Form{}, overflow("total")
	}
	form.Total = total
	if err := checkClientTotal("total", "本表投入经费汇总", in.Total, total); err != nil {
		return Form{}, err
	}
	return form, nil
}

// validateLine checks one row of the form against its task item.
func validateLine(at string, item TaskItem, li LineInput) (Line, error) {
	line := Line{Item: item.Item}
	who := "任务（项目）" + item.Item

	undertake, _, err := ParseUndertake(li.Undertake)
	if err != nil {
		return Line{}, domain.Invalid(at+".undertake", who+"：“是否承接”须为 true（承接）或 false（不承接）",
			fmt.Sprintf("%s.undertake: %v", at, err))
	}
	line.Undertake = undertake

	qty, _, err := ParseQuantity(li.Quantity)
	if err != nil {
		msg := who + "：承接数量须为非负整数"
		if errors.Is(err, ErrQuantityTooLarge) {
			msg = fmt.Sprintf("%s：承接数量过大，不能超过 %d", who, MaxQuantity)
		}
		return Line{}, domain.Invalid(at+".quantity", msg, fmt.Sprintf("%s.quantity: %v", at, err))
	}

	keys := make([]string, 0, len(li.Funds))
	for k := range li.Funds {
		if !slices.Contains(Sources, Source(k)) {
			keys = append(keys, k)
		}
	}
	if len(keys) > 0 {
		slices.Sort(keys)
		return Line{}, domain.Invalid(at+".funds."+clip(keys[0]),
			fmt.Sprintf("%s：未知的经费来源“%s”，应为 school（学校自筹）、industry（行业企业投入）、sponsor（举办方投入）、municipal（地市县投入）或 provincial（省财政投入）",
				who, clip(keys[0])),
			fmt.Sprintf("%s.funds: unknown source %q", at, clip(keys[0])))
	}
	for _, s := range Sources {
		y, _, err := ParseMoney(li.Funds[string(s)])
		if err != nil {
			return Line{}, moneyError(at+".funds."+string(s), who+"："+s.Label()+"金额", err)
		}
		line.Funds.Set(s, y)
	}

	switch {
	case !undertake && qty > 0:
		return Line{}, domain.Invalid(at+".quantity", who+"：未承接的任务（项目）不能填写承接数量；如承接，请将“是否承接”选为是",
			fmt.Sprintf("%s: quantity %d on a line not undertaken", at, qty))
	case !undertake && line.Funds != Funds{}:
		for _, s := range Sources {
			if line.Funds.Get(s) != 0 {
				return Line{}, domain.Invalid(at+".funds."+string(s),
					who+"：未承接的任务（项目）不能填写投入经费（"+s.Label()+"）；如承接，请将“是否承接”选为是",
					fmt.Sprintf("%s: %s funds on a line not undertaken", at, s))
			}
		}
	case undertake && qty == 0:
		// The notice's form has 承接数量 on every row: schools or majors to
		// select, and for development tasks the standards or textbooks the
		// province undertakes to write.
		return Line{}, domain.Invalid(at+".quantity", who+"：承接的任务（项目）须填写承接数量（正整数"+unitNote(item)+"）",
			fmt.Sprintf("%s: task %s undertaken without a quantity", at, item.Item))
	}
	line.Quantity = qty

	units, err := parseUnits(at, who, li.Units)
	if err != nil {
		return Line{}, err
	}
	if !undertake && len(units) > 0 {
		return Line{}, domain.Invalid(at+".units", who+"：未承接的任务（项目）不能填写实施单位；如承接，请将“是否承接”选为是",
			fmt.Sprintf("%s: units on a line not undertaken", at))
	}
	line.Units = units

	total, err := line.Funds.Total()
	if err != nil {
		return Line{}, overflow(at + ".total")
	}
	line.Total = total
	if err := checkClientTotal(at+".total", who+"的投入经费汇总", li.Total, total); err != nil {
		return Line{}, err
	}
	return line, nil
}

// unitNote names an item's unit in a message ("，单位：项标准"), or nothing.
func unitNote(item TaskItem) string {
	if item.Unit == "" {
		return ""
	}
	return "，单位：" + item.Unit
}

// checkClientTotal refuses a total the client sent that differs from the server's.
func checkClientTotal(field, what string, raw []byte, want Yuan) error {
	// A total may exceed the bound of one amount; it is bounded only by int64.
	got, present, err := parseMoney(raw, math.MaxInt64)
	if errors.Is(err, ErrTooLarge) {
		return domain.Invalid(field, fmt.Sprintf("%s应为各项经费之和 %s 万元，填写的数值过大", what, want.Wan()),
			fmt.Sprintf("%s: client total beyond int64 yuan; the sum is %s (万元)", field, want.Wan()))
	}
	if err != nil {
		return moneyError(field, what, err)
	}
	if present && got != want {
		return domain.Invalid(field,
			fmt.Sprintf("%s应为各项经费之和 %s 万元，与填写的 %s 万元不一致", what, want.Wan(), got.Wan()),
			fmt.Sprintf("%s: client total %s differs from the sum %s (万元)", field, got.Wan(), want.Wan()))
	}
	return nil
}

// moneyError explains why an amount of 万元 was refused; what names it for users
// ("任务（项目）2.1：学校自筹金额").
func moneyError(field, what string, err error) error {
	var msg string
	switch {
	case errors.Is(err, ErrExponent):
		msg = what + "请用普通小数书写（如 12.5），不支持科学计数法"
	case errors.Is(err, ErrTooPrecise):
		msg = what + "最多4位小数（单位万元，精确到元）"
	case errors.Is(err, ErrTooLarge):
		msg = fmt.Sprintf("%s超出上限，单位万元，不能超过 %d 万元", what, MaxWan)
	default: // ErrNotNumber, ErrNegative
		msg = what + "须为非负数，单位万元，最多4位小数"
	}
	return domain.Invalid(field, msg, fmt.Sprintf("%s: %v", field, err))
}

func overflow(field string) error {
	return domain.Invalid(field, "投入经费合计超出可记录的范围，请核对金额", field+": sum overflows")
}

// clip shortens a client's string before it is echoed in a message or a field.
func clip(s string) string {
	const runes = 32
	if utf8.RuneCountInString(s) <= runes {
		return s
	}
	return string([]rune(s)[:runes]) + "…"
}
