package rules

import (
	"os"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// fakeItems is a catalogue in memory.
type fakeItems struct {
	ids   []string
	cats  []string
	attrs []map[string]string
}

var _ Items = (*fakeItems)(nil)

func (f *fakeItems) Len() int { return len(f.ids) }
func (f *fakeItems) Row(id string) (int32, bool) {
	for i, x := range f.ids {
		if x == id {
			return int32(i), true
		}
	}
	return -1, false
}
func (f *fakeItems) Category(row int32) string { return f.cats[row] }
func (f *fakeItems) Attribute(row int32, name string) (string, bool) {
	v, ok := f.attrs[row][name]
	return v, ok
}

// newItems builds a catalogue from lines "id category k=v k=v"; a
// category "-" is none.
func newItems(lines ...string) *fakeItems {
	f := &fakeItems{}
	for _, l := range lines {
		fields := strings.Fields(l)
		f.ids = append(f.ids, fields[0])
		cat := fields[1]
		if cat == "-" {
			cat = ""
		}
		f.cats = append(f.cats, cat)
		attrs := map[string]string{}
		for _, kv := range fields[2:] {
			k, v, _ := strings.Cut(kv, "=")
			attrs[k] = v
		}
		f.attrs = append(f.attrs, attrs)
	}
	return f
}

// shop is the catalogue of the Apply tests.
func shop() *fakeItems {
	return newItems(
		"a0 shoes/running brand=Acme price=50 in_stock=true",
		"a1 shoes/running brand=Trailco price=80",
		"a2 shoes/trail brand=Acme price=120",
		"a3 shoes brand=Generic price=10",
		"a4 bags brand=Acme price=30",
		"a5 bags/travel brand=Bagco price=200",
		"a6 grocery/coffee price=8",
		"a7 grocery/tea price=5",
		"a8 electronics/phones price=600 in_stock=false",
		"a9 -",
		"a10 shoestring price=x",
		"a11 bags",
	)
}

// event is one interaction of a fakeHistory.
type event struct {
	row   int32
	event string
	at    time.Time
}

type fakeHistory []event

var _ History = fakeHistory(nil)

func (h fakeHistory) Interactions(yield func(int32, string, time.Time) bool) {
	for _, e := range h {
		if !yield(e.row, e.event, e.at) {
			return
		}
	}
}

// mustCompile parses text as a rules file and compiles it against items.
func mustCompile(t testing.TB, text string, items Items) *Rules {
	t.Helper()
	f, err := Parse("test.yaml", []byte(text))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return Compile(f, items)
}

func writeFile(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}
