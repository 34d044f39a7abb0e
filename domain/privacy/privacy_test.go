package privacy_test

import (
	"encoding/json"
	"strings"
	"testing"

	"keytask/domain/identity"
	"keytask/domain/privacy"
	"keytask/domain/selection"
)

func TestObjectorOnlyForTheMinistry(t *testing.T) {
	data, _ := json.Marshal(selection.ObjectionFiled{ObjectionID: "o1", Application: "a1", Name: "王某某", Contact: "13800138000", Text: "异议"})
	for _, r := range identity.Roles {
		p := identity.Principal{UserID: "u", Role: r}
		for _, got := range []func() (json.RawMessage, bool, error){
			func() (json.RawMessage, bool, error) { return privacy.Event(p, selection.TypeObjectionFiled, data) },
			func() (json.RawMessage, bool, error) { return privacy.Row(p, "selection_batch_objections", data) },
		} {
			out, withheld, err := got()
			if err != nil {
				t.Fatal(err)
			}
			shown := strings.Contains(string(out), "王某某") || strings.Contains(string(out), "13800138000")
			if shown != (r == identity.RoleMinistry) || withheld == shown || !strings.Contains(string(out), "异议") {
				t.Errorf("%s: %s (withheld %v)", r, out, withheld)
			}
		}
	}
}

func TestMailOnlyForItsUserAndTheMinistry(t *testing.T) {
	data, _ := json.Marshal(identity.EmailSet{UserID: "bj", Email: "bj@example.org"})
	for _, c := range []struct {
		p    identity.Principal
		sees bool
	}{
		{identity.Principal{UserID: "bj", Role: identity.RoleProvince}, true},
		{identity.Principal{UserID: "admin", Role: identity.RoleMinistry}, true},
		{identity.Principal{UserID: "tj", Role: identity.RoleProvince}, false},
		{identity.Principal{UserID: "audit", Role: identity.RoleAuditor}, false},
		{identity.Principal{}, false},
	} {
		out, _, err := privacy.Event(c.p, identity.TypeEmailSet, data)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(out), "bj@example.org") != c.sees {
			t.Errorf("%s (%s): %s", c.p.UserID, c.p.Role, out)
		}
	}
}
