package deptest

import (
	"go/ast"
	"go/token"
	"sort"
	"testing"
)

// maxRootExported bounds the root package's top-level exported
// identifiers (types, funcs, consts, vars; methods and fields not
// counted), so the root stays an API a newcomer can hold: nodes,
// processes, signals, typed subjects, calls and actors. Supervisors, the
// Gleam shapes and the services live in their own packages.
const maxRootExported = 70

// rootExported lists the root package's top-level exported identifiers.
func rootExported(t *testing.T) []string {
	t.Helper()
	_, files := rootFiles(t)
	var names []string
	for _, f := range files {
		for _, d := range f.Decls {
			switch d := d.(type) {
			case *ast.FuncDecl:
				if d.Recv == nil && d.Name.IsExported() {
					names = append(names, d.Name.Name)
				}
			case *ast.GenDecl:
				if d.Tok == token.IMPORT {
					continue
				}
				for _, s := range d.Specs {
					switch s := s.(type) {
					case *ast.TypeSpec:
						if s.Name.IsExported() {
							names = append(names, s.Name.Name)
						}
					case *ast.ValueSpec:
						for _, n := range s.Names {
							if n.IsExported() {
								names = append(names, n.Name)
							}
						}
					}
				}
			}
		}
	}
	sort.Strings(names)
	return names
}

func TestRootExportedCount(t *testing.T) {
	names := rootExported(t)
	t.Logf("the root package exports %d top-level identifiers (at most %d)", len(names), maxRootExported)
	if len(names) > maxRootExported {
		t.Errorf("the root package exports %d top-level identifiers; want at most %d:", len(names), maxRootExported)
		for _, n := range names {
			t.Log(n)
		}
	}
}
