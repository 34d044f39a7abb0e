package intent_test

import (
	"strings"
	"testing"
	"time"

	"keytask/domain/intent"
)

func TestRegisterLiaison(t *testing.T) {
	ok := intent.LiaisonRegistered{Province: "11", Name: " 晋晓磊 ", Phone: "010-84208450", Email: "liaison@bj.gov.cn"}
	t.Run("OK", func(t *testing.T) {
		for _, phone := range []string{"010-84208450", "0991-1234567", "010-84208450-123", "13812345678", "138 1234 5678"} {
			cmd := ok
			cmd.Phone = phone
			got, err := intent.RegisterLiaison(cmd)
			if err != nil {
				t.Fatalf("phone %q: %v", phone, err)
			}
			if got.Name != "晋晓磊" || got.Phone == "" || got.Phone[0] == ' ' {
				t.Fatalf("not normalised: %+v", got)
			}
		}
		got, _ := intent.RegisterLiaison(intent.LiaisonRegistered{Province: "66", Name: "安波", Phone: "138 1234 5678", Email: "a.b+c@x-y.edu.cn"})
		if got.Phone != "13812345678" {
			t.Fatalf("phone %q, want the spaces removed", got.Phone)
		}
	})
	for _, c := range []struct {
		name  string
		edit  func(*intent.LiaisonRegistered)
		field string
	}{
		{"ErrProvinceRequired", func(l *intent.LiaisonRegistered) { l.Province = "" }, "province"},
		{"ErrProvinceUnknown", func(l *intent.LiaisonRegistered) { l.Province = "99" }, "province"},
		{"ErrNameRequired", func(l *intent.LiaisonRegistered) { l.Name = " " }, "name"},
		{"ErrNameTooLong", func(l *intent.LiaisonRegistered) { l.Name = strings.Repeat("名", 51) }, "name"},
		{"ErrPhoneRequired", func(l *intent.LiaisonRegistered) { l.Phone = "" }, "phone"},
		{"ErrPhoneNoAreaCode", func(l *intent.LiaisonRegistered) { l.Phone = "64961964" }, "phone"},
		{"ErrMobileTooShort", func(l *intent.LiaisonRegistered) { l.Phone = "1381234567" }, "phone"},
		{"ErrMobilePrefix", func(l *intent.LiaisonRegistered) { l.Phone = "12812345678" }, "phone"},
		{"ErrPhoneLetters", func(l *intent.LiaisonRegistered) { l.Phone = "010-8420845O" }, "phone"},
		{"ErrEmailRequired", func(l *intent.LiaisonRegistered) { l.Email = "" }, "email"},
		{"ErrEmailNoAt", func(l *intent.LiaisonRegistered) { l.Email = "liaison.bj.gov.cn" }, "email"},
		{"ErrEmailNoDomainDot", func(l *intent.LiaisonRegistered) { l.Email = "a@localhost" }, "email"},
		{"ErrEmailDisplayName", func(l *intent.LiaisonRegistered) { l.Email = "张三 <a@b.cn>" }, "email"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cmd := ok
			c.edit(&cmd)
			_, err := intent.RegisterLiaison(cmd)
			fe := pFieldError(t, err)
			if fe.Field != c.field || !pHasHan(fe.Message) {
				t.Fatalf("field %q message %q, want field %q with a Chinese message", fe.Field, fe.Message, c.field)
			}
		})
	}
}

func TestSetLiaisonDeadline(t *testing.T) {
	now := time.Date(2022, 4, 24, 10, 0, 0, 0, time.UTC)
	if _, err := intent.SetLiaisonDeadline(intent.LiaisonDeadlineSet{Deadline: now.Add(72 * time.Hour)}, now); err != nil {
		t.Fatal(err)
	}
	for name, d := range map[string]time.Time{"ErrRequired": {}, "ErrPast": now.Add(-time.Hour), "ErrNow": now} {
		t.Run(name, func(t *testing.T) {
			_, err := intent.SetLiaisonDeadline(intent.LiaisonDeadlineSet{Deadline: d}, now)
			if fe := pFieldError(t, err); fe.Field != "deadline" {
				t.Fatalf("field %q", fe.Field)
			}
		})
	}
}
