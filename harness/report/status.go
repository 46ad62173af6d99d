package report

import (
	"fmt"
	"io"
	"time"
)

// Step is one running step of a progress display.
type Step struct {
	w     io.Writer
	name  string
	start time.Time
	now   func() time.Time
}

// Begin starts a step named name; End prints its result line.
func Begin(w io.Writer, name string) *Step {
	return &Step{w: w, name: name, start: time.Now(), now: time.Now}
}

// Elapsed is the time since the step began.
func (s *Step) Elapsed() time.Duration { return s.now().Sub(s.start) }

// End prints "✓ name (1.2s)" or "✗ name (1.2s): err" and returns err unchanged.
func (s *Step) End(err error) error {
	secs := s.Elapsed().Seconds()
	if err != nil {
		fmt.Fprintf(s.w, " ✗ %s (%.1fs): %v\n", s.name, secs, err)
		return err
	}
	fmt.Fprintf(s.w, " ✓ %s (%.1fs)\n", s.name, secs)
	return nil
}
