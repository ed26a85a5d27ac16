package providers

import (
	"errors"
	"fmt"
)

// Error classes. Providers wrap one of these so that controllers and metrics
// classify failures with errors.Is and never parse messages.
var (
	// ErrNotFound: the secret, version or property does not exist.
	ErrNotFound = errors.New("not found")
	// ErrForbidden: the credentials were refused or lack permission.
	ErrForbidden = errors.New("forbidden")
	// ErrThrottled: the backend asked the caller to slow down.
	ErrThrottled = errors.New("throttled")
	// ErrUnavailable: the backend could not be reached or failed on its side.
	ErrUnavailable = errors.New("unavailable")
	// ErrInvalid: the store configuration or request can never work as written.
	ErrInvalid = errors.New("invalid")
	// ErrTooMany: a find matched more keys, or listed more entries, than allowed.
	ErrTooMany = fmt.Errorf("%w: too many keys", ErrInvalid)
)

// Class is a stable name for an error class, used as a metric label and a
// condition reason. It never contains anything from the error message.
type Class string

// The classes, in the order Classify checks them.
const (
	ClassNotFound    Class = "NotFound"
	ClassForbidden   Class = "Forbidden"
	ClassThrottled   Class = "Throttled"
	ClassUnavailable Class = "Unavailable"
	ClassInvalid     Class = "Invalid"
	ClassOther       Class = "Error"
)

// Classify returns the class of err.
func Classify(err error) Class {
	switch {
	case errors.Is(err, ErrNotFound):
		return ClassNotFound
	case errors.Is(err, ErrForbidden):
		return ClassForbidden
	case errors.Is(err, ErrThrottled):
		return ClassThrottled
	case errors.Is(err, ErrUnavailable):
		return ClassUnavailable
	case errors.Is(err, ErrInvalid):
		return ClassInvalid
	default:
		return ClassOther
	}
}

// Errorf wraps class with a message: Errorf(ErrNotFound, "key %q", k).
// The message must not contain secret values.
func Errorf(class error, format string, args ...any) error {
	return fmt.Errorf("%w: %s", class, fmt.Sprintf(format, args...))
}
