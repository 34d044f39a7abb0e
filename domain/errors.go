// Package domain holds what keytask's pure rules share: the errors a rule returns
// when it refuses a command. Each error names the field at fault and carries both a
// message for the user, in Simplified Chinese, and a detail for the logs, in English.
package domain

// FieldError is a bad input: the named field is missing, malformed or out of range.
// HTTP reports it as 422.
type FieldError struct {
	Field string // the field at fault, as the client spells it (JSON name)
	// Code is a stable machine code for clients ("idempotency_key_reused");
	// empty means the kind's own: "invalid" for a FieldError, "conflict" for
	// a ConflictError.
	Code    string
	Message string // for users, in Simplified Chinese
	Detail  string // for logs, in English
}

// Error returns the English detail; users see Message.
func (e *FieldError) Error() string { return e.Detail }

// Invalid returns a *FieldError.
func Invalid(field, message, detail string) error {
	return &FieldError{Field: field, Message: message, Detail: detail}
}

// WithCode returns err with its stable machine code set, when err is a
// *FieldError or *ConflictError; any other error comes back unchanged.
func WithCode(err error, code string) error {
	switch e := err.(type) {
	case *FieldError:
		c := *e
		c.Code = code
		return &c
	case *ConflictError:
		c := *e
		c.Code = code
		return &c
	}
	return err
}

// ConflictError is a well-formed command that the current state refuses, such as
// registering a user id that is taken. HTTP reports it as 409.
type ConflictError struct {
	FieldError
}

// Conflict returns a *ConflictError.
func Conflict(field, message, detail string) error {
	return &ConflictError{FieldError{Field: field, Message: message, Detail: detail}}
}
