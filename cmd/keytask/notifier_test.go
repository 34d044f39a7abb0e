package main_test

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// Outside dev a notifier without a relay refuses to start, unless the file
// mailer is named: mail marked sent into a pod's scratch volume is mail lost.
func TestNotifierNeedsARelay(t *testing.T) {
	notifier := func(env ...string) string {
		t.Helper()
		cmd := exec.Command(binary, "notifier")
		// A database that never answers: the mailer is decided before it is dialled.
		cmd.Env = append(os.Environ(), "KEYTASK_SMTP_ADDR=", "KEYTASK_MAILER=",
			"KEYTASK_DATABASE_URL=postgres://nobody@127.0.0.1:1/keytask?sslmode=disable&connect_timeout=2")
		cmd.Env = append(cmd.Env, env...)
		out, err := cmd.CombinedOutput()
		if err == nil {
			t.Fatalf("keytask notifier %v exited cleanly:\n%s", env, out)
		}
		return string(out)
	}
	t.Run("NoRelay", func(t *testing.T) {
		if out := notifier(); !strings.Contains(out, "KEYTASK_SMTP_ADDR") || !strings.Contains(out, "KEYTASK_MAILER=files") {
			t.Errorf("without a relay the notifier says:\n%s", out)
		}
	})
	t.Run("FilesNamed", func(t *testing.T) {
		out := notifier("KEYTASK_MAILER=files", "KEYTASK_DATA_DIR="+t.TempDir())
		if strings.Contains(out, "SMTP") || !strings.Contains(out, "127.0.0.1:1") {
			t.Errorf("with KEYTASK_MAILER=files the notifier went past the mailer to the database? It says:\n%s", out)
		}
	})
	t.Run("UnknownMailer", func(t *testing.T) {
		if out := notifier("KEYTASK_MAILER=pigeon"); !strings.Contains(out, `KEYTASK_MAILER "pigeon"`) {
			t.Errorf("an unknown mailer is refused with:\n%s", out)
		}
	})
}
