package api

import (
	"net/http"

	"go.temporal.io/sdk/converter"

	"keytask/domain/identity"
	"keytask/domain/policy"
)

// codecRoutes are Temporal's remote codec protocol (POST …/encode and
// …/decode with {"payloads": […]}), so that the Temporal UI and CLI show the
// sealed payloads in clear to ministry staff. Only the ministry administers
// payloads: they hold objectors' names and phones.
func (s *Server) codecRoutes() []Route {
	return []Route{
		{Pattern: "POST /codec/encode", Action: policy.ActionAdminister, Resource: payloads, handle: s.codec, noCSRF: true},
		{Pattern: "POST /codec/decode", Action: policy.ActionAdminister, Resource: payloads, handle: s.codec, noCSRF: true},
		{Pattern: "OPTIONS /codec/{op}", Public: true, handle: s.codecPreflight},
	}
}

func payloads(*http.Request, identity.Principal) (policy.Resource, error) {
	return policy.Resource{Kind: policy.KindPayload}, nil
}

// maxCodecBody bounds a codec request: Temporal refuses payloads over 2 MB,
// and a history page holds a few.
const maxCodecBody = 8 << 20

func (s *Server) codec(w http.ResponseWriter, r *http.Request) error {
	if s.payloadCodec == nil {
		return &httpError{status: http.StatusServiceUnavailable, message: "本服务未配置负载密钥（KEYTASK_PAYLOAD_KEY），无法编解码",
			detail: "no payload codec configured"}
	}
	s.allowCodecOrigin(w, r)
	r.Body = http.MaxBytesReader(w, r.Body, maxCodecBody)
	converter.NewPayloadCodecHTTPHandler(s.payloadCodec).ServeHTTP(w, r)
	return nil
}

// codecPreflight answers the browser's CORS preflight of the Temporal UI.
func (s *Server) codecPreflight(w http.ResponseWriter, r *http.Request) error {
	s.allowCodecOrigin(w, r)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// allowCodecOrigin lets the configured Temporal UI, and no other site, read
// the codec's answers with the operator's credentials. The codec changes
// nothing, so it needs no CSRF token; CORS keeps other pages from reading it.
func (s *Server) allowCodecOrigin(w http.ResponseWriter, r *http.Request) {
	origin := r.Header.Get("Origin")
	if origin == "" || origin != s.codecOrigin {
		return
	}
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", origin)
	h.Set("Access-Control-Allow-Credentials", "true")
	h.Set("Access-Control-Allow-Methods", "POST")
	h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, X-Namespace")
	h.Add("Vary", "Origin")
}
