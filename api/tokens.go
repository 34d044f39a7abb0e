package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"keytask/domain"
	"keytask/domain/identity"
	"keytask/domain/policy"
	"keytask/events"
)

// Bearer tokens belong to their users alone. A user creates them for their API
// clients after logging in (or with a token they already hold); the ministry
// may list and revoke anyone's, but no one is ever shown another user's token.
// Like sessions, only each token's SHA-256 is stored (bearer_tokens), so a
// revocation, an expiry or a password change takes effect on the next request,
// with no projector between.

// TokenInfo is a bearer token as its owner and the ministry see it.
type TokenInfo struct {
	TokenID       string     `json:"token_id"`
	UserID        string     `json:"user_id"`
	Label         string     `json:"label"`
	CreatedAt     time.Time  `json:"created_at"`
	ExpiresAt     time.Time  `json:"expires_at"`
	RevokedAt     *time.Time `json:"revoked_at,omitempty"`
	RevokedReason string     `json:"revoked_reason,omitempty"`
}

// Status is how the token stands now, in the user's words.
func (t TokenInfo) Status() string {
	switch {
	case t.RevokedAt != nil:
		return map[string]string{identity.RevokedByOwner: "已吊销", identity.RevokedByMinistry: "已被部吊销",
			identity.RevokedRotated: "已轮换", revokedByPassword: "因密码变更失效"}[t.RevokedReason]
	case !time.Now().Before(t.ExpiresAt):
		return "已过期"
	}
	return "有效"
}

// revokedByPassword: a password change or reset ended the token.
const revokedByPassword = identity.RevokedByPassword

// IssuedToken is a new token with its secret, which exists nowhere else.
type IssuedToken struct {
	TokenInfo
	Token string `json:"token"`
}

// IssueToken issues userID a new bearer token. The HTTP API calls it only for
// the caller; tools that create users and then act as them (demo, bench,
// tests) call it in-process. Errors: *domain.FieldError for a bad request or
// an unknown user, *domain.ConflictError when the user holds
// identity.MaxLiveTokens live tokens already.
func IssueToken(ctx context.Context, store *events.Store, meta events.Metadata, userID string, req identity.TokenRequest) (IssuedToken, error) {
	label, lifetime, err := identity.DecideToken(req)
	if err != nil {
		return IssuedToken{}, err
	}
	if err := requireUser(ctx, store, userID); err != nil {
		return IssuedToken{}, err
	}
	var live int
	if err := store.Pool().QueryRow(ctx, `SELECT count(*) FROM bearer_tokens
		WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > now()`, userID).Scan(&live); err != nil {
		return IssuedToken{}, fmt.Errorf("count tokens of %s: %w", userID, err)
	}
	if live >= identity.MaxLiveTokens {
		return IssuedToken{}, domain.Conflict("label", fmt.Sprintf("有效令牌已达%d个，请先吊销不再使用的令牌", identity.MaxLiveTokens),
			fmt.Sprintf("user %s holds %d live tokens", userID, live))
	}
	token, err := newToken()
	if err != nil {
		return IssuedToken{}, err
	}
	t := IssuedToken{Token: token, TokenInfo: TokenInfo{TokenID: uuid.NewString(), UserID: userID, Label: label,
		CreatedAt: time.Now().UTC().Truncate(time.Microsecond)}}
	t.ExpiresAt = t.CreatedAt.Add(lifetime)
	if err := recordIssued(ctx, store, meta, t.TokenInfo, ""); err != nil {
		return IssuedToken{}, err
	}
	if _, err := store.Pool().Exec(ctx, `INSERT INTO bearer_tokens (token_id, user_id, token_hash, label, created_at, expires_at)
		VALUES ($1, $2, $3, $4, $5, $6)`, t.TokenID, userID, identity.HashToken(token), label, t.CreatedAt, t.ExpiresAt); err != nil {
		return IssuedToken{}, fmt.Errorf("issue token to %s: %w", userID, err)
	}
	return t, nil
}

