package server

import (
	"context"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/netutil"
	"google.golang.org/grpc"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// Limits.
//
// Every request any caller can send is bounded, so that no caller can
// grow the server's memory: an id is at most MaxIDLen bytes (the longest
// id an event log may carry, so no model knows a longer one), a list (ids
// to exclude, candidates to rank, filter values) at most MaxListLen
// entries, and a message at most Options.MaxRecvMsgSize bytes. A request
// over a limit is refused with INVALID_ARGUMENT naming the field before
// it reaches a handler (checkRequest walks every string and repeated
// field of every request message, of every RPC, streamed or not, so a new
// RPC is covered as soon as it exists). The connections are bounded too:
// at most Options.MaxConnections at once (further ones wait in the
// kernel's accept queue), Options.MaxConcurrentStreams requests in flight
// on each, idle connections closed after Options.MaxConnectionIdle, and
// clients that ping more often than every keepaliveMinTime disconnected.
const (
	// MaxIDLen is the longest string field of a request, in bytes: an id,
	// a page token, a filter value. It is eventlog.MaxIDLen, the limit of
	// the ids training accepts.
	MaxIDLen = 1 << 10
	// MaxListLen is the most entries a repeated field of a request may
	// hold: exclude lists, candidate lists, filter values.
	MaxListLen = 10_000
)

// Transport defaults.
const (
	// defaultMaxRecvMsgSize holds a full exclude list of 10,000 ids of 64
	// bytes with room to spare; the gRPC default is 4 MiB.
	defaultMaxRecvMsgSize   = 1 << 20
	defaultMaxStreams       = 256
	defaultMaxConnections   = 2048
	defaultMaxConnIdle      = 5 * time.Minute
	keepaliveMinTime        = 10 * time.Second
	keepaliveTime           = time.Minute
	keepaliveTimeout        = 20 * time.Second
	transportBufferSize     = 16 << 10 // per connection and direction; the gRPC default is 32 KiB
	maxLimitsMaxConnections = 1 << 20
)

// transportOptions returns the gRPC server options that bound its
// connections.
func transportOptions(o Options) []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.MaxRecvMsgSize(o.MaxRecvMsgSize),
		grpc.MaxConcurrentStreams(uint32(o.MaxConcurrentStreams)),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: keepaliveMinTime, PermitWithoutStream: true}),
		grpc.KeepaliveParams(keepalive.ServerParameters{
			MaxConnectionIdle: o.MaxConnectionIdle,
			Time:              keepaliveTime,
			Timeout:           keepaliveTimeout,
		}),
		grpc.ReadBufferSize(transportBufferSize),
		grpc.WriteBufferSize(transportBufferSize),
		// Idle connections give their write buffer back.
		grpc.SharedWriteBuffer(true),
	}
}

// limitListener caps the connections lis accepts at once at max.
func limitListener(lis net.Listener, max int) net.Listener {
	return netutil.LimitListener(lis, max)
}

// checkRequest returns an errInvalidArgument error when a string field of
// m, at any depth, is longer than MaxIDLen or a repeated or map field
// holds more than MaxListLen entries.
func checkRequest(m proto.Message) error {
	return checkMessage(m.ProtoReflect(), "")
}

func checkMessage(m protoreflect.Message, prefix string) error {
	var err error
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		name := prefix + string(fd.Name())
		switch {
		case fd.IsList():
			l := v.List()
			if l.Len() > MaxListLen {
				err = fmt.Errorf("%w: %s has %d entries, at most %d are allowed", errInvalidArgument, name, l.Len(), MaxListLen)
				return false
			}
			for i := range l.Len() {
				if err = checkValue(fd, l.Get(i), fmt.Sprintf("%s[%d]", name, i)); err != nil {
					return false
				}
			}
		case fd.IsMap():
			mp := v.Map()
			if mp.Len() > MaxListLen {
				err = fmt.Errorf("%w: %s has %d entries, at most %d are allowed", errInvalidArgument, name, mp.Len(), MaxListLen)
				return false
			}
			mp.Range(func(k protoreflect.MapKey, mv protoreflect.Value) bool {
				if s := k.String(); len(s) > MaxIDLen {
					err = fmt.Errorf("%w: a key of %s is %d bytes long, at most %d are allowed", errInvalidArgument, name, len(s), MaxIDLen)
					return false
				}
				err = checkValue(fd.MapValue(), mv, name+"[…]")
				return err == nil
			})
			if err != nil {
				return false
			}
		default:
			err = checkValue(fd, v, name)
		}
		return err == nil
	})
	return err
}

