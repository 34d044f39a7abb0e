package config

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// CollectionEnv is the yearly performance collection's settings as given.
type CollectionEnv struct {
	At, DeadlineAfter, Reminders, CloseAfter string
}

// CollectionSchedule is the yearly performance collection's schedule, read.
type CollectionSchedule struct {
	Off           bool // no schedule is created or updated
	Month, Day    int  // in Asia/Shanghai
	Hour, Minute  int
	DeadlineAfter time.Duration
	Reminders     []time.Duration // before the deadline
	CloseAfter    time.Duration
}

// CollectionSchedule reads the collection settings; an error names the
// variable at fault.
func (c Config) CollectionSchedule() (CollectionSchedule, error) {
	var s CollectionSchedule
	e := c.Collection
	if strings.EqualFold(strings.TrimSpace(e.At), "off") {
		s.Off = true
	} else {
		t, err := time.Parse("01-02 15:04", strings.TrimSpace(e.At))
		if err != nil {
			return s, fmt.Errorf("KEYTASK_COLLECTION_AT %q: want MM-DD HH:MM, such as 12-01 09:00, or off", e.At)
		}
		if t.Month() == 2 && t.Day() == 29 {
			return s, fmt.Errorf("KEYTASK_COLLECTION_AT %q: 29 February does not come every year", e.At)
		}
		s.Month, s.Day, s.Hour, s.Minute = int(t.Month()), t.Day(), t.Hour(), t.Minute()
	}
	var err error
	if s.DeadlineAfter, err = ParseDays(e.DeadlineAfter); err != nil || s.DeadlineAfter <= 0 {
		return s, fmt.Errorf("KEYTASK_COLLECTION_DEADLINE_AFTER %q: want a positive duration such as 30d", e.DeadlineAfter)
	}
	if s.CloseAfter, err = ParseDays(e.CloseAfter); err != nil || s.CloseAfter < 0 {
		return s, fmt.Errorf("KEYTASK_COLLECTION_CLOSE_AFTER %q: want a duration such as 30d", e.CloseAfter)
	}
	for _, part := range strings.Split(e.Reminders, ",") {
		d, err := ParseDays(part)
		if err != nil || d <= 0 || d >= s.DeadlineAfter {
			return s, fmt.Errorf("KEYTASK_COLLECTION_REMINDERS %q: each reminder must be a duration such as 7d, before the deadline", e.Reminders)
		}
		s.Reminders = append(s.Reminders, d)
	}
	return s, nil
}

// ParseDays reads "14d" as 14 days, or any Go duration ("36h", "90m").
func ParseDays(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if n, ok := strings.CutSuffix(s, "d"); ok {
		days, err := strconv.Atoi(n)
		if err != nil || days < 0 || days > 3650 {
			return 0, fmt.Errorf("bad number of days %q", s)
		}
		return time.Duration(days) * 24 * time.Hour, nil
	}
	return time.ParseDuration(s)
}