// requireUser refuses a user the log has not registered. It reads the log, not
// the users read model, so a user registered a moment ago can be given a token.
func requireUser(ctx context.Context, store *events.Store, userID string) error {
	if err := identity.ValidateUserID(userID); err != nil {
		return err
	}
	v, err := store.StreamVersion(ctx, identity.UserStream(userID))
	if err != nil {
		return err
	}
	if v == 0 {
		return domain.Invalid("user_id", "用户不存在", "no user "+userID)
	}
	return nil
}

// recordIssued appends the fact that t was issued. It comes before the row, so
// that no token ever works that the log does not know of.
func recordIssued(ctx context.Context, store *events.Store, meta events.Metadata, t TokenInfo, replaces string) error {
	e := identity.TokenIssued{UserID: t.UserID, TokenID: t.TokenID, Label: t.Label, ExpiresAt: t.ExpiresAt, Replaces: replaces}
	return appendTokenEvent(ctx, store, meta, t.UserID, events.DeriveID("token-issued", t.TokenID), e)
}

// recordRevoked appends the fact that a token was revoked. Its id derives from
// the token, so a revocation repeated after a failure here records it once.
func recordRevoked(ctx context.Context, store *events.Store, meta events.Metadata, userID, tokenID, reason string) error {
	e := identity.TokenRevoked{UserID: userID, TokenID: tokenID, Reason: reason}
	return appendTokenEvent(ctx, store, meta, userID, events.DeriveID("token-revoked", tokenID), e)
}

// recordPasswordRevocations records the tokens of userID that a password
// change or reset has just revoked (SetPassword). Their events' ids derive from
// the tokens, so a token already recorded is not recorded twice.
func recordPasswordRevocations(ctx context.Context, store *events.Store, meta events.Metadata, userID string) error {
	rows, err := store.Pool().Query(ctx, `SELECT token_id FROM bearer_tokens
		WHERE user_id = $1 AND revoked_reason = $2 AND revoked_at > now() - interval '10 minutes'`, userID, revokedByPassword)
	if err != nil {
		return fmt.Errorf("tokens of %s revoked by a password change: %w", userID, err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return fmt.Errorf("tokens of %s revoked by a password change: %w", userID, err)
	}
	for _, id := range ids {
		if err := recordRevoked(ctx, store, meta, userID, id, revokedByPassword); err != nil {
			return err
		}
	}
	return nil
}

func appendTokenEvent(ctx context.Context, store *events.Store, meta events.Metadata, userID string, id uuid.UUID, e identity.Event) error {
	data, err := json.Marshal(e)
	if err != nil {
		return err
	}
	_, err = store.Append(ctx, identity.UserStream(userID), events.AnyVersion,
		events.NewEvent{ID: id, Type: e.EventType(), SchemaVersion: 1, Data: data, Metadata: meta})
	return err
}

// tokenAuthentication returns the principal of a live token with the given
// hash. Errors: errUnknownToken.
func tokenPrincipal(ctx context.Context, q pgxQuerier, hash string) (identity.Principal, error) {
	var p identity.Principal
	err := q.QueryRow(ctx, `SELECT u.user_id, u.name, u.role, u.organisation
		FROM bearer_tokens t JOIN users u ON u.user_id = t.user_id
		WHERE t.token_hash = $1 AND t.revoked_at IS NULL AND t.expires_at > now()`, hash).
		Scan(&p.UserID, &p.Name, &p.Role, &p.Organisation)
	if errors.Is(err, pgx.ErrNoRows) {
		return p, errUnknownToken
	}
	if err != nil {
		return p, fmt.Errorf("look up token: %w", err)
	}
	return p, nil
}

var errUnknownToken = errors.New("unknown, expired or revoked token")

type pgxQuerier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// listTokens returns userID's tokens, the newest first.
func listTokens(ctx context.Context, q pgxQuerier, userID string) ([]TokenInfo, error) {
	rows, err := q.Query(ctx, `SELECT token_id, user_id, label, created_at, expires_at, revoked_at, coalesce(revoked_reason, '')
		FROM bearer_tokens WHERE user_id = $1 ORDER BY created_at DESC, token_id`, userID)
	if err != nil {
		return nil, fmt.Errorf("list tokens of %s: %w", userID, err)
	}
	ts, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (TokenInfo, error) {
		var t TokenInfo
		err := row.Scan(&t.TokenID, &t.UserID, &t.Label, &t.CreatedAt, &t.ExpiresAt, &t.RevokedAt, &t.RevokedReason)
		t.CreatedAt, t.ExpiresAt = t.CreatedAt.UTC(), t.ExpiresAt.UTC()
		return t, err
	})
	if err != nil {
		return nil, fmt.Errorf("list tokens of %s: %w", userID, err)
	}
	return ts, nil
}

