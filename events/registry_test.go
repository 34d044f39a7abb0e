package events_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"keytask/events"
)

type fundsV2 struct {
	AmountYuan int64 `json:"amount_yuan"`
}

type noted struct {
	Note string `json:"note"`
}

func newRegistry() *events.Registry {
	r := events.NewRegistry()
	// v1 kept 万元 as a float; v2 keeps integer yuan.
	events.Register[fundsV2](r, "FundsDeclared", 2, func(data json.RawMessage) (json.RawMessage, error) {
		var v1 struct {
			Wan json.Number `json:"wan"`
		}
		if err := json.Unmarshal(data, &v1); err != nil {
			return nil, err
		}
		yuan, err := wanToYuan(string(v1.Wan))
		if err != nil {
			return nil, err
		}
		return json.Marshal(fundsV2{AmountYuan: yuan})
	})
	events.Register[noted](r, "Noted", 1)
	return r
}

func recorded(typ string, version int, data string) events.Event {
	return events.Event{ID: events.DeriveID("registry", typ, data), Type: typ, SchemaVersion: version, Data: json.RawMessage(data)}
}

func TestRegistryDecode(t *testing.T) {
	r := newRegistry()
	t.Run("OK", func(t *testing.T) {
		got, err := r.Decode(recorded("Noted", 1, `{"note":"已核实"}`))
		if err != nil || got != (noted{Note: "已核实"}) {
			t.Fatalf("got %#v, %v", got, err)
		}
	})
	t.Run("Upcast", func(t *testing.T) {
		e := recorded("FundsDeclared", 1, `{"wan": 12.5}`)
		got, err := events.DecodeAs[fundsV2](r, e)
		if err != nil || got.AmountYuan != 125000 {
			t.Fatalf("got %#v, %v", got, err)
		}
		if e.SchemaVersion != 1 || string(e.Data) != `{"wan": 12.5}` {
			t.Fatalf("decoding changed the caller's event: v%d %s", e.SchemaVersion, e.Data)
		}
		if got, err := events.DecodeAs[fundsV2](r, recorded("FundsDeclared", 2, `{"amount_yuan":7}`)); err != nil || got.AmountYuan != 7 {
			t.Fatalf("current version: %#v, %v", got, err)
		}
	})
	t.Run("Current", func(t *testing.T) {
		got, err := r.Current(recorded("FundsDeclared", 1, `{"wan": 0.0001}`))
		if err != nil || got.SchemaVersion != 2 || string(got.Data) != `{"amount_yuan":1}` {
			t.Fatalf("got v%d %s, %v", got.SchemaVersion, got.Data, err)
		}
	})
	t.Run("ErrUnregistered", func(t *testing.T) {
		_, err := r.Decode(recorded("Forgotten", 1, `{}`))
		if !errors.Is(err, events.ErrUnregistered) || !strings.Contains(err.Error(), "Forgotten") {
			t.Fatalf("got %v, want ErrUnregistered naming the type", err)
		}
	})
	t.Run("ErrNewerVersion", func(t *testing.T) {
		if _, err := r.Decode(recorded("Noted", 2, `{}`)); err == nil || !strings.Contains(err.Error(), "schema version 2") {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("ErrWrongGoType", func(t *testing.T) {
		if _, err := events.DecodeAs[fundsV2](r, recorded("Noted", 1, `{}`)); err == nil {
			t.Fatal("decoded a Noted as funds")
		}
	})
	t.Run("ErrBadData", func(t *testing.T) {
		if _, err := r.Decode(recorded("Noted", 1, `{"note": 3}`)); err == nil || !strings.Contains(err.Error(), "Noted") {
			t.Fatalf("got %v", err)
		}
	})
}

type annotation interface{ annotation() }

func (noted) annotation() {}

func TestDecodeIf(t *testing.T) {
	r := newRegistry()
	got, ok, err := events.DecodeIf[annotation](r, recorded("Noted", 1, `{"note":"复核"}`))
	if !ok || err != nil || got != (noted{Note: "复核"}) {
		t.Fatalf("kept type: %#v, %v, %v", got, ok, err)
	}
	// Another type's data is not even read: this one would not decode.
	if _, ok, err := events.DecodeIf[annotation](r, recorded("FundsDeclared", 2, `not json`)); ok || err != nil {
		t.Fatalf("other type: %v, %v", ok, err)
	}
	if _, ok, err := events.DecodeIf[annotation](r, recorded("Forgotten", 1, `{}`)); ok || err != nil {
		t.Fatalf("unregistered type: %v, %v", ok, err)
	}
	if _, ok, err := events.DecodeIf[annotation](r, recorded("Noted", 1, `{"note": 1}`)); ok || err == nil {
		t.Fatalf("kept type with bad data: %v, %v", ok, err)
	}
}

func TestRegistryLookups(t *testing.T) {
	r := newRegistry()
	if v, ok := r.Version("FundsDeclared"); !ok || v != 2 {
		t.Errorf("Version = %d, %v", v, ok)
	}
	if _, ok := r.Version("Forgotten"); ok {
		t.Error("Version of an unregistered type")
	}
	if typ, ok := r.TypeOf(noted{}); !ok || typ != "Noted" {
		t.Errorf("TypeOf = %q, %v", typ, ok)
	}
	if got := strings.Join(r.Types(), ","); got != "FundsDeclared,Noted" {
		t.Errorf("Types = %s", got)
	}
}

func TestRegisterRefusesAmbiguity(t *testing.T) {
	for name, register := range map[string]func(*events.Registry){
		"same type twice":    func(r *events.Registry) { events.Register[struct{ A int }](r, "Noted", 1) },
		"same Go type twice": func(r *events.Registry) { events.Register[noted](r, "Annotated", 1) },
		"missing upcaster":   func(r *events.Registry) { events.Register[struct{ B int }](r, "Other", 2) },
		"version below one":  func(r *events.Registry) { events.Register[struct{ C int }](r, "Zero", 0) },
		"empty type":         func(r *events.Registry) { events.Register[struct{ D int }](r, "", 1) },
	} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Error("registered")
				}
			}()
			register(newRegistry())
		})
	}
}
