package calendar_test

import (
	"errors"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
	"time"

	"keytask/domain"
	"keytask/domain/calendar"
)

func date(tb testing.TB, s string) calendar.Date {
	tb.Helper()
	d, err := calendar.ParseDate(s)
	if err != nil {
		tb.Fatal(err)
	}
	return d
}

// at returns the instant "2006-01-02 15:04" in Asia/Shanghai.
func at(tb testing.TB, s string) time.Time {
	tb.Helper()
	t, err := time.ParseInLocation("2006-01-02 15:04", s, calendar.Shanghai)
	if err != nil {
		tb.Fatal(err)
	}
	return t
}

func TestDefault(t *testing.T) {
	c := calendar.Default()
	if first, last := c.Coverage(); first != 2022 || last != 2026 {
		t.Fatalf("coverage %d-%d, want 2022-2026", first, last)
	}
	if calendar.Default() != c {
		t.Fatal("Default parses once and shares the calendar")
	}
}

func TestIsWorkingDay(t *testing.T) {
	c := calendar.Default()
	for _, tc := range []struct {
		date string
		want bool
		why  string
	}{
		{"2022-09-30", true, "Friday before 国庆"},
		{"2022-10-01", false, "国庆 on a Saturday"},
		{"2022-10-07", false, "国庆 on a Friday"},
		{"2022-10-08", true, "调休 Saturday"},
		{"2022-10-09", true, "调休 Sunday"},
		{"2022-10-10", true, "plain Monday"},
		{"2022-10-15", false, "plain Saturday"},
		{"2022-01-29", true, "春节 调休 Saturday"},
		{"2022-01-31", false, "春节 Monday"},
		{"2023-01-27", false, "last day of 春节 2023"},
		{"2023-01-28", true, "春节 调休 Saturday 2023"},
		{"2023-09-29", false, "中秋 Friday"},
		{"2024-02-09", true, "除夕 2024 was not a public holiday"},
		{"2024-02-17", false, "春节 Saturday"},
		{"2024-02-18", true, "春节 调休 Sunday"},
		{"2025-01-26", true, "春节 调休 Sunday"},
		{"2025-02-04", false, "春节 Tuesday"},
		{"2025-02-08", true, "春节 调休 Saturday"},
		{"2025-10-08", false, "国庆 Wednesday"},
		{"2025-10-11", true, "国庆 调休 Saturday"},
		{"2026-01-04", true, "元旦 调休 Sunday"},
		{"2026-02-14", true, "春节 调休 Saturday"},
		{"2026-02-23", false, "春节 Monday"},
		{"2026-12-31", true, "last covered day, a Thursday"},
	} {
		t.Run(tc.date, func(t *testing.T) {
			got, err := c.IsWorkingDay(date(t, tc.date))
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Fatalf("IsWorkingDay(%s) = %v, want %v (%s)", tc.date, got, tc.want, tc.why)
			}
		})
	}
	for _, s := range []string{"2021-12-31", "2027-01-01", "2027-01-04"} {
		t.Run("ErrNotCovered/"+s, func(t *testing.T) {
			_, err := c.IsWorkingDay(date(t, s))
			var nc *calendar.NotCoveredError
			if !errors.As(err, &nc) || nc.Date != date(t, s) {
				t.Fatalf("err = %v, want *NotCoveredError for %s", err, s)
			}
		})
	}
}

// TestWorkingDaysPerYear checks whole years against counts worked out by hand:
// 2022 has 365 days, 105 of them Saturdays or Sundays, 18 weekday holidays and 7
// make-up Saturdays or Sundays: 365-105-18+7 = 249. 2023 likewise: 365-105-18+7.
// 2024-2026 were counted by a separate script over the same CSV.
func TestWorkingDaysPerYear(t *testing.T) {
	c := calendar.Default()
	for year, want := range map[int]int{2022: 249, 2023: 249, 2024: 251, 2025: 248, 2026: 248} {
		got, err := c.CountWorkingDays(calendar.NewDate(year, 1, 1), calendar.NewDate(year+1, 1, 1))
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("%d has %d working days, want %d", year, got, want)
		}
	}
}

