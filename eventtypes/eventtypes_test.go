package eventtypes_test

import (
	"errors"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"keytask/domain/selection"
	"keytask/events"
	"keytask/eventtypes"
)

// TestEveryEventTypeRegistered walks the module's source for every event type
// it could append — each exported string constant named Type… and each literal
// Type of an events.NewEvent or activities.EventSpec — and requires a
// registration, so that an event type added anywhere without one fails here
// rather than when a reader first meets it in the log.
func TestEveryEventTypeRegistered(t *testing.T) {
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	found := map[string]string{} // event type -> where
	fset := token.NewFileSet()
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		if d.IsDir() {
			// events is the generic log and names no keytask event type.
			if rel == "events" || d.Name() == "testdata" || rel != "." && strings.HasPrefix(d.Name(), ".") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			return err
		}
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.ValueSpec:
				for i, name := range n.Names {
					if i < len(n.Values) && name.IsExported() && strings.HasPrefix(name.Name, "Type") && len(name.Name) > 4 {
						if typ, ok := stringLit(n.Values[i]); ok {
							found[typ] = fset.Position(name.Pos()).String()
						}
					}
				}
			case *ast.CompositeLit:
				if !isEventLiteral(n.Type) {
					return true
				}
				for _, el := range n.Elts {
					if kv, ok := el.(*ast.KeyValueExpr); ok {
						if key, ok := kv.Key.(*ast.Ident); ok && key.Name == "Type" {
							if typ, ok := stringLit(kv.Value); ok {
								found[typ] = fset.Position(kv.Pos()).String()
							}
						}
					}
				}
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(found) < 50 {
		t.Fatalf("found only %d event types under %s", len(found), root)
	}
	for typ, where := range found {
		if _, ok := eventtypes.Registry.Version(typ); !ok {
			t.Errorf("event type %s (%s) is not registered in eventtypes", typ, where)
		}
	}
}

func stringLit(e ast.Expr) (string, bool) {
	lit, ok := e.(*ast.BasicLit)
	if !ok || lit.Kind != token.STRING {
		return "", false
	}
	s, err := strconv.Unquote(lit.Value)
	return s, err == nil
}

// isEventLiteral reports whether a composite literal builds an event to append.
func isEventLiteral(typ ast.Expr) bool {
	var name string
	switch x := typ.(type) {
	case *ast.Ident:
		name = x.Name
	case *ast.SelectorExpr:
		name = x.Sel.Name
	}
	return name == "NewEvent" || name == "EventSpec"
}

func TestRegistryDecodesDomainEvents(t *testing.T) {
	e := events.Event{Type: selection.TypeObjectionFiled, SchemaVersion: 1,
		Data: []byte(`{"batch_id":"b1","objection_id":"o1","application":"a1","name":"张三","text":"材料不实"}`)}
	got, err := events.DecodeAs[selection.ObjectionFiled](eventtypes.Registry, e)
	if err != nil || got.ObjectionID != "o1" || got.Name != "张三" {
		t.Fatalf("got %+v, %v", got, err)
	}
	e.Type = "ObjectionFiledTwice"
	if _, err := eventtypes.Registry.Decode(e); !errors.Is(err, events.ErrUnregistered) {
		t.Fatalf("unregistered type: %v", err)
	}
}
