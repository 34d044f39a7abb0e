package identity_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"keytask/domain"
	"keytask/domain/identity"
	"keytask/events"
	"keytask/eventtypes"
)

func valid() identity.Principal {
	return identity.Principal{UserID: "bj-liaison", Name: "北京市人社局联络员", Role: identity.RoleProvince, Organisation: "11"}
}

func TestPrincipalValidate(t *testing.T) {
	t.Run("OK", func(t *testing.T) {
		for _, p := range []identity.Principal{
			valid(),
			{UserID: "admin", Name: "部管理员", Role: identity.RoleMinistry, Organisation: "MOHRSS"},
			{UserID: "bt", Name: "兵团", Role: identity.RoleProvince, Organisation: "66"},
			{UserID: "s.1", Name: "某技师学院", Role: identity.RoleSchool, Organisation: "SCH-11-001"},
			{UserID: "e_1", Name: "张三", Role: identity.RoleExpert, Organisation: "某大学"},
			{UserID: "a1", Name: "审计员", Role: identity.RoleAuditor, Organisation: "审计署"},
			{UserID: "v1", Name: "评估员", Role: identity.RoleEvaluator, Organisation: "某评估机构"},
		} {
			if err := p.Validate(); err != nil {
				t.Errorf("%+v: %v", p, err)
			}
		}
	})
	cases := []struct {
		name  string
		edit  func(*identity.Principal)
		field string
	}{
		{"ErrUserIDRequired", func(p *identity.Principal) { p.UserID = "" }, "user_id"},
		{"ErrUserIDUpperCase", func(p *identity.Principal) { p.UserID = "Admin" }, "user_id"},
		{"ErrUserIDSlash", func(p *identity.Principal) { p.UserID = "a/b" }, "user_id"},
		{"ErrUserIDTooLong", func(p *identity.Principal) { p.UserID = strings.Repeat("a", 65) }, "user_id"},
		{"ErrNameRequired", func(p *identity.Principal) { p.Name = "" }, "name"},
		{"ErrNameTooLong", func(p *identity.Principal) { p.Name = strings.Repeat("名", 51) }, "name"},
		{"ErrRoleRequired", func(p *identity.Principal) { p.Role = "" }, "role"},
		{"ErrRoleUnknown", func(p *identity.Principal) { p.Role = "admin" }, "role"},
		{"ErrOrganisationRequired", func(p *identity.Principal) { p.Organisation = "" }, "organisation"},
		{"ErrProvinceCodeUnknown", func(p *identity.Principal) { p.Organisation = "99" }, "organisation"},
		{"ErrProvinceName", func(p *identity.Principal) { p.Organisation = "北京市" }, "organisation"},
		{"ErrMinistryOrganisation", func(p *identity.Principal) { p.Role, p.Organisation = identity.RoleMinistry, "11" }, "organisation"},
		{"ErrSchoolID", func(p *identity.Principal) { p.Role, p.Organisation = identity.RoleSchool, "某 学校" }, "organisation"},
		{"ErrExpertOrganisationTooLong", func(p *identity.Principal) { p.Role, p.Organisation = identity.RoleExpert, strings.Repeat("单", 101) }, "organisation"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := valid()
			c.edit(&p)
			fe := fieldError(t, p.Validate())
			if fe.Field != c.field {
				t.Fatalf("field = %q, want %q (%v)", fe.Field, c.field, fe)
			}
			if fe.Message == "" || fe.Message == fe.Detail {
				t.Fatalf("message %q: want a Chinese message distinct from the detail %q", fe.Message, fe.Detail)
			}
		})
	}
}

func TestNormalize(t *testing.T) {
	p := identity.Principal{UserID: " u1 ", Name: " 张三\t", Role: " expert", Organisation: "某大学 "}.Normalize()
	if p != (identity.Principal{UserID: "u1", Name: "张三", Role: identity.RoleExpert, Organisation: "某大学"}) {
		t.Fatalf("normalized = %+v", p)
	}
}

func TestRoleLabels(t *testing.T) {
	for _, r := range identity.Roles {
		if !r.Valid() || r.Label() == "" {
			t.Errorf("role %q has no label", r)
		}
	}
	if identity.RoleSchool.Label() != "技工院校" || identity.Role("x").Label() != "" {
		t.Fatal("labels")
	}
}

