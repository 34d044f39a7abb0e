package calendar_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"keytask/domain"
	"keytask/domain/calendar"
)

// cn2027 is a made-up test arrangement for 2027 (not the official one): only
// its shape matters here.
const cn2027 = `date,kind,name
2027-01-01,holiday,测试节
2027-01-02,holiday,测试节
2027-01-09,workday,测试节
`

func TestExtend(t *testing.T) {
	c, err := calendar.Default().Extend(strings.NewReader(cn2027))
	if err != nil {
		t.Fatal(err)
	}
	if first, last := c.Coverage(); first != 2022 || last != 2027 {
		t.Fatalf("coverage %d-%d, want 2022-2027", first, last)
	}
	if first, last := calendar.Default().Coverage(); last != 2026 || first != 2022 {
		t.Fatal("Extend changed the embedded calendar")
	}
	for d, want := range map[string]bool{"2027-01-01": false, "2027-01-04": true, "2027-01-09": true, "2027-01-10": false, "2022-10-08": true} {
		if got, err := c.IsWorkingDay(date(t, d)); err != nil || got != want {
			t.Errorf("IsWorkingDay(%s) = %v, %v; want %v", d, got, err, want)
		}
	}
	// A notice the embedded calendar refuses is counted on the extended one.
	published := at(t, "2026-12-28 10:00")
	if _, err := calendar.Default().Notice(published, 5); !errors.As(err, new(*calendar.NotCoveredError)) {
		t.Fatalf("embedded: %v", err)
	}
	n, err := c.Notice(published, 5)
	if err != nil || n.Last != date(t, "2027-01-05") {
		t.Fatalf("extended: %+v, %v", n, err)
	}
	// A year repeated exactly is accepted (a file kept after a release that embeds it).
	var y2026 strings.Builder
	y2026.WriteString("date,kind,name\n")
	emb, _ := os.ReadFile("holidays-cn.csv")
	for _, l := range strings.Split(string(emb), "\n") {
		if strings.HasPrefix(l, "2026-") {
			y2026.WriteString(l + "\n")
		}
	}
	if _, err := calendar.Default().Extend(strings.NewReader(y2026.String() + strings.TrimPrefix(cn2027, "date,kind,name\n"))); err != nil {
		t.Fatalf("2026 repeated exactly: %v", err)
	}

	for _, tc := range []struct{ name, csv, field, msg string }{
		{"Conflict", "date,kind,name\n2027-01-01,holiday,元旦\n2026-10-01,workday,国庆节\n", "holidays[1].kind", "第3行"},
		{"ConflictNewDate", "date,kind,name\n2026-10-12,holiday,国庆节\n", "holidays[0].date", "冲突"},
		{"PartialCoveredYear", "date,kind,name\n2026-01-01,holiday,元旦\n", "holidays", "缺少已收录"},
		{"Gap", "date,kind,name\n2028-01-01,holiday,元旦\n", "holidays", "缺少2027年"},
		{"Duplicate", "date,kind,name\n2027-01-01,holiday,元旦\n2027-01-01,holiday,元旦\n", "holidays[1].date", "重复"},
		{"BadDate", "date,kind,name\n2027-02-30,holiday,元旦\n", "holidays[0].date", "第2行"},
		{"WeekdayWorkday", "date,kind,name\n2027-01-04,workday,元旦\n", "holidays[0].kind", "不是周末"},
		{"Header", "day,kind,name\n2027-01-01,holiday,元旦\n", "holidays", "表头"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := calendar.Default().Extend(strings.NewReader(tc.csv))
			var fe *domain.FieldError
			if !errors.As(err, &fe) || fe.Field != tc.field || !strings.Contains(fe.Message, tc.msg) {
				t.Fatalf("err = %#v, want field %s with %q", err, tc.field, tc.msg)
			}
		})
	}
}

func TestLoad(t *testing.T) {
	if c, err := calendar.Load(""); err != nil || c != calendar.Default() {
		t.Fatalf("no file: %v", err)
	}
	dir := t.TempDir()
	good := filepath.Join(dir, "2027.csv")
	os.WriteFile(good, []byte(cn2027), 0o600)
	c, err := calendar.Load(good)
	if err != nil || !c.Covers(2027) {
		t.Fatalf("Load(%s): %v", good, err)
	}
	bad := filepath.Join(dir, "bad.csv")
	os.WriteFile(bad, []byte("date,kind,name\n2027-01-01,holiday,元旦\n2027-13-01,holiday,x\n"), 0o600)
	if _, err := calendar.Load(bad); err == nil || !strings.Contains(err.Error(), "KEYTASK_HOLIDAYS="+bad) ||
		!strings.Contains(err.Error(), "holidays[1].date") || !strings.Contains(err.Error(), "第3行") {
		t.Fatalf("Load(bad) = %v", err)
	}
	if _, err := calendar.Load(filepath.Join(dir, "missing.csv")); err == nil || !strings.Contains(err.Error(), "KEYTASK_HOLIDAYS") {
		t.Fatalf("Load(missing) = %v", err)
	}
}

func TestNotCoveredMessage(t *testing.T) {
	_, err := calendar.Default().Notice(time.Date(2026, 12, 28, 10, 0, 0, 0, calendar.Shanghai), 5)
	var ce *domain.ConflictError
	if !errors.As(err, &ce) || !strings.Contains(ce.Message, "尚未加载2027年的节假日安排") {
		t.Fatalf("err = %v", err)
	}
}
