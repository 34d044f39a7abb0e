package identity

import (
	"net/mail"
	"strings"

	"keytask/domain"
)

// A user's notification settings are their own stream: the user account
// records who someone is, this stream where they want to be told.
const TypeEmailSet = "NotificationEmailSet"

// SettingsStream is the stream of a user's notification settings.
func SettingsStream(userID string) string { return "notification-settings-" + userID }

// EmailSet: the user wants notices mailed to Email as well; empty stops mail.
type EmailSet struct {
	UserID string `json:"user_id"`
	Email  string `json:"email"`
}

// ValidateEmail returns the bare, lower-case address of s ("" stays ""), or a
// *domain.FieldError for field "email".
func ValidateEmail(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", nil
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Name != "" || len(a.Address) > 254 || !strings.Contains(a.Address[strings.LastIndex(a.Address, "@")+1:], ".") {
		return "", domain.Invalid("email", "邮箱地址格式不正确，如 name@example.org", "malformed email address")
	}
	return strings.ToLower(a.Address), nil
}