func TestRegister(t *testing.T) {
	t.Run("OK", func(t *testing.T) {
		evs, err := identity.Register(false, identity.RegisterUser{User: valid()})
		if err != nil {
			t.Fatal(err)
		}
		// No token: whoever registers a user never holds the user's credential.
		want := identity.UserRegistered{UserID: "bj-liaison", Name: "北京市人社局联络员", Role: identity.RoleProvince, Organisation: "11"}
		if len(evs) != 1 || evs[0] != want {
			t.Fatalf("events = %+v", evs)
		}
		if u := identity.Fold(evs...); !u.Registered || u.Principal != valid() {
			t.Fatalf("folded %+v", u)
		}
	})
	t.Run("ErrUserExists", func(t *testing.T) {
		_, err := identity.Register(true, identity.RegisterUser{User: valid()})
		var ce *domain.ConflictError
		if !errors.As(err, &ce) || ce.Field != "user_id" {
			t.Fatalf("err = %v, want a conflict on user_id", err)
		}
	})
	t.Run("ErrInvalidBeforeConflict", func(t *testing.T) {
		// A bad request is reported as bad even for a taken id: the user must fix it anyway.
		p := valid()
		p.Role = ""
		_, err := identity.Register(true, identity.RegisterUser{User: p})
		if fe := fieldError(t, err); fe.Field != "role" {
			t.Fatalf("field = %q", fe.Field)
		}
	})
}

func TestDecideToken(t *testing.T) {
	t.Run("DefaultLifetime", func(t *testing.T) {
		label, life, err := identity.DecideToken(identity.TokenRequest{Label: " 同步脚本 "})
		if err != nil || label != "同步脚本" || life != identity.DefaultTokenDays*24*time.Hour {
			t.Fatalf("%q, %v, %v", label, life, err)
		}
	})
	t.Run("ChosenLifetime", func(t *testing.T) {
		_, life, err := identity.DecideToken(identity.TokenRequest{Label: "x", Days: identity.MaxTokenDays})
		if err != nil || life != identity.MaxTokenDays*24*time.Hour {
			t.Fatalf("%v, %v", life, err)
		}
	})
	for _, c := range []struct {
		name  string
		req   identity.TokenRequest
		field string
	}{
		{"ErrNoLabel", identity.TokenRequest{Label: "  "}, "label"},
		{"ErrLongLabel", identity.TokenRequest{Label: strings.Repeat("签", 51)}, "label"},
		{"ErrBeyondMaximum", identity.TokenRequest{Label: "x", Days: identity.MaxTokenDays + 1}, "expires_in_days"},
		{"ErrNegative", identity.TokenRequest{Label: "x", Days: -1}, "expires_in_days"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, _, err := identity.DecideToken(c.req)
			if fe := fieldError(t, err); fe.Field != c.field {
				t.Fatalf("field = %q", fe.Field)
			}
		})
	}
}

func TestDecodeRoundTrip(t *testing.T) {
	for _, e := range []identity.Event{
		identity.UserRegistered{UserID: "u", Name: "名", Role: identity.RoleSchool, Organisation: "s1"},
		identity.TokenIssued{UserID: "u", TokenID: "t", Label: "l", ExpiresAt: time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC), Replaces: "t0"},
		identity.TokenRevoked{UserID: "u", TokenID: "t", Reason: identity.RevokedByMinistry},
	} {
		b, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		got, ok, err := events.DecodeIf[identity.Event](eventtypes.Registry, events.Event{Type: e.EventType(), SchemaVersion: 1, Data: b})
		if err != nil || !ok || got != e {
			t.Fatalf("decode %s: %+v, %v, %v", b, got, ok, err)
		}
	}
	if _, ok, err := events.DecodeIf[identity.Event](eventtypes.Registry, events.Event{Type: "IntentRoundOpened", SchemaVersion: 1, Data: []byte(`{}`)}); ok || err != nil {
		t.Fatalf("foreign type: ok=%v err=%v", ok, err)
	}
	if _, _, err := events.DecodeIf[identity.Event](eventtypes.Registry, events.Event{Type: identity.TypeUserRegistered, SchemaVersion: 1, Data: []byte(`[`)}); err == nil {
		t.Fatal("bad JSON decoded")
	}
}

func TestHashToken(t *testing.T) {
	// sha256("abc"), from FIPS 180-2.
	if got := identity.HashToken("abc"); got != "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" {
		t.Fatalf("HashToken = %s", got)
	}
	if identity.UserStream("admin") != "user-admin" {
		t.Fatal("UserStream")
	}
}

func fieldError(t *testing.T, err error) *domain.FieldError {
	t.Helper()
	var fe *domain.FieldError
	if !errors.As(err, &fe) {
		t.Fatalf("err = %v, want a *domain.FieldError", err)
	}
	return fe
}
