// Package calendar is the working-day calendar of mainland China, kept as data:
// the State Council's yearly holiday arrangements, with their 调休 make-up working
// days, decide which dates are working days, and public-notice periods (公示期 N
// 个工作日) are counted on it in Asia/Shanghai.
//
// A calendar refuses to answer for a year its data does not cover rather than
// guess from weekends alone, because a guessed notice end would be wrong by a
// week around 春节 or 国庆.
package calendar

import (
	_ "embed"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"keytask/domain"
)

// Kind says what a listed date is.
type Kind string

// Kinds of listed dates.
const (
	Holiday Kind = "holiday" // a public-holiday rest day (法定节假日或调休休息日)
	Workday Kind = "workday" // a weekend date that is a make-up working day (调休上班)
)

// Day is one listed date of the holiday arrangements.
type Day struct {
	Date Date
	Kind Kind
	Name string // the holiday it belongs to, e.g. 国庆节
}

// Calendar says which dates are working days. It is immutable and safe for
// concurrent use.
type Calendar struct {
	days        map[Date]Day
	rows        map[Date]row // where each date was read from, for errors
	first, last int          // covered years, inclusive
}

//go:embed holidays-cn.csv
var embedded string

// Default returns the calendar built from the arrangements embedded in the
// binary (the State Council arrangements 2022–2026), parsed once and shared.
func Default() *Calendar { return parseEmbedded() }

var parseEmbedded = sync.OnceValue(func() *Calendar {
	c, err := Parse(strings.NewReader(embedded))
	if err != nil {
		panic("calendar: embedded holidays-cn.csv: " + err.Error()) // caught by TestDefault
	}
	return c
})

// Parse reads holiday arrangements as CSV with the header date,kind,name: one row
// per public-holiday date (kind holiday) and per weekend date that is a make-up
// working day (kind workday). Every other Saturday and Sunday is a rest day and
// every other weekday a working day.
//
// A year is covered when at least one row falls in it, so arrangements are added
// one whole year at a time, as the State Council publishes them; the covered
// years must be consecutive. Errors are *domain.FieldError naming the row as
// holidays[i] (i counts data rows from 0) and the line in the message.
func Parse(r io.Reader) (*Calendar, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1 // checked below, with a clearer message
	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil, domain.Invalid("holidays", "CSV 为空：第一行应为表头 date,kind,name", "empty CSV")
	}
	if err != nil {
		return nil, csvError(err)
	}
	for i := range header {
		header[i] = strings.ToLower(strings.TrimSpace(strings.TrimPrefix(header[i], "\ufeff")))
	}
	if strings.Join(header, ",") != "date,kind,name" {
		return nil, domain.Invalid("holidays", "CSV 表头应为 date,kind,name",
			fmt.Sprintf("header is %q, want date,kind,name", shorten(strings.Join(header, ","))))
	}
	c := &Calendar{days: map[Date]Day{}, rows: map[Date]row{}}
	years := map[int]bool{}
	for i := 0; ; i++ {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, csvError(err)
		}
		line, _ := cr.FieldPos(0)
		field := fmt.Sprintf("holidays[%d]", i)
		if len(rec) != 3 {
			return nil, domain.Invalid(field, fmt.Sprintf("CSV 第%d行有%d列，应为3列（date,kind,name）", line, len(rec)),
				fmt.Sprintf("line %d has %d fields, want 3", line, len(rec)))
		}
		s, kind, name := strings.TrimSpace(rec[0]), Kind(strings.TrimSpace(rec[1])), strings.TrimSpace(rec[2])
		d, err := ParseDate(s)
		if err != nil {
			return nil, domain.Invalid(field+".date", fmt.Sprintf("CSV 第%d行：日期“%s”应为有效日期，格式 YYYY-MM-DD", line, shorten(s)),
				fmt.Sprintf("line %d: %v", line, err))
		}
		if kind != Holiday && kind != Workday {
			return nil, domain.Invalid(field+".kind", fmt.Sprintf("CSV 第%d行：类型“%s”应为 holiday（放假）或 workday（调休上班）", line, shorten(string(kind))),
				fmt.Sprintf("line %d: kind %q is neither holiday nor workday", line, shorten(string(kind))))
		}
		if kind == Workday && !weekend(d) {
			return nil, domain.Invalid(field+".kind", fmt.Sprintf("CSV 第%d行：%s 是工作日，不是周末，不能列为调休上班日", line, d),
				fmt.Sprintf("line %d: workday %s is not a Saturday or Sunday", line, d))
		}
		if name == "" {
			return nil, domain.Invalid(field+".name", fmt.Sprintf("CSV 第%d行：节日名称不能为空", line),
				fmt.Sprintf("line %d: empty name", line))
		}
		if prev, dup := c.days[d]; dup {
			return nil, domain.Invalid(field+".date", fmt.Sprintf("CSV 第%d行：日期 %s 重复（已列为%s %s）", line, d, prev.Name, kindZh(prev.Kind)),
				fmt.Sprintf("line %d: date %s listed twice", line, d))
		}
		c.days[d] = Day{Date: d, Kind: kind, Name: name}
		c.rows[d] = row{index: i, line: line}
		years[d.Year()] = true
	}
	if len(c.days) == 0 {
		return nil, domain.Invalid("holidays", "CSV 中没有任何日期", "no rows")
	}
	c.first, c.last = 1<<31, -1<<31
	for y := range years {
		c.first, c.last = min(c.first, y), max(c.last, y)
	}
	for y := c.first; y <= c.last; y++ {
		if !years[y] {
			// A gap would silently be counted as weekends only.
			return nil, domain.Invalid("holidays", fmt.Sprintf("CSV 缺少%d年的节假日安排：收录的年份须连续（%d—%d年）", y, c.first, c.last),
				fmt.Sprintf("no rows for %d between %d and %d", y, c.first, c.last))
		}
	}
	return c, nil
}

