package identity

import "time"

// UserStream is the event stream of one user.
func UserStream(userID string) string { return "user-" + userID }

// Event types of a user's stream.
const (
	TypeUserRegistered = "UserRegistered"
	TypeTokenIssued    = "TokenIssued"
	TypeTokenRevoked   = "TokenRevoked"
	TypePasswordSet    = "PasswordSet"
)

// Event is the payload of an event of a user's stream; readers of the log keep
// a user's events with events.DecodeIf[identity.Event].
type Event interface {
	EventType() string
}

// UserRegistered: the user exists from now on, with this role and organisation.
type UserRegistered struct {
	UserID       string `json:"user_id"`
	Name         string `json:"name"`
	Role         Role   `json:"role"`
	Organisation string `json:"organisation"`
}

// TokenIssued: a bearer token authenticates the user until ExpiresAt. The log
// records the fact and never the credential: the token's hash lives in the
// bearer_tokens table, as a session's does. Events recorded before tokens left
// the log carry a TokenHash; those tokens are no longer accepted.
type TokenIssued struct {
	UserID    string    `json:"user_id"`
	TokenID   string    `json:"token_id"`
	TokenHash string    `json:"token_hash,omitempty"`
	Label     string    `json:"label"`
	ExpiresAt time.Time `json:"expires_at,omitzero"`
	// Replaces is the token this one rotated out, if any.
	Replaces string `json:"replaces,omitempty"`
}

// Why a token stopped authenticating anyone.
const (
	RevokedByOwner    = "owner"    // its user revoked it
	RevokedByMinistry = "ministry" // the ministry revoked it
	RevokedRotated    = "rotated"  // its user replaced it with a new one
	RevokedByPassword = "password" // a change or reset of its user's password ended it
)

// TokenRevoked: the token no longer authenticates anyone.
type TokenRevoked struct {
	UserID  string `json:"user_id"`
	TokenID string `json:"token_id"`
	Reason  string `json:"reason,omitempty"`
}

// PasswordSet: the user's password was set, by the ministry (Reset) or by the
// user. Setting a password the user already had (a change or a reset) revokes
// every token of theirs at the same moment. The hash is not recorded: the log is kept forever and auditors read it,
// so it holds the fact, and the credentials table holds the secret.
type PasswordSet struct {
	UserID string `json:"user_id"`
	Reset  bool   `json:"reset"`
}

func (PasswordSet) EventType() string    { return TypePasswordSet }
func (UserRegistered) EventType() string { return TypeUserRegistered }
func (TokenIssued) EventType() string    { return TypeTokenIssued }
func (TokenRevoked) EventType() string   { return TypeTokenRevoked }

// Principal is the user the event registered.
func (e UserRegistered) Principal() Principal {
	return Principal{UserID: e.UserID, Name: e.Name, Role: e.Role, Organisation: e.Organisation}
}
