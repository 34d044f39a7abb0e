package api

import (
	"net/http"
	"time"

	"keytask/domain/identity"
	"keytask/domain/policy"
	"keytask/projections"
)

// ownAccount is the caller's own account, which every user may read.
func ownAccount(_ *http.Request, p identity.Principal) (policy.Resource, error) {
	return policy.Resource{Kind: policy.KindUser, ID: p.UserID, Subject: p.UserID}, nil
}

// allUsers is the national list of accounts.
func allUsers(*http.Request, identity.Principal) (policy.Resource, error) {
	return policy.Resource{Kind: policy.KindUser}, nil
}

// userView is a user as the API shows it.
type userView struct {
	UserID       string        `json:"user_id"`
	Name         string        `json:"name"`
	Role         identity.Role `json:"role"`
	RoleLabel    string        `json:"role_label"`
	Organisation string        `json:"organisation"`
	RegisteredAt *time.Time    `json:"registered_at,omitempty"`
}

func viewOf(p identity.Principal) userView {
	return userView{UserID: p.UserID, Name: p.Name, Role: p.Role, RoleLabel: p.Role.Label(), Organisation: p.Organisation}
}

func (s *Server) me(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, http.StatusOK, viewOf(principal(r.Context())))
	return nil
}

func (s *Server) listUsers(w http.ResponseWriter, r *http.Request) error {
	us, err := projections.ListUsers(r.Context(), s.pool)
	if err != nil {
		return err
	}
	out := make([]userView, len(us))
	for i, u := range us {
		out[i] = viewOf(u.Principal)
		out[i].RegisteredAt = &u.RegisteredAt
	}
	writeJSON(w, http.StatusOK, map[string]any{"users": out})
	return nil
}

type registerRequest struct {
	UserID       string        `json:"user_id"`
	Name         string        `json:"name"`
	Role         identity.Role `json:"role"`
	Organisation string        `json:"organisation"`
}

type registerResponse struct {
	User     userView `json:"user"`
	Replayed bool     `json:"replayed,omitempty"`
	Notice   string   `json:"notice"`
}

const headerIdempotencyKey = "Idempotency-Key"

// registerUser registers a user. The answer carries no credential: the
// ministry gives the user a password (PUT /api/v1/users/{user}/password), and
// the user creates their own tokens after logging in. A repeated request
// answers 200.
func (s *Server) registerUser(w http.ResponseWriter, r *http.Request) error {
	key := r.Header.Get(headerIdempotencyKey)
	if key != "" && !traceIDPattern.MatchString(key) {
		return badRequest(headerIdempotencyKey, "幂等键（Idempotency-Key）只能包含字母、数字和“._:-”，最长128位",
			"malformed idempotency key")
	}
	var req registerRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	user := identity.Principal{UserID: req.UserID, Name: req.Name, Role: req.Role, Organisation: req.Organisation}
	reg, err := RegisterUser(r.Context(), s.store, metadata(r.Context()), key, user)
	if err != nil {
		return err
	}
	res := registerResponse{User: viewOf(reg.User), Replayed: reg.Replayed}
	if reg.Replayed {
		res.Notice = "该请求已处理过，未重复登记"
		writeJSON(w, http.StatusOK, res)
		return nil
	}
	res.Notice = "用户已登记。请为其设置初始密码，由本人登录后修改密码并自行创建 API 令牌"
	writeJSON(w, http.StatusCreated, res)
	return nil
}
