package server

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"

	"google.golang.org/protobuf/types/known/timestamppb"

	polecamv1 "github.com/polecam/polecam/api/polecam/v1"
	"github.com/polecam/polecam/store"
)

// Models is what the admin service needs from the data directory;
// *store.Dir satisfies it.
type Models interface {
	Versions() ([]store.VersionInfo, error)
	Published() (string, error)
	PublishVerified(ctx context.Context, version string, opts store.PublishOptions) (previous string, err error)
	RollbackVerified(ctx context.Context) (store.RollbackResult, error)
	Forget(userID string) error
}

var _ Models = (*store.Dir)(nil)

// errInvalidArgument marks an admin request a caller must fix.
var errInvalidArgument = errors.New("invalid argument")

// modelService implements polecam.v1.ModelService. Authorisation happens
// in the interceptor (see servicePolicy), before any method runs.
type modelService struct {
	polecamv1.UnimplementedModelServiceServer
	models Models
	log    *slog.Logger
}

var _ polecamv1.ModelServiceServer = (*modelService)(nil)

func (s *modelService) ListVersions(ctx context.Context, _ *polecamv1.ListVersionsRequest) (*polecamv1.ListVersionsResponse, error) {
	vs, err := s.models.Versions()
	if err != nil {
		return nil, toStatus(fmt.Errorf("list versions: %w", err))
	}
	out := &polecamv1.ListVersionsResponse{Versions: make([]*polecamv1.ModelVersion, len(vs))}
	for i, v := range vs {
		out.Versions[i] = toModelVersion(v)
	}
	return out, nil
}

func (s *modelService) GetVersion(ctx context.Context, req *polecamv1.GetVersionRequest) (*polecamv1.GetVersionResponse, error) {
	v := req.GetVersion()
	if err := checkVersionArg(v); err != nil {
		return nil, toStatus(err)
	}
	vs, err := s.models.Versions()
	if err != nil {
		return nil, toStatus(fmt.Errorf("list versions: %w", err))
	}
	for _, info := range vs {
		if info.Version == v {
			return &polecamv1.GetVersionResponse{Version: toModelVersion(info)}, nil
		}
	}
	return nil, toStatus(fmt.Errorf("%w: no complete version %s", store.ErrNotFound, v))
}

// Publish verifies the version whole before publishing it (the store's
// publish policy), so one call cannot publish a version that servers will
// refuse at their next start.
func (s *modelService) Publish(ctx context.Context, req *polecamv1.PublishRequest) (*polecamv1.PublishResponse, error) {
	v := req.GetVersion()
	if err := checkVersionArg(v); err != nil {
		return nil, toStatus(err)
	}
	prev, err := s.models.PublishVerified(ctx, v, store.DefaultPublishOptions())
	if err != nil {
		s.log.WarnContext(ctx, "refused a publish through the admin service", "version", v, "err", err)
		return nil, toStatus(err)
	}
	s.log.InfoContext(ctx, "published version through the admin service", "version", v, "previous", prev)
	return &polecamv1.PublishResponse{PublishedVersion: v, PreviousVersion: prev}, nil
}

// Rollback publishes the newest earlier version of the publish history
// that verifies, passing over corrupt or removed ones.
func (s *modelService) Rollback(ctx context.Context, _ *polecamv1.RollbackRequest) (*polecamv1.RollbackResponse, error) {
	r, err := s.models.RollbackVerified(ctx)
	for _, sk := range r.Skipped {
		s.log.WarnContext(ctx, "rollback passed over a version", "version", sk.Version, "err", sk.Err)
	}
	if err != nil {
		return nil, toStatus(err)
	}
	s.log.InfoContext(ctx, "rolled back through the admin service", "version", r.Version, "replaced", r.Replaced, "skipped", len(r.Skipped))
	return &polecamv1.RollbackResponse{PublishedVersion: r.Version}, nil
}

func (s *modelService) ForgetUser(ctx context.Context, req *polecamv1.ForgetUserRequest) (*polecamv1.ForgetUserResponse, error) {
	id := req.GetUserId()
	if id == "" {
		return nil, toStatus(fmt.Errorf("%w: user_id is required", errInvalidArgument))
	}
	if err := s.models.Forget(id); err != nil {
		// The store's message may quote the id: never log it, and return
		// it only to the (authenticated) caller who sent it.
		return nil, toStatus(err)
	}
	s.log.InfoContext(ctx, "forgot user through the admin service", "user_hash", UserHash(id))
	return &polecamv1.ForgetUserResponse{}, nil
}

// UserHash returns the first 12 hex digits of the SHA-256 of a user id:
// enough for an auditor who already knows the id to match a log line to a
// request, without the log holding the id.
func UserHash(userID string) string {
	h := sha256.Sum256([]byte(userID))
	return hex.EncodeToString(h[:6])
}

func checkVersionArg(v string) error {
	if v == "" {
		return fmt.Errorf("%w: version is required", errInvalidArgument)
	}
	if !store.ValidVersion(v) {
		return fmt.Errorf("%w: %q is not a version name (like 20261122T140621.123Z-a1b2c3; see ListVersions)", errInvalidArgument, v)
	}
	return nil
}

func toModelVersion(v store.VersionInfo) *polecamv1.ModelVersion {
	m := v.Manifest
	out := &polecamv1.ModelVersion{
		Version:       v.Version,
		Published:     v.Published,
		FormatVersion: int32(m.FormatVersion),
		CodeVersion:   m.CodeVersion,
		SizeBytes:     v.SizeBytes,
		Counts: &polecamv1.VersionCounts{
			Users:        m.Counts.Users,
			Items:        m.Counts.Items,
			Events:       m.Counts.Events,
			Interactions: m.Counts.Interactions,
			BadLines:     m.Counts.BadLines,
		},
		ParamsJson: string(m.Params),
		Metrics:    m.Metrics,
	}
	if !m.CreatedAt.IsZero() {
		out.CreatedAt = timestamppb.New(m.CreatedAt)
	}
	if !m.Window.From.IsZero() {
		out.WindowFrom = timestamppb.New(m.Window.From)
	}
	if !m.Window.To.IsZero() {
		out.WindowTo = timestamppb.New(m.Window.To)
	}
	for _, s := range m.Sources {
		out.Sources = append(out.Sources, &polecamv1.SourceFile{Path: s.Path, SizeBytes: s.Size, Sha256: s.SHA256})
	}
	for _, f := range m.Files {
		out.Files = append(out.Files, &polecamv1.VersionFile{Name: f.Name, Kind: f.Kind, SizeBytes: f.Size, Crc32C: f.CRC32C})
	}
	return out
}
