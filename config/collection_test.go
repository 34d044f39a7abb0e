package config

import (
	"strings"
	"testing"
	"time"
)

func TestCollectionScheduleDefaults(t *testing.T) {
	t.Setenv("KEYTASK_COLLECTION_AT", "")
	s, err := FromEnv().CollectionSchedule()
	if err != nil {
		t.Fatal(err)
	}
	day := 24 * time.Hour
	if s.Off || s.Month != 12 || s.Day != 1 || s.Hour != 9 || s.Minute != 0 || s.DeadlineAfter != 30*day || s.CloseAfter != 30*day ||
		len(s.Reminders) != 4 || s.Reminders[0] != 14*day || s.Reminders[3] != day {
		t.Fatalf("defaults %+v", s)
	}
}

func TestCollectionScheduleRefusals(t *testing.T) {
	for env, val := range map[string]string{
		"KEYTASK_COLLECTION_AT":             "12月1日",
		"KEYTASK_COLLECTION_DEADLINE_AFTER": "-3d",
		"KEYTASK_COLLECTION_REMINDERS":      "14d,40d",
		"KEYTASK_COLLECTION_CLOSE_AFTER":    "soon",
	} {
		t.Run(env, func(t *testing.T) {
			t.Setenv(env, val)
			_, err := FromEnv().CollectionSchedule()
			if err == nil || !strings.Contains(err.Error(), env) {
				t.Fatalf("%s=%s: %v", env, val, err)
			}
		})
	}
	t.Setenv("KEYTASK_COLLECTION_AT", "off")
	if s, err := FromEnv().CollectionSchedule(); err != nil || !s.Off {
		t.Fatalf("off: %+v %v", s, err)
	}
}