// row is where a date was read: its data row (from 0) and CSV line.
type row struct{ index, line int }

func csvError(err error) error {
	return domain.Invalid("holidays", "CSV 格式错误："+err.Error(), "read CSV: "+err.Error())
}

func shorten(s string) string {
	if utf8.RuneCountInString(s) <= 40 {
		return s
	}
	return string([]rune(s)[:40]) + "…"
}

func kindZh(k Kind) string {
	if k == Workday {
		return "调休上班"
	}
	return "放假"
}

func weekend(d Date) bool {
	wd := d.Weekday()
	return wd == time.Saturday || wd == time.Sunday
}

// Covers reports whether the calendar holds the arrangements for year.
func (c *Calendar) Covers(year int) bool { return year >= c.first && year <= c.last }

// Coverage returns the first and last year the calendar covers.
func (c *Calendar) Coverage() (first, last int) { return c.first, c.last }

// Arrangement returns the listed arrangement for d, if the data lists d.
func (c *Calendar) Arrangement(d Date) (Day, bool) {
	day, ok := c.days[d]
	return day, ok
}

// NotCoveredError is a question about a date in a year whose holiday
// arrangements the calendar does not hold. It is a *domain.ConflictError to
// errors.As: the request is well formed, the data is not there yet.
type NotCoveredError struct {
	Date        Date // the first date that could not be classified
	First, Last int  // the years covered
}

func (e *NotCoveredError) Error() string {
	return fmt.Sprintf("holiday calendar does not cover %d (needed for %s; covers %d-%d)", e.Date.Year(), e.Date, e.First, e.Last)
}

// Message is the error for users, in Simplified Chinese.
func (e *NotCoveredError) Message() string {
	return fmt.Sprintf("系统尚未加载%d年的节假日安排（已加载%d—%d年），无法按工作日计算到 %s；请系统管理员按国务院办公厅公布的%d年节假日安排，通过 %s 加载后重试",
		e.Date.Year(), e.First, e.Last, e.Date, e.Date.Year(), HolidaysEnv)
}

