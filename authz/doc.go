// Package authz decides what an authenticated socket may do, from the grants
// its token already carries.
//
// Identity providers put grants in the access token: OAuth's "scope" (a
// space-separated string, RFC 6749 §3.3 and RFC 8693 §4.2), "scp" (Azure,
// Okta: a string or a list), "permissions" (Auth0 RBAC), "roles" (RFC 9068,
// Azure), and Keycloak's "realm_access.roles" and
// "resource_access.<client>.roles". An [Extractor] reads them into [Grants]:
// a set of grant names, plus the room names and room patterns of a "rooms"
// claim. A [Policy] groups the rules of one namespace: the grants needed to
// connect, the grants each event needs, whether events no rule names are
// refused, and which rooms may be joined. Its checks ([Policy.CheckNamespace],
// [Policy.CheckEvent], [Policy.CheckRoom]) are pure functions of the grants
// that return nil or a [*Refusal], which carries the wire object
// {message: "insufficient scope: …", code: "insufficient_scope",
// type: "UnauthorizedError"} (RFC 6750 §3.1).
//
// The package does not depend on the Socket.IO server: the binding extracts
// the grants once per token (at authentication and at every refresh) and
// calls the checks per namespace, event and room join.
//
// # Bad input
//
// A grants claim of the wrong type (a number for "scope", an object for
// "roles", a list holding anything but strings) grants nothing, and neither
// does a claim over the bounds: more than [MaxGrants] entries, an entry
// longer than [MaxGrantLen] bytes, or a space-separated string longer than
// [MaxScopeLen] bytes. When the union of all claims exceeds [MaxGrants]
// grants, the token grants nothing but rooms; when it exceeds [MaxGrants]
// room patterns, it grants no room. A function of the configuration that
// panics grants nothing, and a rule whose function panics refuses
// ([ErrPanic]). Extraction reports what it ignored as an error wrapping
// [ErrInvalidClaim], [ErrTooManyGrants] or [ErrPanic], for logs; it never
// panics and never turns bad input into a grant.
//
// # Cost
//
// Grants are extracted once per token. A check allocates nothing when it
// allows: an event check is one map lookup for the event's rule and one
// set lookup per grant the rule names. A refusal allocates one [*Refusal].
//
// # Concurrency
//
// Extractor, Policy, Rule and Grants are immutable once built and safe for
// concurrent use.
package authz