func TestAddWorkingDays(t *testing.T) {
	c := calendar.Default()
	for _, tc := range []struct {
		from string
		n    int
		want string
	}{
		{"2022-09-30", 1, "2022-10-08"},  // over 国庆 to the 调休 Saturday
		{"2022-09-30", 3, "2022-10-10"},  // Sat, Sun (both 调休), Mon
		{"2022-10-07", 1, "2022-10-08"},  // from inside the holiday
		{"2022-10-10", -1, "2022-10-09"}, // backwards onto the 调休 Sunday
		{"2022-10-08", -1, "2022-09-30"}, // backwards over 国庆
		{"2023-01-20", 1, "2023-01-28"},  // over 春节 2023
		{"2024-02-08", 2, "2024-02-18"},  // 除夕 Friday, then the 调休 Sunday
		{"2026-02-13", 2, "2026-02-24"},  // 调休 Saturday, then over 春节 2026
		{"2022-10-15", 0, "2022-10-15"},  // zero is the date itself, working or not
		{"2026-12-30", 1, "2026-12-31"},
	} {
		got, err := c.AddWorkingDays(date(t, tc.from), tc.n)
		if err != nil {
			t.Fatalf("AddWorkingDays(%s, %d): %v", tc.from, tc.n, err)
		}
		if got != date(t, tc.want) {
			t.Errorf("AddWorkingDays(%s, %d) = %s, want %s", tc.from, tc.n, got, tc.want)
		}
	}
	t.Run("ErrNotCovered", func(t *testing.T) {
		for _, tc := range []struct {
			from string
			n    int
			year int
		}{{"2026-12-30", 2, 2027}, {"2022-01-04", -2, 2021}} {
			_, err := c.AddWorkingDays(date(t, tc.from), tc.n)
			var nc *calendar.NotCoveredError
			if !errors.As(err, &nc) || nc.Date.Year() != tc.year {
				t.Fatalf("AddWorkingDays(%s, %d) err = %v, want *NotCoveredError in %d", tc.from, tc.n, err, tc.year)
			}
		}
	})
}

