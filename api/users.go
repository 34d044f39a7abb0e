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
	TokenLabel   string        `json:"token_label"`
}

type registerResponse struct {
	User     userView `json:"user"`
	TokenID  string   `json:"token_id"`
	Token    string   `json:"token,omitempty"`
	Replayed bool     `json:"replayed,omitempty"`
	Notice   string   `json:"notice"`
}

const headerIdempotencyKey = "Idempotency-Key"

// registerUser registers a user and answers with its token, the only time the
// token is ever shown. A repeated request answers 200 without a token.
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
	reg, err := RegisterUser(r.Context(), s.store, metadata(r.Context()), key, user, req.TokenLabel)
	if err != nil {
		return err
	}
	res := registerResponse{User: viewOf(reg.User), TokenID: reg.TokenID, Token: reg.Token, Replayed: reg.Replayed}
	if reg.Replayed {
		res.Notice = "该请求已处理过，未重复登记；令牌只在首次响应中显示"
		writeJSON(w, http.StatusOK, res)
		return nil
	}
	res.Notice = "令牌只显示这一次，请立即妥善保存"
	writeJSON(w, http.StatusCreated, res)
	return nil
}
