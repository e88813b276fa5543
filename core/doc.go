// Package core turns what a Socket.IO client presented when it connected
// into verified JWT claims, with the rules, messages and error codes of the
// npm packages socketio-jwt and jsonwebtoken. It knows nothing of any
// Socket.IO server: the binding in the module's root package converts the
// server library's handshake into a [Handshake] and sends an [Error]'s
// [Error.Data] to the client. Use core directly to verify tokens elsewhere
// (an HTTP endpoint, a test) with the same rules.
//
// # Use
//
// Build one [Verifier] with [New] and share it; it is safe for concurrent
// use. Exactly one key option is required: [WithSecret] (HS256/384/512),
// [WithPublicKey] or [WithPublicKeyPEM] (RS*, PS*, ES*, EdDSA), or
// [WithKeyFunc] / [WithKeySource] to choose the key per token (a tenant's
// secret, a JWKS key set). The allowed algorithms follow from the key
// unless [WithAlgorithms] narrows them; "none" is never allowed.
//
//	v, err := core.New(core.WithSecret(secret), core.WithAudience("api"))
//	res, err := v.Authenticate(ctx, hs)    // find the token, then verify it
//	res, err := v.Verify(ctx, token, nil)  // a token from anywhere else
//
// [Verifier.Authenticate] is [Verifier.Extract] then [Verifier.Verify]. A
// [Result] holds the raw token (a secret: never log it) and its [Claims]:
// the registered claims as typed fields, and the whole payload through
// [Claims.Get], [Claims.Map], [Claims.Decode] and [DecodeClaims].
//
// # Token sources and their order
//
// [Verifier.Extract] looks for the token as socketio-jwt does, the first
// source that has one winning:
//
//  1. the handshake payload's "token" (io(url, {auth: {token}})), with or
//     without a "Bearer " prefix; a value that is not a string is returned
//     as is, and Verify refuses it with "jwt must be a string";
//  2. the "token" query parameter (query strings end up in access logs:
//     prefer the payload);
//  3. the Authorization header's bearer token;
//  4. the cookie named by [WithCookie], off by default.
//
// An Authorization header that is present but not of the form "<scheme>
// <value>" is refused with credentials_bad_format when no source before it
// (payload, query) carried a token; socketio-jwt refuses it before reading
// any source, so a valid payload or query token next to such a header is
// refused there and accepted here. A header with another scheme (Basic
// ...) is ignored. [WithAuthHeaderRequired] accepts the header's bearer token only.
// [WithoutAuthPayload], [WithoutQuery] and [WithoutHeader] turn a source
// off. No token in any enabled source is credentials_required.
//
// # Verification steps
//
// [Verifier.Verify] runs these steps in this order; the first failure is
// the answer (its message in the table below).
//
//  1. Shape: a string, not empty, at most [WithMaxTokenSize] bytes
//     ([DefaultMaxTokenSize] by default), with exactly two dots.
//  2. Header: canonical base64url without padding or line breaks (a token
//     has one spelling, so one fingerprint), a JSON object, and no "crit"
//     member (RFC 7515 §4.1.11: no extension is implemented).
//  3. Payload: canonical base64url, a JSON object; the registered claims
//     are read in one pass.
//  4. Algorithm: the header's "alg" is a known one, and a signature is
//     present.
//  5. Key: the static key, or the key function's answer within
//     [WithKeyTimeout] (its failure, timeout or panic is invalid_secret,
//     unless it returns an *Error of its own).
//  6. The algorithm is allowed and fits the key's type (an RSA key never
//     verifies an HS256 token), then the signature is checked.
//  7. The claim rules, in jsonwebtoken's order: nbf, exp (with
//     [WithClockTolerance]; [WithRequiredExpiry] requires it), aud, iss,
//     sub, jti, max age. An exp or nbf that is not a number, and an exp,
//     nbf or iat further than [MaxNumericDate] from 1970, are refused.
//  8. The claims transform ([WithClaimsTransform]), then the checks
//     ([WithCheck]) in order.
//
// With [WithVerifiedCache], a token seen before (byte for byte) skips the
// decoding and the signature check while the key that verified it is still
// the one in force; steps 7 and 8 run on every use. [Verifier.VerifyClaims] runs the time rules of
// step 7 again, for a connection that lives on.
//
// # Errors
//
// Every failure is an *[Error]. Its Code and Message are public: they are
// what the client receives as {message, code, type: "UnauthorizedError"}
// ([Error.Data]), with jsonwebtoken's wording. Its Err is the internal
// cause (a key server's answer, a database error): it reaches logs and
// hooks, never the client. Go code classifies a failure with errors.Is and
// a sentinel, or with its [Kind] (a small fixed set, for metric labels and
// log fields), never by its message:
//
//	if errors.Is(err, core.ErrTokenExpired) { ... }
//	metric.WithLabelValues(string(core.KindOf(err))).Inc()
//
// Where golang-jwt has a sentinel for the same failure, core's is that
// very value (core.ErrTokenExpired == jwt.ErrTokenExpired), and every
// failure of the claim rules also matches [ErrTokenInvalidClaims], as in
// golang-jwt. An Error built by [NewError] gets the sentinel found in its
// cause's chain, else the one its code and message have below.
//
//	code                          message                                  sentinel                      kind
//	credentials_bad_format        Format is Authorization: Bearer [token]  ErrCredentialsBadFormat       credentials_bad_format
//	missing_authorization_header  Server requires Authorization Header     ErrCredentialsRequired        credentials_required
//	credentials_required          no token provided                        ErrCredentialsRequired        credentials_required
//	invalid_token                 jwt must be provided                     ErrTokenMalformed             malformed
//	                              jwt must be a string
//	                              jwt malformed
//	                              invalid token
//	                              invalid exp value
//	                              invalid nbf value
//	                              invalid token datatype (binding)
//	invalid_token                 jwt too large                            ErrTokenTooLarge              too_large
//	invalid_token                 jwt signature is required                ErrTokenSignatureInvalid      signature
//	                              invalid algorithm
//	                              invalid signature
//	invalid_token                 jwt expired                              ErrTokenExpired               expired
//	                              maxAge exceeded
//	invalid_token                 jwt not active                           ErrTokenNotValidYet           not_valid_yet
//	invalid_token                 jwt exp required                         ErrTokenRequiredClaimMissing  claims
//	                              iat required when maxAge is specified
//	invalid_token                 jwt audience invalid. expected: ...      ErrTokenInvalidAudience       claims
//	invalid_token                 jwt issuer invalid. expected: ...        ErrTokenInvalidIssuer         claims
//	invalid_token                 jwt subject invalid. expected: ...       ErrTokenInvalidSubject        claims
//	invalid_token                 jwt jwtid invalid. expected: ...         ErrTokenInvalidID             claims
//	invalid_token                 jwt revoked (binding)                    ErrTokenRevoked               revoked
//	invalid_secret                secret or public key could not be        ErrKeyUnavailable             key_unavailable
//	                              obtained
//	                              signing key not found (jwks)
//	keyset_unavailable            signing keys unavailable, retry later    ErrKeyUnavailable             key_unavailable
//	rate_limited                  too many ..., retry later (binding)      ErrRateLimited                rate_limited
//	unknown                       authentication rejected                  ErrRejected                   rejected
//	the application's own code    the application's own                    ErrRejected                   rejected
//	invalid_token                 a check's own message                    ErrRejected                   rejected
//	internal_error                internal error                           ErrInternal                   internal
//	                              revocation check failed (binding)
//
// A check or key function that returns an *Error chooses its code and
// message; to give it a sentinel other than ErrRejected, wrap one in its
// cause: core.NewError(core.CodeInvalidToken, "session ended",
// core.ErrTokenRevoked).
package core