func TestNotice(t *testing.T) {
	c := calendar.Default()
	for _, tc := range []struct {
		name        string
		published   time.Time
		n           int
		first, last string
	}{
		{"国庆2022", at(t, "2022-09-30 10:00"), 5, "2022-10-08", "2022-10-12"},
		{"国庆2022LateEvening", at(t, "2022-09-30 23:59"), 5, "2022-10-08", "2022-10-12"},
		{"InsideHoliday", at(t, "2022-10-03 09:00"), 5, "2022-10-08", "2022-10-12"},
		// 01:00 in Shanghai is still the previous evening in UTC; the Shanghai date counts.
		{"ShanghaiDateNotUTC", time.Date(2022, 10, 9, 17, 0, 0, 0, time.UTC), 5, "2022-10-11", "2022-10-17"},
		{"PublishedOnWorkingDayMorning", at(t, "2022-10-10 08:00"), 5, "2022-10-11", "2022-10-17"},
		{"春节2023", at(t, "2023-01-20 15:00"), 5, "2023-01-28", "2023-02-01"},
		{"春节2024", at(t, "2024-02-08 09:00"), 5, "2024-02-09", "2024-02-21"},
		{"春节2025", at(t, "2025-01-24 17:30"), 5, "2025-01-26", "2025-02-07"},
		{"春节2026", at(t, "2026-02-13 10:00"), 5, "2026-02-14", "2026-02-27"},
		{"国庆2025", at(t, "2025-09-26 10:00"), 5, "2025-09-28", "2025-10-10"},
		{"端午2024PublishedOnHoliday", at(t, "2024-06-08 10:00"), 5, "2024-06-11", "2024-06-17"},
		{"OneDay", at(t, "2022-10-14 16:00"), 1, "2022-10-17", "2022-10-17"},
		{"TenDaysOverNewYear", at(t, "2022-12-26 10:00"), 10, "2022-12-27", "2023-01-10"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			nt, err := c.Notice(tc.published, tc.n)
			if err != nil {
				t.Fatal(err)
			}
			if nt.First != date(t, tc.first) || nt.Last != date(t, tc.last) {
				t.Fatalf("notice runs %s to %s, want %s to %s", nt.First, nt.Last, tc.first, tc.last)
			}
			wantEnd := date(t, tc.last).Start().Add(24 * time.Hour)
			if !nt.End.Equal(wantEnd) {
				t.Fatalf("End = %s, want %s", nt.End, wantEnd)
			}
			end, err := c.NoticeEnd(tc.published, tc.n)
			if err != nil || !end.Equal(nt.End) {
				t.Fatalf("NoticeEnd = %s, %v; want %s", end, err, nt.End)
			}
			if nt.Open(tc.published.Add(-time.Nanosecond)) || !nt.Open(tc.published) ||
				!nt.Open(nt.End.Add(-time.Nanosecond)) || nt.Open(nt.End) {
				t.Fatal("a notice is open exactly from its publication up to, not including, End")
			}
		})
	}
	t.Run("EndsAt2400Shanghai", func(t *testing.T) {
		end, err := c.NoticeEnd(at(t, "2022-09-30 10:00"), 5)
		if err != nil {
			t.Fatal(err)
		}
		if got := end.UTC().Format(time.RFC3339); got != "2022-10-12T16:00:00Z" {
			t.Fatalf("End = %s, want 2022-10-12T16:00:00Z (2022-10-13 00:00 in Shanghai)", got)
		}
	})
	t.Run("ErrNotCovered", func(t *testing.T) {
		_, err := c.NoticeEnd(at(t, "2026-12-28 10:00"), 5)
		var nc *calendar.NotCoveredError
		if !errors.As(err, &nc) || nc.Date.Year() != 2027 {
			t.Fatalf("err = %v, want *NotCoveredError for 2027", err)
		}
		var ce *domain.ConflictError
		if !errors.As(err, &ce) || !strings.Contains(ce.Message, "2027年") {
			t.Fatalf("err as ConflictError = %v, want a message naming 2027年", ce)
		}
	})
	t.Run("ErrWorkingDays", func(t *testing.T) {
		for _, n := range []int{0, -5} {
			_, err := c.Notice(at(t, "2022-10-10 10:00"), n)
			var fe *domain.FieldError
			if !errors.As(err, &fe) || fe.Field != "working_days" {
				t.Fatalf("n=%d: err = %v, want FieldError on working_days", n, err)
			}
		}
	})
}

func TestParse(t *testing.T) {
	t.Run("OK", func(t *testing.T) {
		c, err := calendar.Parse(strings.NewReader("\ufeffDate,Kind,Name\r\n2030-10-01,holiday,国庆节\r\n2030-10-12,workday,国庆节\r\n\r\n2031-01-01,holiday,元旦\r\n"))
		if err != nil {
			t.Fatal(err)
		}
		if !c.Covers(2030) || !c.Covers(2031) || c.Covers(2029) || c.Covers(2032) {
			t.Fatal("covers exactly 2030-2031")
		}
		day, ok := c.Arrangement(date(t, "2030-10-12"))
		if !ok || day.Kind != calendar.Workday || day.Name != "国庆节" {
			t.Fatalf("Arrangement = %+v, %v", day, ok)
		}
		if ok, _ := c.IsWorkingDay(date(t, "2030-10-12")); !ok {
			t.Fatal("the listed Saturday is a working day")
		}
		if ok, _ := c.IsWorkingDay(date(t, "2030-10-01")); ok {
			t.Fatal("the listed Tuesday is a holiday")
		}
	})
	for _, tc := range []struct {
		name, csv, field, msg string
	}{
		{"ErrEmpty", "", "holidays", "CSV 为空"},
		{"ErrHeader", "day,kind,name\n2022-01-01,holiday,元旦\n", "holidays", "表头"},
		{"ErrNoRows", "date,kind,name\n", "holidays", "没有任何日期"},
		{"ErrColumns", "date,kind,name\n2022-01-01,holiday\n", "holidays[0]", "第2行有2列"},
		{"ErrDate", "date,kind,name\n2022-01-01,holiday,元旦\n2022-02-30,holiday,春节\n", "holidays[1].date", "第3行"},
		{"ErrDateFormat", "date,kind,name\n2022/01/01,holiday,元旦\n", "holidays[0].date", "YYYY-MM-DD"},
		{"ErrKind", "date,kind,name\n2022-01-01,rest,元旦\n", "holidays[0].kind", "holiday"},
		{"ErrWorkdayOnWeekday", "date,kind,name\n2022-10-10,workday,国庆节\n", "holidays[0].kind", "不是周末"},
		{"ErrName", "date,kind,name\n2022-01-01,holiday, \n", "holidays[0].name", "名称"},
		{"ErrDuplicate", "date,kind,name\n2022-01-01,holiday,元旦\n2022-01-01,holiday,元旦\n", "holidays[1].date", "重复"},
		{"ErrGapYear", "date,kind,name\n2022-01-01,holiday,元旦\n2024-01-01,holiday,元旦\n", "holidays", "2023年"},
		{"ErrQuote", "date,kind,name\n2022-01-01,holiday,\"元旦\n", "holidays", "CSV 格式错误"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := calendar.Parse(strings.NewReader(tc.csv))
			var fe *domain.FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("err = %v, want *domain.FieldError", err)
			}
			if fe.Field != tc.field || !strings.Contains(fe.Message, tc.msg) {
				t.Fatalf("error %q: %q, want %q containing %q", fe.Field, fe.Message, tc.field, tc.msg)
			}
		})
	}
}

