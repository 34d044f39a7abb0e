// Package privacy is the one rule that decides who may read each piece of
// personal data the platform keeps: an objector's identity, a user's mail.
// Every read path (pages, API, replay, diff, history, exports) asks it, so a
// new path cannot forget a field the others withhold.
package privacy

import (
	"encoding/json"
	"fmt"

	"keytask/domain/identity"
	"keytask/domain/selection"
)

// Kind is a kind of personal data, each with its own readers.
type Kind int

const (
	// Objector is who filed an objection: name, phone, identity number.
	Objector Kind = iota + 1
	// UserMail is the address a user gave for notices.
	UserMail
)

// Withheld replaces personal data a viewer may not see.
const Withheld = "（已隐去）"

// MayRead reports whether p may read personal data of kind k belonging to the
// user owner (empty when the data belongs to no user of the platform): the
// ministry reads all of it; a user reads their own mail; nobody else reads any.
func MayRead(p identity.Principal, k Kind, owner string) bool {
	if p.Role == identity.RoleMinistry {
		return true
	}
	return k == UserMail && owner != "" && p.UserID == owner
}

// field is one piece of personal data inside a JSON object: its key, its
// kind, and the key (if any) naming the user it belongs to.
type field struct {
	key   string
	kind  Kind
	owner string
}

var objectorFields = []field{{key: "name", kind: Objector}, {key: "contact", kind: Objector}}

// eventFields are the personal fields in the data of each event type.
var eventFields = map[string][]field{
	selection.TypeObjectionFiled: objectorFields,
	identity.TypeEmailSet:        {{key: "email", kind: UserMail, owner: "user_id"}},
}

// tableFields are the personal columns of each read-model table.
var tableFields = map[string][]field{
	"selection_batch_objections": objectorFields,
}

// Event returns an event's data as p may read it, and whether anything was
// withheld.
func Event(p identity.Principal, typ string, data json.RawMessage) (json.RawMessage, bool, error) {
	return redact(p, eventFields[typ], data)
}

// Row returns a read-model row (a JSON object of its columns) as p may read
// it, and whether anything was withheld.
func Row(p identity.Principal, table string, row json.RawMessage) (json.RawMessage, bool, error) {
	return redact(p, tableFields[table], row)
}

// Personal reports whether a read-model table holds personal data.
func Personal(table string) bool { return len(tableFields[table]) > 0 }

func redact(p identity.Principal, fs []field, data json.RawMessage) (json.RawMessage, bool, error) {
	if len(fs) == 0 {
		return data, false, nil
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, false, fmt.Errorf("personal data: %w", err)
	}
	withheld := false
	for _, f := range fs {
		v, ok := m[f.key]
		if !ok || v == "" || v == nil {
			continue
		}
		owner, _ := m[f.owner].(string)
		if !MayRead(p, f.kind, owner) {
			m[f.key], withheld = Withheld, true
		}
	}
	if !withheld {
		return data, false, nil
	}
	b, err := json.Marshal(m)
	return b, true, err
}
