// Package storetest holds the behaviour every objstore implementation must
// show, as one test suite that each implementation runs against a real
// store (a temp folder, a real versitygw).
package storetest

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/cassmove/shadow/engine/objstore"
)

// Recorder is an Observer that remembers every request.
type Recorder struct {
	mu   sync.Mutex
	reqs []objstore.Request
}

// Observe records r.
func (r *Recorder) Observe(req objstore.Request) {
	r.mu.Lock()
	r.reqs = append(r.reqs, req)
	r.mu.Unlock()
}

// Count returns how many requests had this operation and result.
func (r *Recorder) Count(op objstore.Operation, res objstore.Result) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, q := range r.reqs {
		if q.Operation == op && q.Result == res {
			n++
		}
	}
	return n
}

// All returns the requests seen so far.
func (r *Recorder) All() []objstore.Request {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]objstore.Request(nil), r.reqs...)
}

// Reset forgets all requests.
func (r *Recorder) Reset() {
	r.mu.Lock()
	r.reqs = nil
	r.mu.Unlock()
}

// Run checks list, stat, ranged reads, put and not-found behaviour on an
// empty store. rec must be the store's observer.
func Run(t *testing.T, st objstore.Store, rec *Recorder) {
	ctx := context.Background()
	rnd := rand.New(rand.NewPCG(1, 2))
	big := make([]byte, 300_000)
	for i := range big {
		big[i] = byte(rnd.UintN(256))
	}
	objs := map[string][]byte{
		"a/b/c.txt":       []byte("hello"),
		"a/b/d.txt":       []byte("world!"),
		"a/b-x":           []byte("dash sorts before slash"),
		"a/bz/e":          big,
		"a/empty":         {},
		"top.json":        []byte(`{"x":1}`),
		"z/deep/er/f.bin": []byte{0, 1, 2},
	}
	for k, v := range objs {
		if err := objstore.PutBytes(ctx, st, k, v); err != nil {
			t.Fatalf("put %s: %v", k, err)
		}
	}
	keys := func(os []objstore.Object) []string {
		var out []string
		for _, o := range os {
			out = append(out, o.Key)
		}
		return out
	}
	t.Run("list", func(t *testing.T) {
		cases := []struct {
			prefix, delim string
			want          []string
		}{
			{"", "", []string{"a/b-x", "a/b/c.txt", "a/b/d.txt", "a/bz/e", "a/empty", "top.json", "z/deep/er/f.bin"}},
			{"", "/", []string{"a/", "top.json", "z/"}},
			{"a/", "/", []string{"a/b-x", "a/b/", "a/bz/", "a/empty"}},
			{"a/b", "/", []string{"a/b-x", "a/b/", "a/bz/"}},
			{"a/b/", "", []string{"a/b/c.txt", "a/b/d.txt"}},
			{"a/b/c", "", []string{"a/b/c.txt"}},
			{"z/", "/", []string{"z/deep/"}},
			{"nope/", "/", nil},
			{"a/b/c.txt/", "", nil},
		}
		for _, c := range cases {
			got, err := objstore.ListAll(ctx, st, c.prefix, c.delim)
			if err != nil {
				t.Fatalf("list %q %q: %v", c.prefix, c.delim, err)
			}
			if !slices.Equal(keys(got), c.want) {
				t.Errorf("list %q delim %q = %q, want %q", c.prefix, c.delim, keys(got), c.want)
			}
			for _, o := range got {
				if o.IsPrefix != strings.HasSuffix(o.Key, "/") {
					t.Errorf("list %q: %s IsPrefix=%v", c.prefix, o.Key, o.IsPrefix)
				}
				if !o.IsPrefix && o.Size != int64(len(objs[o.Key])) {
					t.Errorf("list %q: %s size %d, want %d", c.prefix, o.Key, o.Size, len(objs[o.Key]))
				}
				if !o.IsPrefix && o.ModTime.IsZero() {
					t.Errorf("list %q: %s has no modification time", c.prefix, o.Key)
				}
			}
			if !sort.SliceIsSorted(got, func(i, j int) bool { return got[i].Key < got[j].Key }) {
				t.Errorf("list %q not in key order: %q", c.prefix, keys(got))
			}
		}
	})
	t.Run("stat", func(t *testing.T) {
		o, err := st.Stat(ctx, "a/bz/e")
		if err != nil || o.Size != int64(len(big)) || o.Key != "a/bz/e" {
			t.Fatalf("stat = %+v, %v", o, err)
		}
		_, err = st.Stat(ctx, "a/missing")
		if !errors.Is(err, objstore.ErrNotFound) {
			t.Fatalf("stat of a missing object: %v, want ErrNotFound", err)
		}
		if !strings.Contains(err.Error(), "a/missing") {
			t.Errorf("error %q does not name the key", err)
		}
		_, err = st.Stat(ctx, "a/b")
		if !errors.Is(err, objstore.ErrNotFound) {
			t.Fatalf("stat of a prefix: %v, want ErrNotFound", err)
		}
		ok, err := objstore.Exists(ctx, st, "top.json")
		if !ok || err != nil {
			t.Fatalf("exists = %v, %v", ok, err)
		}
	})
	t.Run("read", func(t *testing.T) {
		for k, v := range objs {
			got, err := objstore.ReadAll(ctx, st, k)
			if err != nil || !bytes.Equal(got, v) {
				t.Fatalf("read %s: %d bytes, %v; want %d bytes", k, len(got), err, len(v))
			}
		}
		for _, r := range [][2]int64{{0, 1}, {10, 100}, {299_990, 10}, {299_999, -1}, {123, -1}, {5000, 0}} {
			rc, err := st.ReadRange(ctx, "a/bz/e", r[0], r[1])
			if err != nil {
				t.Fatalf("range %v: %v", r, err)
			}
			got, err := io.ReadAll(rc)
			rc.Close()
			end := r[0] + r[1]
			if r[1] < 0 {
				end = int64(len(big))
			}
			if err != nil || !bytes.Equal(got, big[r[0]:end]) {
				t.Fatalf("range %v: %d bytes, %v", r, len(got), err)
			}
		}
		_, err := st.ReadRange(ctx, "nope", 0, -1)
		if !errors.Is(err, objstore.ErrNotFound) {
			t.Fatalf("read of a missing object: %v, want ErrNotFound", err)
		}
	})
	t.Run("readerat", func(t *testing.T) {
		ra := objstore.NewReaderAt(ctx, st, "a/bz/e", int64(len(big)))
		p := make([]byte, 1000)
		n, err := ra.ReadAt(p, 5000)
		if n != 1000 || err != nil || !bytes.Equal(p, big[5000:6000]) {
			t.Fatalf("ReadAt = %d, %v", n, err)
		}
		n, err = ra.ReadAt(p, int64(len(big))-10)
		if n != 10 || err != io.EOF || !bytes.Equal(p[:10], big[len(big)-10:]) {
			t.Fatalf("ReadAt at the end = %d, %v; want 10, EOF", n, err)
		}
		if _, err := ra.ReadAt(p, int64(len(big))); err != io.EOF {
			t.Fatalf("ReadAt past the end: %v", err)
		}
		sr := io.NewSectionReader(ra, 0, ra.Size())
		all, err := io.ReadAll(sr)
		if err != nil || !bytes.Equal(all, big) {
			t.Fatalf("section reader: %d bytes, %v", len(all), err)
		}
	})
	t.Run("download", func(t *testing.T) {
		var w writerAt
		n, err := objstore.Download(ctx, st, "a/bz/e", int64(len(big)), &w, objstore.Settings{PartSize: 7000, Concurrency: 3})
		if err != nil || n != int64(len(big)) || !bytes.Equal(w.b, big) {
			t.Fatalf("download: %d, %v (equal %v)", n, err, bytes.Equal(w.b, big))
		}
	})
	t.Run("overwrite", func(t *testing.T) {
		if err := objstore.PutBytes(ctx, st, "top.json", []byte("{}")); err != nil {
			t.Fatal(err)
		}
		got, err := objstore.ReadAll(ctx, st, "top.json")
		if err != nil || string(got) != "{}" {
			t.Fatalf("after overwrite: %q, %v", got, err)
		}
		// Put with a wrong size must fail rather than store a short object.
		err = st.Put(ctx, "short", strings.NewReader("abc"), 10)
		if err == nil {
			t.Fatal("put with a wrong size succeeded")
		}
	})
	t.Run("observer", func(t *testing.T) {
		rec.Reset()
		objstore.ReadAll(ctx, st, "top.json")
		st.Stat(ctx, "missing")
		objstore.ListAll(ctx, st, "a/", "/")
		objstore.PutBytes(ctx, st, "obs", []byte("x"))
		for _, c := range []struct {
			op  objstore.Operation
			res objstore.Result
		}{{objstore.OpGet, objstore.ResultOK}, {objstore.OpHead, objstore.ResultNotFound}, {objstore.OpList, objstore.ResultOK}, {objstore.OpPut, objstore.ResultOK}} {
			if rec.Count(c.op, c.res) != 1 {
				t.Errorf("observer saw %d %s/%s requests, want 1", rec.Count(c.op, c.res), c.op, c.res)
			}
		}
	})
}

type writerAt struct {
	mu sync.Mutex
	b  []byte
}

func (w *writerAt) WriteAt(p []byte, off int64) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if need := off + int64(len(p)); need > int64(len(w.b)) {
		w.b = append(w.b, make([]byte, need-int64(len(w.b)))...)
	}
	copy(w.b[off:], p)
	return len(p), nil
}
