package server

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	reflectionalphapb "google.golang.org/grpc/reflection/grpc_reflection_v1alpha"
	"google.golang.org/grpc/status"

	polecamv1 "github.com/polecam/polecam/api/polecam/v1"
)

// access is what a caller must present to use a service.
type access int

const (
	// accessOpen: anyone who can reach the port.
	accessOpen access = iota
	// accessAdmin: the admin bearer token.
	accessAdmin
)

// servicePolicy says who may call each service, by full service name. A
// service not listed here is refused, so a service registered later is
// closed until someone decides its policy. Per-caller authentication of
// the recommendation service will add an access level here.
var servicePolicy = map[string]access{
	polecamv1.RecommendationService_ServiceDesc.ServiceName:    accessOpen,
	healthpb.Health_ServiceDesc.ServiceName:                    accessOpen,
	reflectionpb.ServerReflection_ServiceDesc.ServiceName:      accessOpen,
	reflectionalphapb.ServerReflection_ServiceDesc.ServiceName: accessOpen,
	polecamv1.ModelService_ServiceDesc.ServiceName:             accessAdmin,
}

// authorizer enforces servicePolicy on every call.
type authorizer struct {
	policy map[string]access
	// adminHash is the SHA-256 of the admin token; comparing hashes keeps
	// the comparison constant-time regardless of the token's length.
	adminHash [sha256.Size]byte
	hasAdmin  bool
}

func newAuthorizer(adminToken string) *authorizer {
	a := &authorizer{policy: servicePolicy}
	if adminToken != "" {
		a.adminHash = sha256.Sum256([]byte(adminToken))
		a.hasAdmin = true
	}
	return a
}

// errAdminDisabled tells the caller how the operator enables the service.
var errAdminDisabled = status.Error(codes.PermissionDenied,
	"the admin service is disabled on this server: start polecam serve with --admin-token-file FILE or the POLECAM_ADMIN_TOKEN environment variable")

// authorize checks that the caller may call fullMethod
// ("/package.Service/Method").
func (a *authorizer) authorize(ctx context.Context, fullMethod string) error {
	svc := serviceOf(fullMethod)
	acc, ok := a.policy[svc]
	if !ok {
		return status.Errorf(codes.PermissionDenied, "no access policy for service %q", svc)
	}
	switch acc {
	case accessOpen:
		return nil
	case accessAdmin:
		if !a.hasAdmin {
			return errAdminDisabled
		}
		tok, ok := bearerToken(ctx)
		if !ok {
			return status.Error(codes.Unauthenticated, "missing admin token: send the metadata \"authorization: Bearer <token>\"")
		}
		h := sha256.Sum256([]byte(tok))
		if subtle.ConstantTimeCompare(h[:], a.adminHash[:]) != 1 {
			return status.Error(codes.Unauthenticated, "invalid admin token")
		}
		return nil
	default:
		return status.Errorf(codes.PermissionDenied, "no access policy for service %q", svc)
	}
}

// serviceOf returns the service part of a full method name.
func serviceOf(fullMethod string) string {
	s := strings.TrimPrefix(fullMethod, "/")
	if i := strings.LastIndexByte(s, '/'); i >= 0 {
		return s[:i]
	}
	return s
}

// bearerToken returns the token of the first "authorization: Bearer ..."
// metadata value.
func bearerToken(ctx context.Context) (string, bool) {
	md, ok := metadata.FromIncomingContext(ctx)
	if !ok {
		return "", false
	}
	for _, v := range md.Get("authorization") {
		scheme, tok, ok := strings.Cut(strings.TrimSpace(v), " ")
		if ok && strings.EqualFold(scheme, "bearer") {
			if tok = strings.TrimSpace(tok); tok != "" {
				return tok, true
			}
		}
	}
	return "", false
}

func (a *authorizer) unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if err := a.authorize(ctx, info.FullMethod); err != nil {
		return nil, err
	}
	return handler(ctx, req)
}

func (a *authorizer) stream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	if err := a.authorize(ss.Context(), info.FullMethod); err != nil {
		return err
	}
	return handler(srv, ss)
}
