package main

import (
	"errors"
	"strings"

	"github.com/cassmove/shadow/engine/lake"
	"github.com/cassmove/shadow/shadow/config"
)

// Exit codes of every command (contracts §4).
const (
	exitOK      = 0 // success; for diff and run, the result is clean
	exitDiffers = 1 // differences found
	exitUsage   = 2 // usage error or bad input
	exitFailure = 3 // runtime failure
)

// usageError wraps an error that is the user's to fix (exit 2).
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// differsError reports that a diff or run found differences (exit 1). The
// report has been printed; nothing more is written to stderr.
type differsError struct{}

func (differsError) Error() string { return "differences found" }

// badInput lists the sentinel errors that mean bad input (exit 2). Each
// subcommand file adds its packages' sentinels from init with markBadInput.
var badInput = []error{lake.ErrBadReference, lake.ErrNotFound, config.ErrInvalid}

func markBadInput(errs ...error) { badInput = append(badInput, errs...) }

func exitCode(err error) int {
	if err == nil {
		return exitOK
	}
	var d differsError
	if errors.As(err, &d) {
		return exitDiffers
	}
	var u usageError
	if errors.As(err, &u) {
		return exitUsage
	}
	for _, s := range badInput {
		if errors.Is(err, s) {
			return exitUsage
		}
	}
	// cobra's own flag and argument errors are plain errors.
	msg := err.Error()
	for _, p := range []string{"unknown flag", "unknown shorthand flag", "unknown command", "invalid argument", "flag needs an argument", "accepts ", "requires at least", "required flag"} {
		if strings.Contains(msg, p) {
			return exitUsage
		}
	}
	return exitFailure
}
