// Package server is polecam's gRPC layer: it translates
// polecam.v1.RecommendationService calls into recommender requests and
// recommender results and errors back into protobuf messages and status
// codes, serves the operator's polecam.v1.ModelService (list, get,
// publish, roll back, forget) over a data directory, and wires up
// everything an operator expects of a gRPC service — the standard health
// service (NOT_SERVING until a model is loaded), server reflection (so
// grpcurl works), structured request logging and panic recovery from
// go-grpc-middleware, and Prometheus metrics.
//
// The layer is deliberately thin: it holds no model state. Every mapping
// from a domain error to a gRPC status code lives in one function, toStatus.
// Each RPC (Recommend, SimilarItems, RecommendForBasket, Rank, Trending)
// translates its request, filter included, and calls the serving core;
// BatchRecommend answers a stream's entries in order, in groups of the
// entries that have already arrived (up to maxBatchGroup, each group one
// RecommendBatch call that shares a catalogue scan), GOMAXPROCS groups at
// a time, reading a bounded number of entries ahead of the answers it has
// sent (so the client's flow control bounds the server's memory), and
// answers a bad entry in-band with the status a unary call would have got.
//
// # Authorisation
//
// One interceptor applies a per-service policy (servicePolicy) to every
// unary and streaming call before the handler runs. Today:
//
//	polecam.v1.RecommendationService   open
//	grpc.health.v1.Health              open
//	grpc.reflection.v1(alpha)          open
//	polecam.v1.ModelService            admin bearer token
//
// A service without a policy is refused, so a new service stays closed
// until its policy is written down. The admin token (Options.AdminToken)
// is sent as the metadata "authorization: Bearer <token>" and compared in
// constant time (SHA-256 of both sides, then subtle.ConstantTimeCompare).
// A missing or wrong token is Unauthenticated; a server configured without
// a token answers every ModelService call with PermissionDenied and says
// how to configure one.
//
// # Limits
//
// A second interceptor checks every request message, unary or streamed,
// before its handler: string fields at most MaxIDLen (1 KiB), repeated
// and map fields at most MaxListLen (10,000) entries, or InvalidArgument
// naming the field; this is the one place request sizes are bounded, and
// it covers an RPC as soon as the RPC exists. The transport is bounded by
// Options: message size, streams per connection, connections at once,
// idle connections, keepalive enforcement (limits.go).
//
// # What is logged
//
// A finished call is logged with its service, method, code and duration:
// at debug level when it succeeded, at info for a caller's mistake, above
// for the server's. Request and response payloads (user and item ids) are
// never logged, and neither is the client's address, which the logging
// middleware adds by default and this package drops: an IP address is
// personal data, and nothing a request log is used for needs it. Forgetting
// a user is logged for audit with a 12-hex-digit prefix of the SHA-256 of
// the id (UserHash), never the id.
package server
