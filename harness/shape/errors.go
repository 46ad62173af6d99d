package shape

import (
	"fmt"

	"github.com/hashicorp/hcl/v2"
)

// Error is a problem in a Terraform file, naming the file, the position and the field.
type Error struct {
	File   string
	Line   int
	Column int
	// Field is the variable path, e.g. node_groups.gpu.instance_types[0].
	Field string
	Msg   string
}

func (e *Error) Error() string {
	pos := e.File
	if e.Line > 0 {
		pos = fmt.Sprintf("%s:%d:%d", e.File, e.Line, e.Column)
	}
	if e.Field == "" {
		return fmt.Sprintf("%s: %s", pos, e.Msg)
	}
	return fmt.Sprintf("%s: %s: %s", pos, e.Field, e.Msg)
}

func errAt(rng hcl.Range, field, format string, args ...any) *Error {
	return &Error{File: rng.Filename, Line: rng.Start.Line, Column: rng.Start.Column, Field: field, Msg: fmt.Sprintf(format, args...)}
}

// diagError turns the first error diagnostic into an *Error.
func diagError(diags hcl.Diagnostics, file, field string) error {
	for _, d := range diags {
		if d.Severity != hcl.DiagError {
			continue
		}
		msg := d.Summary
		if d.Detail != "" {
			msg += ": " + d.Detail
		}
		if d.Subject != nil {
			return errAt(*d.Subject, field, "%s", msg)
		}
		return &Error{File: file, Field: field, Msg: msg}
	}
	return nil
}
