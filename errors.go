package siojwt

import "errors"

// Errors of misuse: New, Protect and ProtectPostConnect refuse every
// combination that cannot work with an error that wraps one of these (test
// it with errors.Is) and names the rule.
var (
	// ErrAlreadyProtected: the namespace is already protected, by Protect
	// or ProtectPostConnect. A namespace has one mode and one set of
	// options: protecting it twice would run two flows on each socket (a
	// socket authenticated at the handshake could then authenticate again
	// as another subject).
	ErrAlreadyProtected = errors.New("siojwt: namespace already protected")
	// ErrOptionNotForMode: a namespace option that means nothing in the
	// namespace's mode (NamespaceOptional or NamespaceAuthenticateTimeout
	// with Protect: a handshake-mode socket without a valid token never
	// connects).
	ErrOptionNotForMode = errors.New("siojwt: option does not apply to this mode")
	// ErrConflictingOptions: two options that contradict each other (for
	// example NamespaceOnRefresh with NamespaceNoRefresh, or
	// WithExpiryWarning with WithoutExpiry).
	ErrConflictingOptions = errors.New("siojwt: conflicting options")
	// ErrServerBound: New was already called for this server. One Auth
	// binds one server; protect all its namespaces with that Auth (each
	// may have its own verifier, see NamespaceVerifier).
	ErrServerBound = errors.New("siojwt: server already has an Auth")
	// ErrHandlerBeforeProtect: with connection-state recovery on, the
	// namespace already had a "connection" handler when it was protected.
	// A socket restored by recovery skips the middlewares, so the binding
	// re-checks its token in its own "connection" handler: one registered
	// before it would see the socket before that check.
	ErrHandlerBeforeProtect = errors.New("siojwt: connection handler registered before Protect")
	// ErrOtherServer: the namespace belongs to another server than the one
	// the Auth was made for (New binds one server): its connections would
	// all be refused.
	ErrOtherServer = errors.New("siojwt: namespace of another server")
	// ErrSocketsConnected: the namespace (or a child of the dynamic
	// namespace) already has connected sockets. They connected without a
	// check, and protecting the namespace would not make them
	// authenticate: protect namespaces before the server serves.
	ErrSocketsConnected = errors.New("siojwt: namespace already has connected sockets")
	// ErrAdapterReplaced: SetAdapter was called on the server after New,
	// so the adapter that keeps unauthenticated sockets out of broadcasts
	// is gone (such a namespace would refuse every connection). Call New
	// after SetAdapter.
	ErrAdapterReplaced = errors.New("siojwt: server adapter replaced after New")
	// ErrClosed: the Auth was closed.
	ErrClosed = errors.New("siojwt: Auth closed")
)