func TestDate(t *testing.T) {
	d := date(t, "2022-10-08")
	if d.Weekday() != time.Saturday || d.String() != "2022-10-08" || d.Year() != 2022 {
		t.Fatalf("2022-10-08: weekday %s, string %s", d.Weekday(), d)
	}
	if got := d.Start().Format(time.RFC3339); got != "2022-10-08T00:00:00+08:00" {
		t.Fatalf("Start = %s", got)
	}
	if _, err := calendar.ParseDate("2022-02-29"); err == nil {
		t.Fatal("2022-02-29 does not exist")
	}
	b, _ := d.MarshalText()
	var back calendar.Date
	if err := back.UnmarshalText(b); err != nil || back != d {
		t.Fatalf("text round trip: %s, %v", back, err)
	}
	if back.UnmarshalText([]byte("10/08/2022")) == nil {
		t.Fatal("UnmarshalText accepts only YYYY-MM-DD")
	}
	// Property: across four centuries either side of 1970 a date agrees with the
	// standard library on its fields, weekday and start instant.
	r := rand.New(rand.NewPCG(1, 2))
	for range 20000 {
		d := calendar.Date(r.IntN(300000) - 150000)
		start := d.Start()
		y, m, dd := start.Date()
		if gy, gm, gd := d.Date(); gy != y || gm != m || gd != dd {
			t.Fatalf("%d: Date() = %d-%d-%d, Start() = %s", d, gy, gm, gd, start)
		}
		if d.Weekday() != start.Weekday() || calendar.NewDate(y, m, dd) != d || calendar.DateOf(start) != d ||
			calendar.DateOf(start.Add(24*time.Hour-time.Nanosecond)) != d {
			t.Fatalf("%s: inconsistent with time", d)
		}
		if p, err := calendar.ParseDate(d.String()); y > 0 && y < 10000 && (err != nil || p != d) {
			t.Fatalf("ParseDate(%s) = %s, %v", d, p, err)
		}
	}
}

// oracle classifies dates straight from the CSV text, independently of Parse.
func oracle(tb testing.TB) func(calendar.Date) bool {
	tb.Helper()
	raw, err := os.ReadFile("holidays-cn.csv")
	if err != nil {
		tb.Fatal(err)
	}
	kinds := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(raw)), "\n")[1:] {
		f := strings.Split(strings.TrimSpace(line), ",")
		kinds[f[0]] = f[1]
	}
	return func(d calendar.Date) bool {
		if k, ok := kinds[d.String()]; ok {
			return k == "workday"
		}
		wd := d.Start().Weekday()
		return wd != time.Saturday && wd != time.Sunday
	}
}