func noSuchToken(userID, tokenID string) error {
	return notFound("令牌不存在", fmt.Sprintf("user %s has no token %q", userID, tokenID))
}

// revokeToken revokes one of userID's tokens for reason. Revoking a revoked
// token changes nothing and answers as the first time did. Errors: 404 when
// userID has no such token.
func revokeToken(ctx context.Context, store *events.Store, meta events.Metadata, userID, tokenID, reason string) error {
	var was string
	err := store.Pool().QueryRow(ctx, `WITH revoked AS (
			UPDATE bearer_tokens SET revoked_at = now(), revoked_reason = $3
			WHERE token_id = $1 AND user_id = $2 AND revoked_at IS NULL RETURNING revoked_reason)
		SELECT revoked_reason FROM revoked
		UNION ALL SELECT revoked_reason FROM bearer_tokens WHERE token_id = $1 AND user_id = $2 AND revoked_at IS NOT NULL`,
		tokenID, userID, reason).Scan(&was)
	if errors.Is(err, pgx.ErrNoRows) {
		return noSuchToken(userID, tokenID)
	}
	if err != nil {
		return fmt.Errorf("revoke token %s: %w", tokenID, err)
	}
	return recordRevoked(ctx, store, meta, userID, tokenID, was)
}

// rotateToken replaces one of userID's live tokens with a new one of the same
// label and lifetime, in one transaction: a client swaps its secret without a
// moment holding none or two. Errors: 404 when userID has no such live token.
func rotateToken(ctx context.Context, store *events.Store, meta events.Metadata, userID, tokenID string) (IssuedToken, error) {
	var (
		old      TokenInfo
		lifetime time.Duration
	)
	err := store.Pool().QueryRow(ctx, `SELECT label, created_at, expires_at FROM bearer_tokens
		WHERE token_id = $1 AND user_id = $2 AND revoked_at IS NULL AND expires_at > now()`, tokenID, userID).
		Scan(&old.Label, &old.CreatedAt, &old.ExpiresAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return IssuedToken{}, notFound("令牌不存在或已失效，无法轮换", fmt.Sprintf("user %s has no live token %q", userID, tokenID))
	}
	if err != nil {
		return IssuedToken{}, fmt.Errorf("rotate token %s: %w", tokenID, err)
	}
	lifetime = old.ExpiresAt.Sub(old.CreatedAt)
	token, err := newToken()
	if err != nil {
		return IssuedToken{}, err
	}
	t := IssuedToken{Token: token, TokenInfo: TokenInfo{TokenID: uuid.NewString(), UserID: userID, Label: old.Label,
		CreatedAt: time.Now().UTC().Truncate(time.Microsecond)}}
	t.ExpiresAt = t.CreatedAt.Add(lifetime)
	if err := recordIssued(ctx, store, meta, t.TokenInfo, tokenID); err != nil {
		return IssuedToken{}, err
	}
	err = pgx.BeginFunc(ctx, store.Pool(), func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE bearer_tokens SET revoked_at = now(), revoked_reason = $3
			WHERE token_id = $1 AND user_id = $2 AND revoked_at IS NULL AND expires_at > now()`, tokenID, userID, identity.RevokedRotated)
		if err != nil {
			return err
		}
		if tag.RowsAffected() != 1 {
			return notFound("令牌不存在或已失效，无法轮换", fmt.Sprintf("token %s was revoked while being rotated", tokenID))
		}
		_, err = tx.Exec(ctx, `INSERT INTO bearer_tokens (token_id, user_id, token_hash, label, created_at, expires_at)
			VALUES ($1, $2, $3, $4, $5, $6)`, t.TokenID, userID, identity.HashToken(token), t.Label, t.CreatedAt, t.ExpiresAt)
		return err
	})
	if err != nil {
		return IssuedToken{}, fmt.Errorf("rotate token %s: %w", tokenID, err)
	}
	return t, recordRevoked(ctx, store, meta, userID, tokenID, identity.RevokedRotated)
}

// The token routes. The owner's act on the caller's own tokens only: no
// request names another user, so the ministry cannot mint a token for anyone.
func (s *Server) tokenRoutes() []Route {
	return []Route{
		{Pattern: "POST /api/v1/tokens", Action: policy.ActionWrite, Resource: ownCredential, handle: s.createToken, Request: tokenRequest{}, Response: issuedView{}},
		{Pattern: "GET /api/v1/tokens", Action: policy.ActionRead, Resource: ownCredential, handle: s.ownTokens},
		{Pattern: "POST /api/v1/tokens/{token}/rotate", Action: policy.ActionWrite, Resource: ownCredential, handle: s.rotateOwnToken, Response: issuedView{}},
		{Pattern: "DELETE /api/v1/tokens/{token}", Action: policy.ActionWrite, Resource: ownCredential, handle: s.revokeOwnToken},
		{Pattern: "GET /api/v1/users/{user}/tokens", Action: policy.ActionAdminister, Resource: allUsers, handle: s.userTokens},
		{Pattern: "DELETE /api/v1/users/{user}/tokens/{token}", Action: policy.ActionAdminister, Resource: allUsers, handle: s.revokeUserToken},
		{Pattern: "GET /account/tokens", Action: policy.ActionRead, Resource: ownCredential, page: true, handle: s.tokensPage},
		{Pattern: "POST /account/tokens", Action: policy.ActionWrite, Resource: ownCredential, page: true, handle: s.createTokenPage},
		{Pattern: "POST /account/tokens/{token}/rotate", Action: policy.ActionWrite, Resource: ownCredential, page: true, handle: s.rotateTokenPage},
		{Pattern: "POST /account/tokens/{token}/revoke", Action: policy.ActionWrite, Resource: ownCredential, page: true, handle: s.revokeTokenPage},
	}
}

const tokenNotice = "令牌只显示这一次，请立即妥善保存"

type tokenRequest struct {
	Label         string `json:"label"`
	ExpiresInDays int    `json:"expires_in_days"`
}

type issuedView struct {
	IssuedToken
	Status string `json:"status"`
	Notice string `json:"notice"`
}

type tokenView struct {
	TokenInfo
	Status string `json:"status"`
}

// createToken issues the caller a token: {"label": "…", "expires_in_days": 90}.
func (s *Server) createToken(w http.ResponseWriter, r *http.Request) error {
	var req tokenRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	t, err := IssueToken(r.Context(), s.store, metadata(r.Context()), principal(r.Context()).UserID,
		identity.TokenRequest{Label: req.Label, Days: req.ExpiresInDays})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, issuedView{IssuedToken: t, Status: t.Status(), Notice: tokenNotice})
	return nil
}

func (s *Server) writeTokens(w http.ResponseWriter, r *http.Request, userID string) error {
	ts, err := listTokens(r.Context(), s.pool, userID)
	if err != nil {
		return err
	}
	out := make([]tokenView, len(ts))
	for i, t := range ts {
		out[i] = tokenView{TokenInfo: t, Status: t.Status()}
	}
	writeJSON(w, http.StatusOK, map[string]any{"tokens": out})
	return nil
}

func (s *Server) ownTokens(w http.ResponseWriter, r *http.Request) error {
	return s.writeTokens(w, r, principal(r.Context()).UserID)
}

func (s *Server) rotateOwnToken(w http.ResponseWriter, r *http.Request) error {
	t, err := rotateToken(r.Context(), s.store, metadata(r.Context()), principal(r.Context()).UserID, r.PathValue("token"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, issuedView{IssuedToken: t, Status: t.Status(), Notice: tokenNotice})
	return nil
}

func (s *Server) revokeOwnToken(w http.ResponseWriter, r *http.Request) error {
	userID, tokenID := principal(r.Context()).UserID, r.PathValue("token")
	if err := revokeToken(r.Context(), s.store, metadata(r.Context()), userID, tokenID, identity.RevokedByOwner); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"token_id": tokenID, "revoked": true})
	return nil
}

// userTokens lists a user's tokens for the ministry: labels and dates, never a secret.
func (s *Server) userTokens(w http.ResponseWriter, r *http.Request) error {
	userID := r.PathValue("user")
	if err := requireUser(r.Context(), s.store, userID); err != nil {
		return err
	}
	return s.writeTokens(w, r, userID)
}

func (s *Server) revokeUserToken(w http.ResponseWriter, r *http.Request) error {
	userID, tokenID := r.PathValue("user"), r.PathValue("token")
	if err := revokeToken(r.Context(), s.store, metadata(r.Context()), userID, tokenID, identity.RevokedByMinistry); err != nil {
		return err
	}
	s.log.InfoContext(r.Context(), "token revoked", "user_id", userID, "token_id", tokenID, "by", principal(r.Context()).UserID)
	writeJSON(w, http.StatusOK, map[string]any{"user_id": userID, "token_id": tokenID, "revoked": true})
	return nil
}

// tokensPageData is the account's token page: the list, and a token just
// created, shown this once.
type tokensPageData struct {
	Tokens  []TokenInfo
	New     *IssuedToken
	MaxDays int
	Default int
}

func (s *Server) renderTokens(w http.ResponseWriter, r *http.Request, status int, d pageData, created *IssuedToken) error {
	ts, err := listTokens(r.Context(), s.pool, principal(r.Context()).UserID)
	if err != nil {
		return err
	}
	d.Title = "API 令牌"
	d.Data = tokensPageData{Tokens: ts, New: created, MaxDays: identity.MaxTokenDays, Default: identity.DefaultTokenDays}
	// A page that shows a secret must not be kept by the browser or a proxy.
	w.Header().Set("Cache-Control", "no-store")
	return s.render(w, r, status, "tokens.html", d)
}

func (s *Server) tokensPage(w http.ResponseWriter, r *http.Request) error {
	return s.renderTokens(w, r, http.StatusOK, pageData{}, nil)
}

func (s *Server) createTokenPage(w http.ResponseWriter, r *http.Request) error {
	req := identity.TokenRequest{Label: r.PostFormValue("label")}
	if v := r.PostFormValue("expires_in_days"); v != "" {
		if _, err := fmt.Sscanf(v, "%d", &req.Days); err != nil || fmt.Sprint(req.Days) != v {
			return s.renderTokens(w, r, http.StatusUnprocessableEntity, pageData{Form: r.PostForm,
				Errors: map[string]string{"expires_in_days": "有效期应为整数天数"}}, nil)
		}
	}
	t, err := IssueToken(r.Context(), s.store, metadata(r.Context()), principal(r.Context()).UserID, req)
	if errs, ok := fieldErrors(err); ok {
		return s.renderTokens(w, r, http.StatusUnprocessableEntity, pageData{Form: r.PostForm, Errors: errs}, nil)
	}
	if err != nil {
		return err
	}
	return s.renderTokens(w, r, http.StatusCreated, pageData{Flash: "令牌已创建"}, &t)
}

func (s *Server) rotateTokenPage(w http.ResponseWriter, r *http.Request) error {
	t, err := rotateToken(r.Context(), s.store, metadata(r.Context()), principal(r.Context()).UserID, r.PathValue("token"))
	if err != nil {
		return err
	}
	return s.renderTokens(w, r, http.StatusCreated, pageData{Flash: "令牌已轮换，原令牌已失效"}, &t)
}

func (s *Server) revokeTokenPage(w http.ResponseWriter, r *http.Request) error {
	if err := revokeToken(r.Context(), s.store, metadata(r.Context()), principal(r.Context()).UserID, r.PathValue("token"),
		identity.RevokedByOwner); err != nil {
		return err
	}
	return s.renderTokens(w, r, http.StatusOK, pageData{Flash: "令牌已吊销"}, nil)
}
