package server

import (
	"context"
	"errors"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/polecam/polecam/recommender"
	"github.com/polecam/polecam/store"
)

// toStatus maps an error from the recommender, the store or the admin
// service's own argument checks to a gRPC status error. It is the only
// place where domain errors become status codes. The message of a
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
	case errors.Is(err, recommender.ErrInvalidArgument), errors.Is(err, errInvalidArgument):
		code = codes.InvalidArgument
	case errors.Is(err, recommender.ErrNotFound), errors.Is(err, store.ErrNotFound):
		code = codes.NotFound
	case errors.Is(err, recommender.ErrUnavailable):
		code = codes.Unavailable
	case errors.Is(err, recommender.ErrFailedPrecondition):
		code = codes.FailedPrecondition
	case errors.Is(err, store.ErrNoPublished), errors.Is(err, store.ErrNoPrevious):
		// Nothing published yet, or nothing to roll back to.
		code = codes.FailedPrecondition
	case errors.Is(err, store.ErrPublishedChanged):
		// Someone else published meanwhile: the caller may re-read and retry.
		code = codes.Aborted
	case errors.Is(err, store.ErrCorrupt), errors.Is(err, store.ErrFormat):
		// A damaged version, or one from a newer polecam: not publishable.
		code = codes.FailedPrecondition
	default:
		return status.Error(codes.Internal, "internal error")
	}
	return status.Error(code, err.Error())
}
