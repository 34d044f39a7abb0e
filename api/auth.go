package api

import (
	"errors"
	"net/http"
	"strings"

	"keytask/domain/identity"
)

func unauthorized(message, detail string) error {
	return &httpError{status: http.StatusUnauthorized, field: "Authorization", message: message, detail: detail}
}

// authenticate returns the principal whose bearer token the request carries.
// Only the token's hash is looked up, as only the hash is stored.
func (s *Server) authenticate(r *http.Request) (identity.Principal, error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return identity.Principal{}, unauthorized("未登录：请在 Authorization 请求头中提供令牌（Bearer <令牌>）", "no Authorization header")
	}
	scheme, token, _ := strings.Cut(h, " ")
	token = strings.TrimSpace(token)
	if !strings.EqualFold(scheme, "Bearer") || token == "" {
		return identity.Principal{}, unauthorized("Authorization 请求头格式应为“Bearer <令牌>”", "Authorization is not a bearer token")
	}
	p, err := tokenPrincipal(r.Context(), s.pool, identity.HashToken(token))
	if errors.Is(err, errUnknownToken) {
		return p, unauthorized("令牌无效、已过期或已被吊销，请登录后在“API 令牌”页面创建新令牌", err.Error())
	}
	return p, err
}
