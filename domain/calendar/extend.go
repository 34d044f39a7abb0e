package calendar

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"

	"keytask/domain"
)

// HolidaysEnv names the environment variable that points at an operator's
// holiday file (see Load).
const HolidaysEnv = "KEYTASK_HOLIDAYS"

// Extend returns the calendar c together with the arrangements read from r,
// which is CSV in the format Parse reads. It lets an operator add a year the
// State Council has just published without a new release.
//
// Extend only ever adds whole years: a year c already covers may be repeated
// in r (so that a file written before a release that embeds the year keeps
// working), but then its rows must be exactly c's rows for that year; any
// other row of such a year conflicts and is refused. The years of the result
// must be consecutive, as Parse requires. Because a covered year can never
// change, a notice counted on c counts the same on the result, which is what
// keeps replayed selection batches deterministic when the file grows.
//
// Errors are *domain.FieldError naming the row of r as holidays[i] and its
// line, as Parse's.
func (c *Calendar) Extend(r io.Reader) (*Calendar, error) {
	x, err := Parse(r)
	if err != nil {
		return nil, err
	}
	out := &Calendar{days: maps.Clone(c.days), rows: maps.Clone(c.rows), first: min(c.first, x.first), last: max(c.last, x.last)}
	for _, d := range slices.Sorted(maps.Keys(x.days)) {
		day, at := x.days[d], x.rows[d]
		if !c.Covers(d.Year()) {
			out.days[d], out.rows[d] = day, at
			continue
		}
		if have, ok := c.days[d]; !ok || have.Kind != day.Kind {
			builtin := "未列出该日期（按周末/工作日处理）"
			if ok {
				builtin = "列为" + have.Name + kindZh(have.Kind)
			}
			return nil, domain.Invalid(fmt.Sprintf("holidays[%d].date", at.index),
				fmt.Sprintf("CSV 第%d行：%s %s 与系统已收录的%d年节假日安排冲突（已收录的安排%s）；已收录的年份不能修改",
					at.line, d, kindZh(day.Kind), d.Year(), builtin),
				fmt.Sprintf("line %d: %s %s conflicts with the %d arrangement already loaded", at.line, d, day.Kind, d.Year()))
		}
	}
	// A covered year repeated in r must list every date c lists for it too.
	for _, d := range slices.Sorted(maps.Keys(c.days)) {
		if _, ok := x.days[d]; ok || !x.Covers(d.Year()) {
			continue
		}
		have := c.days[d]
		return nil, domain.Invalid("holidays",
			fmt.Sprintf("CSV 中%d年的安排缺少已收录的 %s（%s%s）；已收录的年份须与原安排完全一致，或不列该年", d.Year(), d, have.Name, kindZh(have.Kind)),
			fmt.Sprintf("the %d rows omit %s, which the loaded arrangement lists", d.Year(), d))
	}
	for y := out.first; y <= out.last; y++ {
		if !c.Covers(y) && !x.Covers(y) {
			return nil, domain.Invalid("holidays",
				fmt.Sprintf("CSV 缺少%d年的节假日安排：与系统已收录的%d—%d年合并后，年份须连续", y, c.first, c.last),
				fmt.Sprintf("no rows for %d between the loaded %d-%d and the file's %d-%d", y, c.first, c.last, x.first, x.last))
		}
	}
	return out, nil
}

// Load returns the embedded calendar extended with the holiday file at path
// (see Extend); an empty path returns Default. Every process that counts
// public notices loads the same file at startup.
func Load(path string) (*Calendar, error) {
	if path == "" {
		return Default(), nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", HolidaysEnv, err)
	}
	defer f.Close()
	c, err := Default().Extend(f)
	if fe := (*domain.FieldError)(nil); errors.As(err, &fe) {
		return nil, fmt.Errorf("%s=%s: %s: %w (%s)", HolidaysEnv, path, fe.Field, err, fe.Message)
	}
	return c, err
}
