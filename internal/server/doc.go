// Package server is polecam's gRPC layer: it translates
// polecam.v1.RecommendationService calls into recommender requests and
// recommender results and errors back into protobuf messages and status
// codes, and wires up everything an operator expects of a gRPC service —
// the standard health service (NOT_SERVING until a model is loaded),
// server reflection (so grpcurl works), structured request logging and
// panic recovery from go-grpc-middleware, and Prometheus metrics.
//
// The layer is deliberately thin: it holds no model state. Every mapping
// from a domain error to a gRPC status code lives in one function, toStatus.
package server
