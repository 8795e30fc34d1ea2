package lazyre

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// Every expression the repository gives New must compile: a bad one no longer stops the
// binary at start-up, so this is where it is caught.
func TestEveryPatternInTheRepositoryCompiles(t *testing.T) {
	root := filepath.Join("..", "..")
	n := 0
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") && path != root || d.Name() == "node_modules") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") {
			return nil
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, 0)
		if err != nil {
			return err
		}
		ast.Inspect(f, func(x ast.Node) bool {
			call, ok := x.(*ast.CallExpr)
			if !ok || len(call.Args) != 1 {
				return true
			}
			sel, ok := call.Fun.(*ast.SelectorExpr)
			if !ok || sel.Sel.Name != "New" {
				return true
			}
			if id, ok := sel.X.(*ast.Ident); !ok || id.Name != "lazyre" {
				return true
			}
			p, ok := literal(call.Args[0])
			if !ok {
				t.Errorf("%s: lazyre.New with a pattern that is not a string literal (or a sum of them): this test cannot check it", path)
				return true
			}
			n++
			if _, err := regexp.Compile(p); err != nil {
				t.Errorf("%s: %v", path, err)
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 50 {
		t.Errorf("found %d patterns; the repository has about a hundred: is the walk finding the sources?", n)
	}
}

// literal is the value of a string literal or of a sum of them.
func literal(e ast.Expr) (string, bool) {
	switch e := e.(type) {
	case *ast.BasicLit:
		if e.Kind != token.STRING {
			return "", false
		}
		s, err := strconv.Unquote(e.Value)
		return s, err == nil
	case *ast.BinaryExpr:
		if e.Op != token.ADD {
			return "", false
		}
		a, ok := literal(e.X)
		if !ok {
			return "", false
		}
		b, ok := literal(e.Y)
		return a + b, ok
	case *ast.ParenExpr:
		return literal(e.X)
	}
	return "", false
}

func TestCompiledOnceAndShared(t *testing.T) {
	r := New(`^a(b+)c$`)
	var wg sync.WaitGroup
	got := make([]*regexp.Regexp, 8)
	for i := range got {
		wg.Add(1)
		go func() { defer wg.Done(); got[i] = r.Re() }()
	}
	wg.Wait()
	for _, g := range got[1:] {
		if g != got[0] {
			t.Fatal("two compilations of one Regexp")
		}
	}
	if m := r.FindStringSubmatch("abbc"); len(m) != 2 || m[1] != "bb" {
		t.Errorf("FindStringSubmatch = %q", m)
	}
	if r.String() != `^a(b+)c$` {
		t.Errorf("String = %q", r.String())
	}
}

func TestBadPatternPanicsOnFirstUse(t *testing.T) {
	r := New(`(`)
	defer func() {
		if recover() == nil {
			t.Error("a bad pattern compiled")
		}
	}()
	r.MatchString("x")
}
