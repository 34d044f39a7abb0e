package events

import (
	"encoding/json"
	"fmt"
	"sync"
)

// Upcaster turns the data of an event at one schema version into the data of the
// next version. Old events stay as they were written; readers see the current shape.
type Upcaster func(data json.RawMessage) (json.RawMessage, error)

// Upcasters holds the upcasters of every event type.
type Upcasters struct {
	mu sync.RWMutex
	m  map[string]map[int]Upcaster // type -> from version -> upcaster to from+1
}

// NewUpcasters returns an empty registry.
func NewUpcasters() *Upcasters { return &Upcasters{m: map[string]map[int]Upcaster{}} }

// Register adds the upcaster of typ from version from to from+1.
func (u *Upcasters) Register(typ string, from int, fn Upcaster) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.m[typ] == nil {
		u.m[typ] = map[int]Upcaster{}
	}
	u.m[typ][from] = fn
}

// Upcast moves e to the newest schema version its type has upcasters for.
func (u *Upcasters) Upcast(e *Event) error {
	u.mu.RLock()
	chain := u.m[e.Type]
	u.mu.RUnlock()
	for {
		fn, ok := chain[e.SchemaVersion]
		if !ok {
			return nil
		}
		data, err := fn(e.Data)
		if err != nil {
			return fmt.Errorf("upcast %s %s from v%d: %w", e.Type, e.ID, e.SchemaVersion, err)
		}
		e.Data = data
		e.SchemaVersion++
	}
}
