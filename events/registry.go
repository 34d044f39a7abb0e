package events

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
)

// ErrUnregistered is returned when an event's type has no registration: its data
// cannot be read, and the code that appended it should have registered it.
var ErrUnregistered = errors.New("event type is not registered")

// Registry is the one place event data is decoded: each event type is registered
// once with the Go type of its data, its current schema version and the upcasters
// that bring older versions up to it. Readers get the current shape whatever
// version was written. A Registry is filled before use and only read afterwards.
type Registry struct {
	types     map[string]registration
	byGoType  map[reflect.Type]string
	upcasters *Upcasters
}

type registration struct {
	version int
	goType  reflect.Type
	decode  func(json.RawMessage) (any, error)
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	return &Registry{types: map[string]registration{}, byGoType: map[reflect.Type]string{}, upcasters: NewUpcasters()}
}

// Register records that the data of events of type typ is a T at schema version
// version. upcasters[i] turns version i+1 into version i+2, so there are exactly
// version-1 of them. It panics on a second registration of typ or of T, since
// either would make decoding ambiguous; registries are built at start.
func Register[T any](r *Registry, typ string, version int, upcasters ...Upcaster) {
	goType := reflect.TypeFor[T]()
	switch {
	case typ == "":
		panic("events: register an empty event type")
	case version < 1 || len(upcasters) != version-1:
		panic(fmt.Sprintf("events: %s at version %d needs %d upcasters, has %d", typ, version, max(version-1, 0), len(upcasters)))
	}
	if _, dup := r.types[typ]; dup {
		panic("events: " + typ + " registered twice")
	}
	if other, dup := r.byGoType[goType]; dup {
		panic(fmt.Sprintf("events: %s and %s both carry %v", other, typ, goType))
	}
	r.types[typ] = registration{version: version, goType: goType, decode: func(data json.RawMessage) (any, error) {
		var v T
		err := json.Unmarshal(data, &v)
		return v, err
	}}
	r.byGoType[goType] = typ
	for i, up := range upcasters {
		r.upcasters.Register(typ, i+1, up)
	}
}

// Decode returns the data of e as the Go value its type was registered with,
// upcast to the current schema version. It returns an error wrapping
// ErrUnregistered for a type without a registration, and an error for data
// written at a version newer than the registered one (by a newer release).
func (r *Registry) Decode(e Event) (any, error) {
	e, err := r.Current(e)
	if err != nil {
		return nil, err
	}
	v, err := r.types[e.Type].decode(e.Data)
	if err != nil {
		return nil, fmt.Errorf("decode %s %s: %w", e.Type, e.ID, err)
	}
	return v, nil
}

// Current returns e with its data upcast to the current schema version, for a
// reader that shows the data rather than decoding it (the audit history). Its
// errors are Decode's; the caller's e keeps what was written.
func (r *Registry) Current(e Event) (Event, error) {
	reg, ok := r.types[e.Type]
	if !ok {
		return e, fmt.Errorf("decode %s %s: %w", e.Type, e.ID, ErrUnregistered)
	}
	if e.SchemaVersion < reg.version {
		if err := r.upcasters.Upcast(&e); err != nil {
			return e, err
		}
	}
	if e.SchemaVersion != reg.version {
		return e, fmt.Errorf("decode %s %s: schema version %d, this release reads version %d", e.Type, e.ID, e.SchemaVersion, reg.version)
	}
	return e, nil
}

// DecodeAs is Decode for a reader that expects a T, as a reader that has
// already dispatched on e.Type does. It returns an error if e's type is
// registered with another Go type.
func DecodeAs[T any](r *Registry, e Event) (T, error) {
	var zero T
	v, err := r.Decode(e)
	if err != nil {
		return zero, err
	}
	t, ok := v.(T)
	if !ok {
		return zero, fmt.Errorf("decode %s %s: its data is a %T, not a %T", e.Type, e.ID, v, zero)
	}
	return t, nil
}

// Version returns the current schema version of typ; ok is false if typ is not
// registered. Appenders record data at this version.
func (r *Registry) Version(typ string) (version int, ok bool) {
	reg, ok := r.types[typ]
	return reg.version, ok
}

// TypeOf returns the event type whose data is a value of payload's Go type.
func (r *Registry) TypeOf(payload any) (typ string, ok bool) {
	typ, ok = r.byGoType[reflect.TypeOf(payload)]
	return typ, ok
}

// Types returns every registered event type, sorted.
func (r *Registry) Types() []string {
	out := make([]string, 0, len(r.types))
	for t := range r.types {
		out = append(out, t)
	}
	slices.Sort(out)
	return out
}

// Upcasters returns the registry's upcasters, for a Store whose reads should
// upcast with them (WithUpcasters).
func (r *Registry) Upcasters() *Upcasters { return r.upcasters }

// DecodeIf decodes e if the Go type its type is registered with is a T — a
// payload type, or an interface the payloads of one stream share — and reports
// ok false, without decoding, for any other event, registered or not. It serves
// readers that see every event and keep only some, so the others cost a map
// lookup rather than a decode.
func DecodeIf[T any](r *Registry, e Event) (v T, ok bool, err error) {
	reg, found := r.types[e.Type]
	if !found || !reg.goType.AssignableTo(reflect.TypeFor[T]()) {
		return v, false, nil
	}
	v, err = DecodeAs[T](r, e)
	return v, err == nil, err
}
