package api

import "reflect"

// CheckDecoded has the server tell f, after each request, which body types
// its handler decoded beside the type its route declares. Set it before the
// server serves.
func (s *Server) CheckDecoded(f func(pattern string, declared reflect.Type, decoded []reflect.Type)) {
	s.checkDecoded = f
}