func TestWorkingDayProperties(t *testing.T) {
	c := calendar.Default()
	isWorking := oracle(t)
	lo, hi := calendar.NewDate(2022, 1, 1), calendar.NewDate(2027, 1, 1)
	for d := lo; d < hi; d++ {
		got, err := c.IsWorkingDay(d)
		if err != nil || got != isWorking(d) {
			t.Fatalf("IsWorkingDay(%s) = %v, %v; the CSV says %v", d, got, err, isWorking(d))
		}
	}
	r := rand.New(rand.NewPCG(3, 4))
	for range 5000 {
		d := lo + calendar.Date(r.IntN(int(hi-lo)))
		n := r.IntN(81) - 40
		got, err := c.AddWorkingDays(d, n)
		var nc *calendar.NotCoveredError
		if errors.As(err, &nc) {
			if nc.Date >= lo && nc.Date < hi {
				t.Fatalf("AddWorkingDays(%s, %d) refused covered date %s", d, n, nc.Date)
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case n == 0:
			if got != d {
				t.Fatalf("AddWorkingDays(%s, 0) = %s", d, got)
			}
			continue
		case n > 0:
			if k, _ := c.CountWorkingDays(d+1, got+1); got <= d || k != n {
				t.Fatalf("AddWorkingDays(%s, %d) = %s holds %d working days", d, n, got, k)
			}
		default:
			if k, _ := c.CountWorkingDays(got, d); got >= d || k != -n {
				t.Fatalf("AddWorkingDays(%s, %d) = %s holds %d working days", d, n, got, k)
			}
		}
		if !isWorking(got) {
			t.Fatalf("AddWorkingDays(%s, %d) = %s, not a working day", d, n, got)
		}
		if isWorking(d) {
			if back, err := c.AddWorkingDays(got, -n); err != nil || back != d {
				t.Fatalf("AddWorkingDays(%s, %d) = %s but back by %d gives %s, %v", d, n, got, -n, back, err)
			}
		}
	}
}

func TestNoticeProperties(t *testing.T) {
	c := calendar.Default()
	isWorking := oracle(t)
	r := rand.New(rand.NewPCG(5, 6))
	from := at(t, "2022-01-01 00:00").Unix()
	to := at(t, "2026-11-30 00:00").Unix()
	for range 5000 {
		published := time.Unix(from+r.Int64N(to-from), 0)
		n := 1 + r.IntN(15)
		nt, err := c.Notice(published, n)
		if err != nil {
			t.Fatalf("Notice(%s, %d): %v", published, n, err)
		}
		day := calendar.DateOf(published)
		if k, _ := c.CountWorkingDays(day+1, nt.Last+1); k != n || !isWorking(nt.First) || !isWorking(nt.Last) {
			t.Fatalf("Notice(%s, %d) runs %s to %s with %d working days", published, n, nt.First, nt.Last, k)
		}
		if k, _ := c.CountWorkingDays(day+1, nt.First); k != 0 {
			t.Fatalf("Notice(%s, %d) skips a working day before %s", published, n, nt.First)
		}
		if !nt.End.Equal((nt.Last + 1).Start()) || nt.End.Sub(published) < time.Duration(n)*24*time.Hour {
			t.Fatalf("Notice(%s, %d) ends %s, not 24:00 of %s or too soon", published, n, nt.End, nt.Last)
		}
		// The hour of publication within a day never changes the period.
		other := day.Start().Add(time.Duration(r.Int64N(int64(24 * time.Hour))))
		if again, _ := c.Notice(other, n); !again.End.Equal(nt.End) {
			t.Fatalf("published %s and %s (same day) end %s and %s", published, other, nt.End, again.End)
		}
		// One more working day never ends earlier, and ends exactly one working day later.
		if longer, _ := c.Notice(published, n+1); !longer.End.After(nt.End) {
			t.Fatalf("Notice(%s, %d) ends %s, no later than with %d days", published, n+1, longer.End, n)
		}
	}
}
