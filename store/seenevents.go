package store

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"slices"
)

// SeenEventsFile is the list file of when the users last had each kind of
// event with each of their training items (Builder.PutSeenEvents), one
// list per user. The merchandising rules' exclusion windows read it: a
// viewed item may come back after some days, a consumable after its
// repurchase interval.
const SeenEventsFile = "seenevents.csr"

// SeenEventKindsFile names the kinds of events of SeenEventsFile, a JSON
// array of strings: SeenEvent.Kind indexes it.
const SeenEventKindsFile = "seenevents.kinds"

// MaxSeenEventKinds bounds the kinds of events a version records times of.
const MaxSeenEventKinds = 64

// SeenEvent is the time of a user's latest event of one kind with one of
// their training items.
type SeenEvent struct {
	Item int32
	// Kind indexes the version's SeenEventKinds: the event type as
	// logged ("view", "purchase").
	Kind uint32
	// At is the time of the latest such event, in seconds since the Unix
	// epoch (at least 1).
	At uint32
}

// SetSeenEventKinds names the kinds of events the lists of PutSeenEvents
// refer to, as the log writes them; call it once, before PutSeenEvents.
// Names are distinct and not empty, at most MaxSeenEventKinds of them.
func (b *Builder) SetSeenEventKinds(kinds []string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.setSeenEventKinds(kinds); err != nil {
		return fmt.Errorf("set seen event kinds of %s: %w", b.version, err)
	}
	return nil
}

func (b *Builder) setSeenEventKinds(kinds []string) error {
	if err := checkEventKinds(kinds); err != nil {
		return err
	}
	data, err := json.Marshal(kinds)
	if err != nil {
		return err
	}
	if err := b.addOwnFile(SeenEventKindsFile, "", func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	}); err != nil {
		return err
	}
	b.eventKinds = slices.Clone(kinds)
	return nil
}

func checkEventKinds(kinds []string) error {
	if len(kinds) == 0 || len(kinds) > MaxSeenEventKinds {
		return fmt.Errorf("%d kinds, want 1 to %d", len(kinds), MaxSeenEventKinds)
	}
	for i, k := range kinds {
		if k == "" {
			return fmt.Errorf("kind %d is empty", i)
		}
		if slices.Contains(kinds[:i], k) {
			return fmt.Errorf("kind %q twice", k)
		}
	}
	return nil
}

// PutSeenEvents records when user last had each kind of event with their
// training items: events ascending by item, then kind, each kind an index
// of the kinds given to SetSeenEventKinds and each time at least 1. The
// lists are written to seenevents.csr at Commit.
func (b *Builder) PutSeenEvents(user int32, events []SeenEvent) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.putSeenEvents(user, events); err != nil {
		return fmt.Errorf("put seen events of user %d in %s: %w", user, b.version, err)
	}
	return nil
}

func (b *Builder) putSeenEvents(user int32, events []SeenEvent) error {
	if err := b.usable(); err != nil {
		return err
	}
	if b.nUsers < 0 || b.nItems < 0 {
		return errors.New("users and items must be set first")
	}
	if b.eventKinds == nil {
		return errors.New("event kinds must be set first")
	}
	if user < 0 || int(user) >= b.nUsers {
		return fmt.Errorf("user index out of range [0, %d)", b.nUsers)
	}
	if b.events == nil {
		b.events = newCSRWriter(csrKindEvents, b.nUsers, filepath.Join(b.staging, SeenEventsFile+tmpSuffix))
	}
	v := make([]byte, 12*len(events))
	for i, e := range events {
		if e.Item < 0 || int(e.Item) >= b.nItems {
			return fmt.Errorf("item %d out of range [0, %d)", e.Item, b.nItems)
		}
		if int(e.Kind) >= len(b.eventKinds) {
			return fmt.Errorf("kind %d of item %d out of range [0, %d)", e.Kind, e.Item, len(b.eventKinds))
		}
		if e.At == 0 {
			return fmt.Errorf("time 0 of item %d", e.Item)
		}
		if i > 0 {
			if p := events[i-1]; p.Item > e.Item || p.Item == e.Item && p.Kind >= e.Kind {
				return fmt.Errorf("events not ascending by item and kind at %d", i)
			}
		}
		binary.LittleEndian.PutUint32(v[12*i:], uint32(e.Item))
		binary.LittleEndian.PutUint32(v[12*i+4:], e.Kind)
		binary.LittleEndian.PutUint32(v[12*i+8:], e.At)
	}
	return b.events.put(int(user), v)
}

// writeSeenEvents assembles seenevents.csr from the lists put, at Commit.
func (b *Builder) writeSeenEvents() error {
	if b.events == nil {
		return nil
	}
	if err := b.events.writeFile(filepath.Join(b.staging, SeenEventsFile)); err != nil {
		return fmt.Errorf("write %s: %w", SeenEventsFile, err)
	}
	b.aux[SeenEventsFile] = ""
	return nil
}

func parseEventKinds(data []byte) ([]string, error) {
	var kinds []string
	if err := json.Unmarshal(data, &kinds); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	if err := checkEventKinds(kinds); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	return kinds, nil
}

// SeenEventKinds returns the names of the kinds of events SeenEvents
// refers to, nil when the version records no event times (trained from a
// log without times, or written before the file existed). The slice is
// the Snapshot's: do not modify it.
func (s *Snapshot) SeenEventKinds() []string {
	if s.events == nil {
		return nil
	}
	return s.eventKinds
}

// SeenEvents appends to buf[:0] when user last had each kind of event with
// each of their training items, ascending by item, then kind. It reads the
// mapped seenevents.csr and does not allocate when buf is large enough;
// empty when the version has none.
func (s *Snapshot) SeenEvents(user int32, buf []SeenEvent) ([]SeenEvent, error) {
	buf = buf[:0]
	if user < 0 || int(user) >= s.nUsers {
		return buf, fmt.Errorf("seen events of user %d in %s: %w: index out of range [0, %d)", user, s.version, ErrNotFound, s.nUsers)
	}
	if s.events == nil {
		return buf, nil
	}
	lo, hi, err := s.events.span(int(user), len(s.events.events))
	if err == nil {
		buf = append(buf, s.events.events[lo:hi]...)
		for _, e := range buf {
			if uint32(e.Item) >= uint32(s.nItems) || int(e.Kind) >= len(s.eventKinds) {
				err = fmt.Errorf("%w: event (item %d, kind %d) out of range", ErrCorrupt, e.Item, e.Kind)
				buf = buf[:0]
				break
			}
		}
	}
	if err != nil {
		return buf, fmt.Errorf("seen events of user %d in %s: %s: %w", user, s.version, SeenEventsFile, err)
	}
	return buf, nil
}
