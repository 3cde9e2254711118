package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"runtime/debug"
	"strings"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"switchboard/domain"
)

// presentError gives every error a client sees an `extensions.code`. Domain
// errors carry their own code and words; errors the GraphQL layer made
// (parse, validation, complexity) keep theirs; anything else is logged and
// shown as INTERNAL, without detail.
//
// Without suggestions (callers who may not introspect), the validator's
// "Did you mean ...?" hints are cut: gqlgen turns off only some of them, and
// any of them reveals names of the schema.
func presentError(log *slog.Logger, withoutSuggestions bool) graphql.ErrorPresenterFunc {
	return func(ctx context.Context, err error) *gqlerror.Error {
		gqlErr := graphql.DefaultErrorPresenter(ctx, err)
		if withoutSuggestions && gqlErr.Err == nil && strings.Contains(gqlErr.Message, "Did you mean") {
			gqlErr.Message = suggestion.ReplaceAllString(gqlErr.Message, "")
		}
		var de *domain.Error
		if errors.As(err, &de) {
			out := &gqlerror.Error{Message: de.Message, Path: gqlErr.Path, Locations: gqlErr.Locations}
			out.Extensions = codeExtensions(de, inputPath(ctx, gqlErr.Path))
			return out
		}
		if gqlErr.Err == nil {
			if _, ok := gqlErr.Extensions["code"]; ok {
				return gqlErr
			}
		}
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return &gqlerror.Error{
				Message: "the request was cancelled or timed out", Path: gqlErr.Path,
				Extensions: map[string]any{"code": string(domain.CodeInternal)},
			}
		}
		log.ErrorContext(ctx, "internal error", "err", err, "path", gqlErr.Path.String())
		return &gqlerror.Error{
			Message: "internal error", Path: gqlErr.Path, Locations: gqlErr.Locations,
			Extensions: map[string]any{"code": string(domain.CodeInternal)},
		}
	}
}

func codeExtensions(e *domain.Error, inputPath string) map[string]any {
	ext := map[string]any{"code": string(e.Code)}
	if e.Argument != "" {
		ext["argument"] = e.Argument
	} else if e.Code == domain.CodeInvalid && inputPath != "" {
		ext["argument"] = inputPath
	}
	if e.CurrentVersion != nil {
		ext["currentVersion"] = *e.CurrentVersion
	}
	return ext
}

// inputPath names the argument of an error raised while reading a field's
// arguments (a scalar that does not parse): gqlgen appends the input path,
// e.g. input.boomerangAt, to the field's path.
func inputPath(ctx context.Context, path ast.Path) string {
	fc := graphql.GetFieldContext(ctx)
	if fc == nil {
		return ""
	}
	field := fc.Path()
	if len(path) <= len(field) {
		return ""
	}
	return strings.TrimPrefix(path[len(field):].String(), ".")
}

// suggestion matches the validator's hints, e.g. ` Did you mean "ownerId"?`.
var suggestion = regexp.MustCompile(`\s*Did you mean [^?]*\?`)

// recoverPanic logs a resolver's panic with its stack and answers INTERNAL.
func recoverPanic(log *slog.Logger) graphql.RecoverFunc {
	return func(ctx context.Context, p any) error {
		log.ErrorContext(ctx, "panic in resolver", "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
		return &domain.Error{Code: domain.CodeInternal, Message: "internal error"}
	}
}

// requestError is a GraphQL error answered before execution.
func requestError(code, msg string) *gqlerror.Error {
	return &gqlerror.Error{Message: msg, Extensions: map[string]any{"code": code}}
}
