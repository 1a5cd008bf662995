package load

import (
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func errorWithCode(c codes.Code) error { return status.Error(c, "test") }
