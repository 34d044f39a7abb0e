package api

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"keytask/domain/identity"
	"keytask/domain/policy"
	"keytask/projections"
)

// Bounds of ?limit= on timelines.
const (
	defaultTimelineLimit = 100
	maxTimelineLimit     = 1000
)

// streamOf describes the stream a timeline request reads. Only user streams have a
// known owner yet (the user); every other stream counts as national, so only the
// ministry and auditors read it, until read models record each stream's owner.
func streamOf(r *http.Request, _ identity.Principal) (policy.Resource, error) {
	stream := r.PathValue("stream")
	res := policy.Resource{Kind: policy.KindStream, ID: stream}
	if id, ok := strings.CutPrefix(stream, "user-"); ok {
		res.Subject = id
	}
	return res, nil
}

func (s *Server) timeline(w http.ResponseWriter, r *http.Request) error {
	limit := defaultTimelineLimit
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxTimelineLimit {
			return badRequest("limit", fmt.Sprintf("limit 应为 1 到 %d 之间的整数", maxTimelineLimit),
				fmt.Sprintf("limit %q out of range", v))
		}
		limit = n
	}
	stream := r.PathValue("stream")
	entries, err := projections.TimelineOf(r.Context(), s.pool, stream, limit)
	if err != nil {
		return err
	}
	if entries == nil {
		entries = []projections.TimelineEntry{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"stream_id": stream, "entries": entries})
	return nil
}
