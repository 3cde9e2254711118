package server

import (
	"context"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/errcode"
	"github.com/99designs/gqlgen/graphql/executor"
	"github.com/99designs/gqlgen/graphql/handler/lru"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
	"github.com/vektah/gqlparser/v2/parser"
	"github.com/vektah/gqlparser/v2/validator"
	"github.com/vektah/gqlparser/v2/validator/rules"

	"switchboard/dataloader"
	"switchboard/domain"
)

// guardedExecutor is gqlgen's executor behind the document limits. It
// parses a document once, measures it (checkDocument) before the validator
// sees it, validates it, and only then hands it on through the executor's
// query cache, so the executor neither parses nor validates it again. It
// stops between steps when the operation's context has ended, and caps a
// document's errors before they are presented (each costs its
// presentation, and a document can provoke thousands).
type guardedExecutor struct {
	*executor.Executor
	schema      graphql.ExecutableSchema
	cache       graphql.Cache[*ast.QueryDocument]
	limits      Limits
	suggestions bool
	gate        *costGate
	persisted   *persistedDocuments
}

func (s *Server) newExecutor(schema graphql.ExecutableSchema, suggestions bool) guardedExecutor {
	e := executor.New(schema)
	cache := lru.New[*ast.QueryDocument](1000)
	e.SetQueryCache(cache)
	e.SetParserTokenLimit(s.limits.MaxTokens)
	e.SetDisableSuggestion(!suggestions)
	e.SetErrorPresenter(presentError(s.log, !suggestions))
	e.SetRecoverFunc(recoverPanic(s.log))
	e.Use(introspectionPolicy{mode: s.introspection})
	e.Use(depthLimit{max: s.limits.MaxDepth})
	e.Use(newComplexityLimit(s.limits.MaxComplexity, schema, !s.dev))
	// Loaders live for one operation: a socket's operations must not share a
	// cache for hours.
	e.AroundOperations(func(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
		a, _ := domain.ActorFromContext(ctx)
		return s.observeOperation(ctx, func(ctx context.Context) graphql.ResponseHandler {
			return next(dataloader.With(ctx, dataloader.New(s.svc, a.WorkspaceID)))
		})
	})
	// An operation whose context ended (client gone, deadline passed) stops
	// resolving: each resolver that would run fails at once instead.
	e.AroundFields(func(ctx context.Context, next graphql.Resolver) (any, error) {
		if fc := graphql.GetFieldContext(ctx); fc != nil && (fc.IsResolver || fc.IsMethod) && ctx.Err() != nil {
			return nil, operationEnded()
		}
		return next(ctx)
	})
	e.AroundResponses(func(ctx context.Context, next graphql.ResponseHandler) *graphql.Response {
		resp := next(ctx)
		if resp != nil {
			resp.Errors = capErrors(resp.Errors, s.limits.MaxErrors)
		}
		// A document refused before it ran is answered here only.
		s.observeRefused(ctx, resp)
		return resp
	})
	return guardedExecutor{Executor: e, schema: schema, cache: cache, limits: s.limits, suggestions: suggestions, gate: s.gate, persisted: s.persisted}
}

// CreateOperationContext prepares an operation: parsed, measured and
// validated here once, then the executor's own steps on the cached
// document (operation, variables, the complexity and depth limits).
func (e guardedExecutor) CreateOperationContext(ctx context.Context, params *graphql.RawParams) (*graphql.OperationContext, gqlerror.List) {
	failed := func(errs gqlerror.List) (*graphql.OperationContext, gqlerror.List) {
		return &graphql.OperationContext{RawQuery: params.Query, OperationName: params.OperationName}, errs
	}
	register, err := e.persisted.resolve(ctx, params)
	if err != nil {
		return failed(gqlerror.List{err})
	}
	if errs := e.prepare(ctx, params.Query); errs != nil {
		return failed(errs)
	}
	if register != "" {
		e.persisted.cache.add(register, params.Query)
	}
	return e.Executor.CreateOperationContext(ctx, params)
}

// prepare puts the document in the cache, or returns why it cannot be.
func (e guardedExecutor) prepare(ctx context.Context, query string) gqlerror.List {
	if ctx.Err() != nil {
		return gqlerror.List{operationEnded()}
	}
	if _, ok := e.cache.Get(ctx, query); ok {
		return nil
	}
	release, err := e.gate.enter(ctx, callerKey(ctx))
	if err != nil {
		return gqlerror.List{operationEnded()}
	}
	defer release()
	doc, err := parser.ParseQueryWithTokenLimit(&ast.Source{Input: query}, e.limits.MaxTokens)
	if err != nil {
		gqlErr, ok := err.(*gqlerror.Error)
		if !ok {
			gqlErr = gqlerror.Errorf("%s", err)
		}
		errcode.Set(gqlErr, errcode.ParseFailed)
		return gqlerror.List{gqlErr}
	}
	if ctx.Err() != nil {
		return gqlerror.List{operationEnded()}
	}
	if err := checkDocument(doc, e.limits); err != nil {
		return gqlerror.List{err}
	}
	if len(doc.Operations) == 0 {
		err := gqlerror.Errorf("no operation provided")
		errcode.Set(err, errcode.ValidationFailed)
		return gqlerror.List{err}
	}
	errs := validator.ValidateWithRules(e.schema.Schema(), doc, e.rules())
	if len(errs) > 0 {
		for _, err := range errs {
			errcode.Set(err, errcode.ValidationFailed)
		}
		return errs
	}
	e.cache.Add(ctx, query, doc)
	return nil
}

// rules are the validator's rules as the executor would pick them: the
// ones that suggest names only for callers who may introspect.
func (e guardedExecutor) rules() *rules.Rules {
	r := rules.NewDefaultRules()
	if e.suggestions {
		return r
	}
	r.RemoveRule("FieldsOnCorrectType")
	r.AddRule(rules.FieldsOnCorrectTypeRuleWithoutSuggestions.Name, rules.FieldsOnCorrectTypeRuleWithoutSuggestions.RuleFunc)
	r.RemoveRule("ScalarLeafs")
	r.AddRule(rules.ScalarLeafsRuleWithoutSuggestions.Name, rules.ScalarLeafsRuleWithoutSuggestions.RuleFunc)
	return r
}

// DispatchError presents at most MaxErrors of a document's errors.
func (e guardedExecutor) DispatchError(ctx context.Context, list gqlerror.List) *graphql.Response {
	return e.Executor.DispatchError(ctx, capErrors(list, e.limits.MaxErrors))
}