// As lets callers and the HTTP layer treat the error as a *domain.ConflictError.
func (e *NotCoveredError) As(target any) bool {
	if t, ok := target.(**domain.ConflictError); ok {
		*t = &domain.ConflictError{FieldError: domain.FieldError{Message: e.Message(), Detail: e.Error()}}
		return true
	}
	return false
}

// IsWorkingDay reports whether d is a working day: a weekday that is not a
// holiday, or a weekend make-up working day. It returns a *NotCoveredError when
// the calendar does not cover d's year.
func (c *Calendar) IsWorkingDay(d Date) (bool, error) {
	if !c.Covers(d.Year()) {
		return false, &NotCoveredError{Date: d, First: c.first, Last: c.last}
	}
	if day, ok := c.days[d]; ok {
		return day.Kind == Workday, nil
	}
	return !weekend(d), nil
}

// AddWorkingDays returns the n-th working day after d, or for negative n the
// |n|-th working day before d; d itself never counts, so AddWorkingDays(d, 1) is
// the next working day even when d is one. n == 0 returns d. It returns a
// *NotCoveredError when the count reaches a year the calendar does not cover.
func (c *Calendar) AddWorkingDays(d Date, n int) (Date, error) {
	step := 1
	if n < 0 {
		step, n = -1, -n
	}
	for n > 0 {
		d += Date(step)
		ok, err := c.IsWorkingDay(d)
		if err != nil {
			return 0, err
		}
		if ok {
			n--
		}
	}
	return d, nil
}

// CountWorkingDays returns how many working days lie in [from, to); zero when
// to is not after from.
func (c *Calendar) CountWorkingDays(from, to Date) (int, error) {
	n := 0
	for d := from; d < to; d++ {
		ok, err := c.IsWorkingDay(d)
		if err != nil {
			return 0, err
		}
		if ok {
			n++
		}
	}
	return n, nil
}

// Notice is a public-notice period (公示期) of a number of working days.
//
// The rule: the publication day never counts, whatever the hour, because the
// public would otherwise get only part of a day; counting starts on the first
// working day after the publication date, and the notice closes at 24:00
// Asia/Shanghai of the last counted working day. A notice published at
// 2022-09-30 10:00 for 5 working days skips the 国庆 holiday, counts the 调休
// Saturday 10-08 and Sunday 10-09, then 10-10 to 10-12, and closes at
// 2022-10-12 24:00 (End = 2022-10-13 00:00).
type Notice struct {
	Published   time.Time // when the notice went up
	WorkingDays int       // the N of 公示期 N 个工作日
	First       Date      // the first working day counted
	Last        Date      // the last working day counted: the notice runs through it
	End         time.Time // 24:00 of Last, exclusive: the first instant the notice is closed
}

// Open reports whether the notice is open at t: published <= t < End.
func (n Notice) Open(t time.Time) bool { return !t.Before(n.Published) && t.Before(n.End) }

// Notice returns the public-notice period of n working days for a notice
// published at instant published (see Notice for the rule). It returns a
// *domain.FieldError on working_days when n < 1 and a *NotCoveredError when the
// period reaches a year the calendar does not cover.
func (c *Calendar) Notice(published time.Time, n int) (Notice, error) {
	if n < 1 {
		return Notice{}, domain.Invalid("working_days", "公示期应至少为1个工作日", fmt.Sprintf("notice of %d working days", n))
	}
	day := DateOf(published)
	first, err := c.AddWorkingDays(day, 1)
	if err != nil {
		return Notice{}, err
	}
	last, err := c.AddWorkingDays(first, n-1)
	if err != nil {
		return Notice{}, err
	}
	return Notice{Published: published, WorkingDays: n, First: first, Last: last, End: (last + 1).Start()}, nil
}

// NoticeEnd returns the first instant after a notice of n working days published
// at instant published, that is 24:00 Asia/Shanghai of its last working day;
// errors as Notice.
func (c *Calendar) NoticeEnd(published time.Time, n int) (time.Time, error) {
	nt, err := c.Notice(published, n)
	return nt.End, err
}
