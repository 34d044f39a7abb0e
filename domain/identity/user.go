package identity

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"regexp"
	"unicode/utf8"

	"keytask/domain"
)

// User is the state of one user's stream, folded from its events.
type User struct {
	Principal
	Registered bool
	Tokens     map[string]Token // by token id
}

// Token is one bearer token of a user, as the log knows it: never the secret.
type Token struct {
	ID      string
	Hash    string
	Label   string
	Revoked bool
}

// Fold returns the user that evs, the events of one user's stream in order, describe.
func Fold(evs ...Event) User {
	u := User{Tokens: map[string]Token{}}
	for _, e := range evs {
		switch e := e.(type) {
		case UserRegistered:
			u.Principal, u.Registered = e.Principal(), true
		case TokenIssued:
			u.Tokens[e.TokenID] = Token{ID: e.TokenID, Hash: e.TokenHash, Label: e.Label}
		case TokenRevoked:
			if t, ok := u.Tokens[e.TokenID]; ok {
				t.Revoked = true
				u.Tokens[e.TokenID] = t
			}
		}
	}
	return u
}

// HashToken returns the hex SHA-256 of a bearer token: what the log records and
// what authentication looks up. A fast hash is enough because tokens are 256
// random bits, not passwords.
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// TokenGrant is a token to issue. The caller makes the secret; the domain sees
// only its hash.
type TokenGrant struct {
	TokenID   string
	TokenHash string
	Label     string
}

const maxLabelRunes = 50

var (
	tokenIDPattern   = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)
	tokenHashPattern = regexp.MustCompile(`^[0-9a-f]{64}$`)
)

func (g TokenGrant) validate() error {
	switch {
	case !tokenIDPattern.MatchString(g.TokenID):
		return domain.Invalid("token_id", "令牌ID无效", fmt.Sprintf("token id %q is malformed", g.TokenID))
	case !tokenHashPattern.MatchString(g.TokenHash):
		return domain.Invalid("token_hash", "令牌摘要无效", "token hash must be 64 lower-case hex digits")
	case utf8.RuneCountInString(g.Label) > maxLabelRunes:
		return domain.Invalid("token_label", fmt.Sprintf("令牌说明不能超过%d个字", maxLabelRunes),
			fmt.Sprintf("token label has more than %d characters", maxLabelRunes))
	}
	return nil
}

// RegisterUser registers a user and issues its first token, so a new user can log
// in at once.
type RegisterUser struct {
	User  Principal
	Token TokenGrant
}

// Register decides a registration. existing tells whether the user's stream already
// has events. Errors: *domain.FieldError for a bad field, *domain.ConflictError
// when the user id is taken.
func Register(existing bool, cmd RegisterUser) ([]Event, error) {
	if err := cmd.User.Validate(); err != nil {
		return nil, err
	}
	if err := cmd.Token.validate(); err != nil {
		return nil, err
	}
	if existing {
		return nil, domain.Conflict("user_id", "该用户ID已被注册", fmt.Sprintf("user %s is already registered", cmd.User.UserID))
	}
	p := cmd.User
	return []Event{
		UserRegistered{UserID: p.UserID, Name: p.Name, Role: p.Role, Organisation: p.Organisation},
		TokenIssued{UserID: p.UserID, TokenID: cmd.Token.TokenID, TokenHash: cmd.Token.TokenHash, Label: cmd.Token.Label},
	}, nil
}

// IssueToken decides issuing another token to u. Errors: *domain.FieldError when
// u is not registered or the grant is malformed, *domain.ConflictError when the
// token id is taken.
func IssueToken(u User, g TokenGrant) ([]Event, error) {
	if !u.Registered {
		return nil, domain.Invalid("user_id", "用户不存在", "user is not registered")
	}
	if err := g.validate(); err != nil {
		return nil, err
	}
	if _, ok := u.Tokens[g.TokenID]; ok {
		return nil, domain.Conflict("token_id", "令牌ID已存在", fmt.Sprintf("token %s already issued to %s", g.TokenID, u.UserID))
	}
	return []Event{TokenIssued{UserID: u.UserID, TokenID: g.TokenID, TokenHash: g.TokenHash, Label: g.Label}}, nil
}

// RevokeToken decides revoking one of u's tokens. Revoking a revoked token
// decides nothing, so a repeated request is harmless. Errors: *domain.FieldError
// when the token is not u's.
func RevokeToken(u User, tokenID string) ([]Event, error) {
	t, ok := u.Tokens[tokenID]
	if !u.Registered || !ok {
		return nil, domain.Invalid("token_id", "令牌不存在", fmt.Sprintf("user %q has no token %q", u.UserID, tokenID))
	}
	if t.Revoked {
		return nil, nil
	}
	return []Event{TokenRevoked{UserID: u.UserID, TokenID: tokenID}}, nil
}
