package server

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/polecam/polecam/recommender"
	"github.com/polecam/polecam/store"
)

func TestToStatus(t *testing.T) {
	tests := []struct {
		name    string
		err     error
		code    codes.Code
		message string
	}{
		{"nil", nil, codes.OK, ""},
		{"invalid", fmt.Errorf("%w: n must be between 1 and 1000, got 0", recommender.ErrInvalidArgument), codes.InvalidArgument, "invalid argument: n must be between 1 and 1000, got 0"},
		{"not found", fmt.Errorf("%w: item %q is not in the model", recommender.ErrNotFound, "sku-1"), codes.NotFound, `not found: item "sku-1" is not in the model`},
		{"unavailable", recommender.ErrUnavailable, codes.Unavailable, recommender.ErrUnavailable.Error()},
		{"canceled", fmt.Errorf("score: %w", context.Canceled), codes.Canceled, "score: context canceled"},
		{"deadline", context.DeadlineExceeded, codes.DeadlineExceeded, "context deadline exceeded"},
		{"status passes through", status.Error(codes.ResourceExhausted, "slow down"), codes.ResourceExhausted, "slow down"},
		{"admin invalid", fmt.Errorf("%w: version is required", errInvalidArgument), codes.InvalidArgument, "invalid argument: version is required"},
		{"store not found", fmt.Errorf("publish 20261122T140621.123Z-a1b2c3: %w", store.ErrNotFound), codes.NotFound, "publish 20261122T140621.123Z-a1b2c3: not found"},
		{"nothing published", fmt.Errorf("rollback: %w", store.ErrNoPublished), codes.FailedPrecondition, "rollback: no published version"},
		{"nothing to roll back to", fmt.Errorf("rollback: %w", store.ErrNoPrevious), codes.FailedPrecondition, "rollback: " + store.ErrNoPrevious.Error()},
		{"corrupt version", fmt.Errorf("publish v: %w: items.vec crc mismatch", store.ErrCorrupt), codes.FailedPrecondition, "publish v: corrupt snapshot: items.vec crc mismatch"},
		{"newer format", fmt.Errorf("open v: %w: format 9", store.ErrFormat), codes.FailedPrecondition, "open v: unsupported format: format 9"},
		{"published changed", fmt.Errorf("publish v: %w: expected a, found b", store.ErrPublishedChanged), codes.Aborted, "publish v: published version changed meanwhile: expected a, found b"},
		{"unexpected hides details", errors.New("read /var/lib/polecam/x: input/output error"), codes.Internal, "internal error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := status.Convert(toStatus(tt.err))
			if got.Code() != tt.code || got.Message() != tt.message {
				t.Errorf("toStatus(%v) = %v %q, want %v %q", tt.err, got.Code(), got.Message(), tt.code, tt.message)
			}
		})
	}
}
