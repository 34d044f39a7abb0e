package config

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestEverySettingIsRead sets each documented variable in turn and requires
// FromEnv to come out different, so a setting listed in Settings but read
// nowhere (or read under another name) fails.
func TestEverySettingIsRead(t *testing.T) {
	for _, s := range Settings {
		t.Setenv(s.Env, "")
	}
	base := FromEnv()
	for _, s := range Settings {
		t.Run(s.Env, func(t *testing.T) {
			t.Setenv(s.Env, "set-"+s.Env)
			if reflect.DeepEqual(FromEnv(), base) {
				t.Errorf("FromEnv ignores %s", s.Env)
			}
		})
	}
}

// TestReadmeListsEverySetting keeps README's configuration table and
// Settings the same set of variables.
func TestReadmeListsEverySetting(t *testing.T) {
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	section := string(b)
	start := strings.Index(section, "## Configuration")
	if start < 0 {
		t.Fatal("README has no configuration section")
	}
	section = section[start:]
	if end := strings.Index(section[3:], "\n#"); end >= 0 {
		section = section[:end+3]
	}
	var documented []string
	for _, line := range strings.Split(section, "\n") {
		if cells := strings.Split(line, "|"); len(cells) > 2 {
			documented = append(documented, regexp.MustCompile("KEYTASK_[A-Z_]+").FindAllString(cells[1], -1)...)
		}
	}
	var read []string
	for _, s := range Settings {
		read = append(read, s.Env)
	}
	slices.Sort(documented)
	slices.Sort(read)
	if !slices.Equal(documented, read) {
		t.Errorf("README documents %v,\nconfig reads %v", documented, read)
	}
}

// TestEnvironmentReadOnlyHere requires every setting to be read through this
// package: no other production code calls os.Getenv or os.LookupEnv. Tests and
// db/pgtest, the tests' database helper, may.
func TestEnvironmentReadOnlyHere(t *testing.T) {
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	var found int
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		if d.IsDir() {
			if rel == "config" || rel == filepath.Join("db", "pgtest") || strings.HasPrefix(d.Name(), ".") && rel != "." || d.Name() == "testdata" {
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
		found++
		ast.Inspect(f, func(n ast.Node) bool {
			sel, ok := n.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			if x, ok := sel.X.(*ast.Ident); ok && x.Name == "os" && (sel.Sel.Name == "Getenv" || sel.Sel.Name == "LookupEnv" || sel.Sel.Name == "Environ") {
				t.Errorf("%s reads the environment (os.%s); read it through config", fset.Position(sel.Pos()), sel.Sel.Name)
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if found < 50 {
		t.Fatalf("walked only %d Go files from %s", found, root)
	}
}
