package api

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5"

	"keytask/domain"
	"keytask/projections"
)

// An Idempotency-Key names one request: sent again with the same body it
// gets the first outcome (each command's own idempotency sees to that), sent
// with another body it is refused, as the IETF idempotency-key draft and
// Stripe do, instead of being answered as a replay of something it is not.
// The server remembers, per caller, request line and key, the SHA-256 of the
// JSON body the key first came with.

// claimKey records the body the caller's key comes with, or refuses the key
// when it came with another body before. release forgets the claim: called
// when the request was refused for its input, so that the caller may correct
// it and send it again under the same key. A request without a key, or whose
// body is not JSON (uploads, forms), claims nothing.
func (s *Server) claimKey(r *http.Request, rt Route, actorID string) (release func(), err error) {
	key := r.Header.Get(headerIdempotencyKey)
	if key == "" || r.Method == http.MethodGet || r.Method == http.MethodHead || !traceIDPattern.MatchString(key) {
		return nil, nil // a malformed key is the handler's to refuse, naming it
	}
	if ct := r.Header.Get("Content-Type"); ct != "" {
		if mt, _, _ := mime.ParseMediaType(ct); mt != "application/json" {
			return nil, nil
		}
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		return nil, badRequest("", "无法读取请求体", "read body: "+err.Error())
	}
	r.Body = io.NopCloser(io.MultiReader(bytes.NewReader(body), r.Body))
	if len(body) > maxBody {
		return nil, nil // decodeJSON refuses it
	}
	sum := sha256.Sum256(bytes.TrimSpace(body))
	hash := hex.EncodeToString(sum[:])
	ctx := r.Context()
	var inserted bool
	var was string
	err = s.pool.QueryRow(ctx, `WITH ins AS (
			INSERT INTO idempotency_keys (actor_id, request, key, body_sha256) VALUES ($1, $2, $3, $4)
			ON CONFLICT DO NOTHING RETURNING body_sha256)
		SELECT true, body_sha256 FROM ins
		UNION ALL SELECT false, body_sha256 FROM idempotency_keys WHERE actor_id = $1 AND request = $2 AND key = $3
		LIMIT 1`, actorID, rt.Pattern, key, hash).Scan(&inserted, &was)
	if errors.Is(err, pgx.ErrNoRows) {
		// Claimed and released by a concurrent request in between: that
		// one's outcome did not hold, so this one goes ahead unclaimed.
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("claim idempotency key: %w", err)
	}
	if was != hash {
		return nil, keyReused(key)
	}
	if !inserted {
		return nil, nil
	}
	return func() {
		// Detached from the request: a refusal is answered after this, and
		// a cancelled request must not leave its key claimed.
		if _, err := s.pool.Exec(context.WithoutCancel(ctx), `DELETE FROM idempotency_keys
			WHERE actor_id = $1 AND request = $2 AND key = $3 AND body_sha256 = $4`, actorID, rt.Pattern, key, hash); err != nil {
			s.log.WarnContext(ctx, "release idempotency key", "request_id", requestID(ctx), "err", err)
		}
	}, nil
}

// keyReused refuses key, sent again with another body.
func keyReused(key string) error {
	return domain.WithCode(domain.Invalid(headerIdempotencyKey,
		fmt.Sprintf("幂等键（Idempotency-Key）“%s”已用于另一个请求体：同一个键只能重发完全相同的请求，新的请求请使用新的键", key),
		fmt.Sprintf("idempotency key %q sent again with another body", key)), codeKeyReused)
}

// statusRecorder remembers the status a handler answered.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (w *statusRecorder) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *statusRecorder) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection.
func (w *statusRecorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// awaitWriter holds a successful answer to a write until await returns, so
// that the read models hold the write when the client learns of it.
type awaitWriter struct {
	http.ResponseWriter
	await  func()
	waited bool
}

func (w *awaitWriter) WriteHeader(status int) {
	if !w.waited {
		w.waited = true
		if status < 400 {
			w.await()
		}
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *awaitWriter) Write(b []byte) (int, error) {
	if !w.waited {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection.
func (w *awaitWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// maxProjectionWait bounds how long a write waits for the read models. They
// normally follow within a poll interval (100 ms); a projector that is down
// must not hold every write, so past this the answer goes out and the lag is
// logged (and shows in keytask_projection_lag_seconds).
const maxProjectionWait = 5 * time.Second

// awaitProjections waits until the read models have applied every event
// committed so far, this request's among them.
func (s *Server) awaitProjections(r *http.Request) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), maxProjectionWait)
	defer cancel()
	if err := projections.WaitCaughtUp(ctx, s.pool, s.awaitNames); err != nil {
		s.log.WarnContext(r.Context(), "answering a write before the read models caught up", "path", r.URL.Path,
			"request_id", requestID(r.Context()), "err", err)
	}
}
