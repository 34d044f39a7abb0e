package api

import (
	"errors"
	"io"
	"log/slog"
	"net/http/httptest"
	"testing"

	"keytask/domain/identity"
	"keytask/domain/policy"
)

// A route that forgets its policy is refused to everyone, even the ministry.
func TestRouteWithoutPolicyIsRefused(t *testing.T) {
	t.Parallel()
	s := &Server{log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	ministry := identity.Principal{UserID: "admin", Name: "部管理员", Role: identity.RoleMinistry, Organisation: "MOHRSS"}
	err := s.authorize(httptest.NewRequest("GET", "/x", nil), Route{Pattern: "GET /x", Action: policy.ActionRead}, ministry)
	if !errors.Is(err, policy.ErrForbidden) {
		t.Fatalf("err = %v, want ErrForbidden", err)
	}
}
