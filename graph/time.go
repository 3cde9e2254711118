package graph

import (
	"io"
	"strconv"
	"time"

	"github.com/99designs/gqlgen/graphql"

	"switchboard/domain"
)

// The Time scalar: RFC 3339, UTC, millisecond precision, on the way out and on
// the way in (any offset is accepted and converted to UTC; finer precision is
// truncated).

const timeLayout = "2006-01-02T15:04:05.000Z07:00"

// MarshalTime writes t as RFC 3339 in UTC with milliseconds.
func MarshalTime(t time.Time) graphql.Marshaler {
	return graphql.WriterFunc(func(w io.Writer) {
		_, _ = io.WriteString(w, strconv.Quote(t.UTC().Truncate(time.Millisecond).Format(timeLayout)))
	})
}

// UnmarshalTime reads an RFC 3339 date-time.
func UnmarshalTime(v any) (time.Time, error) {
	s, ok := v.(string)
	if !ok {
		return time.Time{}, domain.Invalid("", "a Time must be an RFC 3339 string such as 2026-01-31T09:30:00.000Z")
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, domain.Invalid("", "a Time must be an RFC 3339 date-time such as 2026-01-31T09:30:00.000Z")
	}
	return t.UTC().Truncate(time.Millisecond), nil
}
