package app

import "keytask/domain"

// NotFoundError is a command on an aggregate that does not exist. HTTP
// reports it as 404.
type NotFoundError struct {
	Message string // for users, in Simplified Chinese
	Detail  string // for logs, in English
}

func (e *NotFoundError) Error() string { return e.Detail }

func notFound(message, detail string) error { return &NotFoundError{Message: message, Detail: detail} }

// CodeKeyReused is the machine code of an Idempotency-Key reused for another request.
const CodeKeyReused = "idempotency_key_reused"

// KeyReused is the refusal of an idempotency key that was used for another
// request: a *domain.FieldError for the header.
func KeyReused(err error) error {
	return domain.WithCode(domain.Invalid("Idempotency-Key", "该幂等键（Idempotency-Key）已用于另一个请求，请为新请求使用新的键",
		"idempotency key reused for a different request: "+err.Error()), CodeKeyReused)
}
