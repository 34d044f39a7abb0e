package api

import (
	"context"
	"net/http"
	"reflect"
	"regexp"

	"github.com/google/uuid"

	"keytask/app"
	"keytask/domain/identity"
	"keytask/events"
)

type ctxKey int

const (
	principalKey ctxKey = iota
	requestIDKey
	correlationIDKey
	routeCallKey
)

// routeCall is what a handler did that the contract checks: the types it
// decoded request bodies into.
type routeCall struct {
	decoded []reflect.Type
}

// Headers that carry a request's identity through to the events it causes.
const (
	headerRequestID     = "X-Request-Id"
	headerCorrelationID = "X-Correlation-Id"
)

// traceIDPattern bounds the ids a client may choose: they end up in logs and
// in the event log, so nothing that could forge a log line or grow unbounded.
var traceIDPattern = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,128}$`)

// withRequestID gives every request an id (the client's, if well-formed) and
// returns it in the response, so a user's report can be matched to logs and events.
func withRequestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get(headerRequestID)
		if !traceIDPattern.MatchString(id) {
			id = uuid.NewString()
		}
		corr := r.Header.Get(headerCorrelationID)
		if !traceIDPattern.MatchString(corr) {
			corr = id
		}
		w.Header().Set(headerRequestID, id)
		ctx := context.WithValue(r.Context(), requestIDKey, id)
		ctx = context.WithValue(ctx, correlationIDKey, corr)
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

func requestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey).(string)
	return id
}

func withPrincipal(ctx context.Context, p identity.Principal) context.Context {
	return context.WithValue(ctx, principalKey, p)
}

// principal is the authenticated user; only routes that are not public have one.
func principal(ctx context.Context) identity.Principal {
	p, _ := ctx.Value(principalKey).(identity.Principal)
	return p
}

// metadata says who caused the events a request appends, and in which request.
func metadata(ctx context.Context) events.Metadata {
	p := principal(ctx)
	corr, _ := ctx.Value(correlationIDKey).(string)
	return events.Metadata{
		ActorID:       p.UserID,
		Role:          string(p.Role),
		Organisation:  p.Organisation,
		RequestID:     requestID(ctx),
		CorrelationID: corr,
	}
}

// appRequest is who asks for an application-layer command, and under which
// idempotency key.
func appRequest(r *http.Request, key string) app.Request {
	return app.Request{Meta: metadata(r.Context()), Key: key}
}