// checkValue checks one value of field fd (an element, for a list).
func checkValue(fd protoreflect.FieldDescriptor, v protoreflect.Value, name string) error {
	switch fd.Kind() {
	case protoreflect.StringKind:
		if n := len(v.String()); n > MaxIDLen {
			return fmt.Errorf("%w: %s is %d bytes long, at most %d are allowed", errInvalidArgument, name, n, MaxIDLen)
		}
	case protoreflect.BytesKind:
		if n := len(v.Bytes()); n > MaxIDLen {
			return fmt.Errorf("%w: %s is %d bytes long, at most %d are allowed", errInvalidArgument, name, n, MaxIDLen)
		}
	case protoreflect.MessageKind, protoreflect.GroupKind:
		return checkMessage(v.Message(), name+".")
	}
	return nil
}

// limitsUnary refuses a unary request over the limits.
func limitsUnary(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if m, ok := req.(proto.Message); ok {
		if err := checkRequest(m); err != nil {
			return nil, toStatus(err)
		}
	}
	return handler(ctx, req)
}

// limitsStream refuses every streamed request message over the limits.
func limitsStream(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	return handler(srv, &limitedStream{ServerStream: ss})
}

type limitedStream struct{ grpc.ServerStream }

func (s *limitedStream) RecvMsg(m any) error {
	if err := s.ServerStream.RecvMsg(m); err != nil {
		return err
	}
	if pm, ok := m.(proto.Message); ok {
		if err := checkRequest(pm); err != nil {
			return toStatus(err)
		}
	}
	return nil
}

// Returning the memory of closed connections.
//
// The buffers and goroutine stacks of connections that closed are garbage
// until the next collection, and an idle server may not collect for two
// minutes (the runtime's forced period); only then does the scavenger
// return the pages to the operating system. So after 2,000 idle
// connections close the resident set stays three times its size before
// them (benchmarks/idleconns.md). With Options.TrimMemory, Serve watches
// the open connections and, once they have fallen by trimDrop from their
// peak and stayed down for trimDelay, runs debug.FreeOSMemory: one
// collection and a scavenge, after a burst only.
const (
	trimDrop  = 256
	trimDelay = 5 * time.Second
)

// countingListener counts the connections it accepted that are still
// open.
type countingListener struct {
	net.Listener
	open atomic.Int64
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	l.open.Add(1)
	return &countedConn{Conn: c, l: l}, nil
}

type countedConn struct {
	net.Conn
	l    *countingListener
	once sync.Once
}

func (c *countedConn) Close() error {
	c.once.Do(func() { c.l.open.Add(-1) })
	return c.Conn.Close()
}

// trimAfterBursts runs free (debug.FreeOSMemory) whenever the open
// connections of l, read every tick, fell by trimDrop from their peak and
// stayed down for delay, until ctx is done.
func trimAfterBursts(ctx context.Context, l *countingListener, every, delay time.Duration, free func()) {
	t := time.NewTicker(every)
	defer t.Stop()
	var peak int64
	var downSince time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			n := l.open.Load()
			if n > peak {
				peak, downSince = n, time.Time{}
				continue
			}
			if peak-n < trimDrop {
				downSince = time.Time{}
				continue
			}
			if downSince.IsZero() {
				downSince = now
			}
			if now.Sub(downSince) >= delay {
				free()
				peak, downSince = n, time.Time{}
			}
		}
	}
}
