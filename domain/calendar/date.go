package calendar

import (
	"fmt"
	"time"
)

// Shanghai is China Standard Time, UTC+8. China has kept no daylight saving
// since 1991, so a fixed zone is exact for every year a calendar can cover and,
// unlike time.LoadLocation, needs no tzdata lookup on disk.
var Shanghai = time.FixedZone("CST", 8*60*60)

// Date is a civil date in Asia/Shanghai, counted in days since 1970-01-01 so that
// d+1 is the next day, d2-d1 is a number of days and dates compare with <.
type Date int

const dateLayout = "2006-01-02"

// NewDate returns the date y-m-d. Like time.Date it normalises out-of-range
// values: NewDate(2022, 2, 29) is 2022-03-01.
func NewDate(y int, m time.Month, d int) Date {
	return Date(time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Unix() / 86400)
}

// DateOf returns the date in Asia/Shanghai at instant t.
func DateOf(t time.Time) Date {
	y, m, d := t.In(Shanghai).Date()
	return NewDate(y, m, d)
}

// ParseDate parses "2006-01-02" strictly: no normalisation, so "2022-02-29" is
// an error.
func ParseDate(s string) (Date, error) {
	t, err := time.Parse(dateLayout, s)
	if err != nil {
		return 0, fmt.Errorf("parse date %q: want YYYY-MM-DD", s)
	}
	return NewDate(t.Date()), nil
}

// Start returns the first instant of d, 00:00 in Asia/Shanghai.
func (d Date) Start() time.Time {
	return time.Unix(int64(d)*86400-8*60*60, 0).In(Shanghai)
}

// Date returns the year, month and day of d.
func (d Date) Date() (year int, month time.Month, day int) {
	return time.Unix(int64(d)*86400, 0).UTC().Date()
}

// Year returns the year of d.
func (d Date) Year() int {
	y, _, _ := d.Date()
	return y
}

// Weekday returns the day of the week of d.
func (d Date) Weekday() time.Weekday {
	// 1970-01-01 was a Thursday; the double modulo keeps dates before it right.
	return time.Weekday(((int(d)+4)%7 + 7) % 7)
}

// String returns d as "2006-01-02".
func (d Date) String() string {
	return time.Unix(int64(d)*86400, 0).UTC().Format(dateLayout)
}

// MarshalText writes d as "2006-01-02", so JSON and events carry a readable date.
func (d Date) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText reads "2006-01-02" strictly.
func (d *Date) UnmarshalText(b []byte) error {
	v, err := ParseDate(string(b))
	if err != nil {
		return err
	}
	*d = v
	return nil
}
