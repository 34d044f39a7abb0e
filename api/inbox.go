package api

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"keytask/app"
	"keytask/domain/identity"
	"keytask/domain/policy"
	"keytask/notifications"
)

const maxInboxLimit = 500

func (s *Server) inboxRoutes() []Route {
	return []Route{
		{Pattern: "GET /api/v1/inbox", Action: policy.ActionRead, Resource: ownInbox, handle: s.inbox},
		{Pattern: "POST /api/v1/inbox/{id}/read", Action: policy.ActionWrite, Resource: ownInbox, handle: s.markRead},
		{Pattern: "POST /api/v1/inbox/read", Action: policy.ActionWrite, Resource: ownInbox, handle: s.markAllRead},
		{Pattern: "PUT /api/v1/inbox/email", Action: policy.ActionWrite, Resource: ownInbox, handle: s.setNotificationEmail, Request: setNotificationEmailBody{}},
	}
}

// ownInbox is the caller's own inbox: nobody reads another's.
func ownInbox(_ *http.Request, p identity.Principal) (policy.Resource, error) {
	return policy.Resource{Kind: policy.KindInbox, ID: p.UserID, Subject: p.UserID}, nil
}

// inbox answers the caller's newest notices; ?unread=1 keeps the unread ones,
// ?limit= caps them (default 100).
func (s *Server) inbox(w http.ResponseWriter, r *http.Request) error {
	limit := 100
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxInboxLimit {
			return badRequest("limit", fmt.Sprintf("limit 应为 1 到 %d 之间的整数", maxInboxLimit),
				fmt.Sprintf("limit %q out of range", v))
		}
		limit = n
	}
	var unreadOnly bool
	switch v := r.URL.Query().Get("unread"); v {
	case "", "0", "false":
	case "1", "true":
		unreadOnly = true
	default:
		return badRequest("unread", "unread 应为 true 或 false", fmt.Sprintf("unread %q is not a boolean", v))
	}
	entries, unread, err := notifications.Inbox(r.Context(), s.pool, principal(r.Context()).UserID, unreadOnly, limit)
	if err != nil {
		return err
	}
	if entries == nil {
		entries = []notifications.Entry{}
	}
	email, err := notifications.EmailOf(r.Context(), s.pool, principal(r.Context()).UserID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"notifications": entries, "unread": unread, "email": email})
	return nil
}

// setNotificationEmail records where the caller wants notices mailed; an
// empty address stops mail. It takes effect once the notifier has read it.
func (s *Server) setNotificationEmail(w http.ResponseWriter, r *http.Request) error {
	key, err := idempotencyKey(r)
	if err != nil {
		return err
	}
	var req setNotificationEmailBody
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	email, err := s.app.SetNotificationEmail(r.Context(), app.SetNotificationEmail{Request: appRequest(r, key), Email: req.Email})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"email": email})
	return nil
}

func (s *Server) markRead(w http.ResponseWriter, r *http.Request) error {
	err := notifications.MarkRead(r.Context(), s.pool, principal(r.Context()).UserID, r.PathValue("id"), time.Now())
	if errors.Is(err, notifications.ErrNoEntry) {
		return &httpError{status: http.StatusNotFound, field: "id", message: "通知不存在", detail: "no such inbox entry " + r.PathValue("id")}
	}
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) markAllRead(w http.ResponseWriter, r *http.Request) error {
	n, err := notifications.MarkAllRead(r.Context(), s.pool, principal(r.Context()).UserID, time.Now())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"marked": n})
	return nil
}

// setNotificationEmailBody is the body setNotificationEmail decodes.
type setNotificationEmailBody struct {
	Email string `json:"email"`
}
