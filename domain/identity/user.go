package identity

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"keytask/domain"
)

// User is the state of one user's stream, folded from its events.
type User struct {
	Principal
	Registered bool
}

// Fold returns the user that evs, the events of one user's stream in order, describe.
func Fold(evs ...Event) User {
	var u User
	for _, e := range evs {
		if e, ok := e.(UserRegistered); ok {
			u.Principal, u.Registered = e.Principal(), true
		}
	}
	return u
}

// HashToken returns the hex SHA-256 of a bearer token or a session id: what is
// stored and what authentication looks up. A fast hash is enough because both
// are 256 random bits, not passwords.
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// Bearer tokens expire: one nobody renews stops working on its own. An owner
// chooses a lifetime up to MaxTokenDays; none chosen is DefaultTokenDays.
const (
	DefaultTokenDays = 90
	MaxTokenDays     = 365
	// MaxLiveTokens bounds how many unexpired, unrevoked tokens one user holds.
	MaxLiveTokens = 20
)

const maxLabelRunes = 50

// TokenRequest is what an owner asks of a new token.
type TokenRequest struct {
	Label string
	Days  int // lifetime in days; 0 means DefaultTokenDays
}

// DecideToken returns the label and lifetime of a token requested by its
// owner. Errors: *domain.FieldError for "label" or "expires_in_days".
func DecideToken(req TokenRequest) (label string, lifetime time.Duration, err error) {
	label = strings.TrimSpace(req.Label)
	switch {
	case label == "":
		return "", 0, domain.Invalid("label", "请填写令牌用途说明（如“数据同步脚本”）", "token label is empty")
	case utf8.RuneCountInString(label) > maxLabelRunes:
		return "", 0, domain.Invalid("label", fmt.Sprintf("令牌说明不能超过%d个字", maxLabelRunes),
			fmt.Sprintf("token label has more than %d characters", maxLabelRunes))
	case req.Days < 0 || req.Days > MaxTokenDays:
		return "", 0, domain.Invalid("expires_in_days", fmt.Sprintf("有效期应为1至%d天", MaxTokenDays),
			fmt.Sprintf("token lifetime %d days is outside 1..%d", req.Days, MaxTokenDays))
	}
	days := req.Days
	if days == 0 {
		days = DefaultTokenDays
	}
	return label, time.Duration(days) * 24 * time.Hour, nil
}

// RegisterUser registers a user. No credential comes with it: the user sets a
// password given by the ministry and creates their own tokens.
type RegisterUser struct {
	User Principal
}

// Register decides a registration. existing tells whether the user's stream already
// has events. Errors: *domain.FieldError for a bad field, *domain.ConflictError
// when the user id is taken.
func Register(existing bool, cmd RegisterUser) ([]Event, error) {
	if err := cmd.User.Validate(); err != nil {
		return nil, err
	}
	if existing {
		return nil, domain.Conflict("user_id", "该用户ID已被注册", fmt.Sprintf("user %s is already registered", cmd.User.UserID))
	}
	p := cmd.User
	return []Event{UserRegistered{UserID: p.UserID, Name: p.Name, Role: p.Role, Organisation: p.Organisation}}, nil
}
