package server

import (
	"context"
	"errors"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/polecam/polecam/recommender"
)

// toStatus maps an error from the recommender to a gRPC status error. It is
// the only place where domain errors become status codes. The message of a
// caller's mistake is passed on as it is, so that the caller can act on it;
// anything unexpected becomes Internal without details.
func toStatus(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	var code codes.Code
	switch {
	case errors.Is(err, context.Canceled):
		code = codes.Canceled
	case errors.Is(err, context.DeadlineExceeded):
		code = codes.DeadlineExceeded
	case errors.Is(err, recommender.ErrInvalidArgument):
		code = codes.InvalidArgument
	case errors.Is(err, recommender.ErrNotFound):
		code = codes.NotFound
	case errors.Is(err, recommender.ErrUnavailable):
		code = codes.Unavailable
	default:
		return status.Error(codes.Internal, "internal error")
	}
	return status.Error(code, err.Error())
}
