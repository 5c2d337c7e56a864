package deptest

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strings"
	"testing"
)

// rootDir is the module root: the package distribute.
const rootDir = "../.."

// rootFiles parses the root package's source files, tests excluded (a
// test may play a peer and write frames by hand).
func rootFiles(t *testing.T) (*token.FileSet, map[string]*ast.File) {
	t.Helper()
	fset := token.NewFileSet()
	names, err := filepath.Glob(filepath.Join(rootDir, "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	files := make(map[string]*ast.File)
	for _, name := range names {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		files[filepath.Base(name)] = f
	}
	if len(files) == 0 {
		t.Fatalf("no Go files in %s", rootDir)
	}
	return fset, files
}

// qualified reports whether e is pkg.Name with Name starting with prefix.
func qualified(e ast.Expr, pkg, prefix string) bool {
	sel, ok := e.(*ast.SelectorExpr)
	if !ok {
		return false
	}
	id, ok := sel.X.(*ast.Ident)
	return ok && id.Name == pkg && strings.HasPrefix(sel.Sel.Name, prefix)
}

// mentions reports whether a pkg.Name with Name starting with prefix
// appears anywhere in n.
func mentions(n ast.Node, pkg, prefix string) bool {
	found := false
	ast.Inspect(n, func(n ast.Node) bool {
		if e, ok := n.(ast.Expr); ok && qualified(e, pkg, prefix) {
			found = true
		}
		return !found
	})
	return found
}

// isTupleType reports whether e names the tuple type: etf.Tuple, or the
// root's alias Tuple.
func isTupleType(e ast.Expr) bool {
	if id, ok := e.(*ast.Ident); ok {
		return id.Name == "Tuple"
	}
	return qualified(e, "etf", "Tuple")
}

// TestRootWritesNoWireBytes keeps the wire bytes in internal/dist: no
// source file of the root package mentions an ETF tag (etf.Tag…, the
// version byte), calls dist's frame or header encoders, or builds a
// control message by hand (a tuple holding a dist.Op…, a dist.Control
// literal); the root sends control messages through dist's typed
// builders (dist.Link, dist.PayloadExit, ...) and a dist.Writer.
func TestRootWritesNoWireBytes(t *testing.T) {
	fset, files := rootFiles(t)
	for name, f := range files {
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.SelectorExpr:
				switch {
				case qualified(n, "etf", "Tag"), qualified(n, "etf", "VersionByte"):
					t.Errorf("%s: %s mentions an ETF tag byte; encoding belongs to internal/dist and etf", fset.Position(n.Pos()), name)
				case qualified(n, "dist", "AppendPassThrough"), qualified(n, "dist", "AppendHeader"),
					qualified(n, "dist", "AppendFrame"):
					t.Errorf("%s: %s writes a frame itself; a dist.Writer frames what the node sends", fset.Position(n.Pos()), name)
				}
			case *ast.CompositeLit:
				switch {
				case qualified(n.Type, "dist", "Control"):
					t.Errorf("%s: %s builds a dist.Control by hand; use the operation's builder (dist.Link, ...)", fset.Position(n.Pos()), name)
					return false
				case isTupleType(n.Type) && mentions(n, "dist", "Op"):
					t.Errorf("%s: %s builds a control tuple by hand; use the operation's builder (dist.Link, ...)", fset.Position(n.Pos()), name)
					return false
				}
			}
			return true
		})
	}
}

// TestMailboxLockIsPrivate keeps the mailbox's lock inside mailbox.go:
// other files of the root package use the mailbox's methods. (A syntax
// check: it looks for .mu on a field or variable named mbox or mb.)
func TestMailboxLockIsPrivate(t *testing.T) {
	selectorsOutside(t, "mailbox.go", func(pos token.Position, name string, sel *ast.SelectorExpr) {
		if sel.Sel.Name != "mu" {
			return
		}
		var owner string
		switch x := sel.X.(type) {
		case *ast.Ident:
			owner = x.Name
		case *ast.SelectorExpr:
			owner = x.Sel.Name
		}
		if owner == "mbox" || owner == "mb" {
			t.Errorf("%s: %s takes the mailbox's lock; only mailbox.go may", pos, name)
		}
	})
}

// TestRelationTablesInOneFile keeps a process's relation tables in
// relations.go: no other source file of the root package reads or
// changes a process's links, monitors, watchers or aliases, nor gets at
// the tables (the Process field ext, rels, relsForUpdate). They call
// relations.go's methods, which take their locks and return the signals
// owed (effects), and which keep the node's per-node index of remote
// relations: a link or monitor added elsewhere would be missing from it,
// and a lost connection would not reach it. (A syntax check: a selector
// of one of those names.)
func TestRelationTablesInOneFile(t *testing.T) {
	selectorsOutside(t, "relations.go", func(pos token.Position, name string, sel *ast.SelectorExpr) {
		switch sel.Sel.Name {
		case "links", "monitors", "watchers", "aliases", "ext", "rels", "relsForUpdate":
			t.Errorf("%s: %s touches a process's relation tables (.%s); only relations.go may (call its methods)", pos, name, sel.Sel.Name)
		}
	})
}

// selectorsOutside calls visit with every selector expression (x.y) in
// the root package's source files other than owner, which must exist.
func selectorsOutside(t *testing.T, owner string, visit func(pos token.Position, file string, sel *ast.SelectorExpr)) {
	t.Helper()
	fset, files := rootFiles(t)
	if _, ok := files[owner]; !ok {
		t.Fatalf("%s not found in the root package", owner)
	}
	for name, f := range files {
		if name == owner {
			continue
		}
		ast.Inspect(f, func(n ast.Node) bool {
			if sel, ok := n.(*ast.SelectorExpr); ok {
				visit(fset.Position(sel.Pos()), name, sel)
			}
			return true
		})
	}
}
