package domain

import (
	"errors"
	"fmt"
)

// Code classifies an error for the caller; the GraphQL layer turns it into
// `extensions.code`.
type Code string

const (
	CodeUnauthenticated Code = "UNAUTHENTICATED"
	CodeForbidden       Code = "FORBIDDEN"
	CodeNotFound        Code = "NOT_FOUND"
	CodeInvalid         Code = "BAD_USER_INPUT"
	CodeConflict        Code = "CONFLICT"
	// CodeUnavailable: not now, through no fault of the input; retry later.
	CodeUnavailable Code = "UNAVAILABLE"
	CodeInternal    Code = "INTERNAL"
)

// Error is an error a caller may see. Its Message is written for the caller
// and never carries internal detail.
type Error struct {
	Code    Code
	Message string
	// Argument names the offending input for CodeInvalid, e.g. "input.ownerId".
	Argument string
	// CurrentVersion is the conversation's version for CodeConflict.
	CurrentVersion *int64
}

func (e *Error) Error() string { return e.Message }

// ErrorCode returns the Code of err, or CodeInternal when err is not an
// *Error.
func ErrorCode(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return CodeInternal
}

// Unauthenticated is returned for a missing, malformed or refused token.
func Unauthenticated(msg string) *Error { return &Error{Code: CodeUnauthenticated, Message: msg} }

// Forbidden is returned when the caller's role or state does not allow the
// operation.
func Forbidden(msg string) *Error { return &Error{Code: CodeForbidden, Message: msg} }

// NotFound is returned when the target of an operation is unknown or belongs to
// another workspace; the two must look the same.
func NotFound(what string) *Error {
	return &Error{Code: CodeNotFound, Message: what + " not found"}
}

// Invalid is returned when an argument is wrong.
func Invalid(argument, format string, args ...any) *Error {
	return &Error{Code: CodeInvalid, Argument: argument, Message: fmt.Sprintf(format, args...)}
}

// Conflict is returned when an expected version is stale or an
// onlyIfUnowned take was lost.
func Conflict(msg string, currentVersion int64) *Error {
	return &Error{Code: CodeConflict, Message: msg, CurrentVersion: &currentVersion}
}

// Errors a Store returns; the domain turns them into *Error or retries.
var (
	// ErrNotFound: no record with that key in that workspace.
	ErrNotFound = errors.New("not found")
	// ErrVersionConflict: a conditional write's condition no longer held.
	ErrVersionConflict = errors.New("version conflict")
	// ErrDuplicate: an insert hit an existing key.
	ErrDuplicate = errors.New("duplicate key")
	// ErrUnavailable: the store cannot serve the call now, through no fault
	// of the call (unreachable, out of space, an I/O error, a lock held past
	// the timeout, no primary); the same call may succeed later. A store
	// wraps the cause with it, so the log can still say what happened.
	ErrUnavailable = errors.New("store unavailable")
)

// unavailable is what a caller sees of a store that cannot serve the call
// now: a reason to retry, and nothing of the cause.
func unavailable() *Error {
	return &Error{Code: CodeUnavailable, Message: "the store cannot take this now; retry later"}
}
