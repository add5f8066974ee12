package s3_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cassmove/shadow/engine/objstore"
	s3store "github.com/cassmove/shadow/engine/objstore/s3"
	"github.com/cassmove/shadow/engine/objstore/s3test"
	"github.com/cassmove/shadow/engine/objstore/storetest"
)

// fastRetry keeps the fault tests quick: the backoff is real, only short.
var fastRetry = objstore.Retry{MaxAttempts: 4, BaseDelay: time.Millisecond, MaxDelay: 10 * time.Millisecond}

func start(t *testing.T) *s3test.Server {
	t.Helper()
	srv := s3test.Start(t)
	srv.Setenv(t)
	srv.CreateBucket(t, "bkt")
	return srv
}

func TestConformance(t *testing.T) {
	srv := start(t)
	for _, uri := range []string{"s3://bkt", "s3://bkt/some/prefix"} {
		t.Run(uri, func(t *testing.T) {
			rec := &storetest.Recorder{}
			st, err := objstore.Open(context.Background(), uri, objstore.Settings{Endpoint: srv.Endpoint, PathStyle: true, Observer: rec.Observe})
			if err != nil {
				t.Fatal(err)
			}
			if st.URI() != strings.TrimSuffix(uri, "/") && st.URI() != uri+"/" {
				t.Errorf("URI = %s", st.URI())
			}
			storetest.Run(t, st, rec)
		})
	}
}

func TestEndpointFromEnvironment(t *testing.T) {
	start(t) // sets AWS_ENDPOINT_URL_S3
	st, err := objstore.Open(context.Background(), "s3://bkt/p", objstore.Settings{PathStyle: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := objstore.PutBytes(context.Background(), st, "k", []byte("v")); err != nil {
		t.Fatalf("put through $AWS_ENDPOINT_URL_S3: %v", err)
	}
}

func TestPagination(t *testing.T) {
	srv := start(t)
	ctx := context.Background()
	st, err := s3store.New(ctx, "bkt", "pg", objstore.Settings{Endpoint: srv.Endpoint, PathStyle: true})
	if err != nil {
		t.Fatal(err)
	}
	st.SetPageSize(3)
	var want []string
	for i := range 10 {
		k := fmt.Sprintf("d%d/f", i)
		want = append(want, fmt.Sprintf("d%d/", i))
		if err := objstore.PutBytes(ctx, st, k, []byte("x")); err != nil {
			t.Fatal(err)
		}
		if err := objstore.PutBytes(ctx, st, fmt.Sprintf("f%02d", i), []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 10 {
		want = append(want, fmt.Sprintf("f%02d", i))
	}
	got, err := objstore.ListAll(ctx, st, "", "/")
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, o := range got {
		keys = append(keys, o.Key)
	}
	if strings.Join(keys, " ") != strings.Join(want, " ") {
		t.Fatalf("paged listing = %v\nwant %v", keys, want)
	}
}

func TestMultipartPut(t *testing.T) {
	srv := start(t)
	ctx := context.Background()
	st, err := objstore.Open(ctx, "s3://bkt", objstore.Settings{Endpoint: srv.Endpoint, PathStyle: true})
	if err != nil {
		t.Fatal(err)
	}
	big := randomBytes(16<<20*2 + 12345)
	// An io.Reader that is not a bytes.Reader, with unknown size.
	if err := st.Put(ctx, "big", io.MultiReader(bytes.NewReader(big[:100]), bytes.NewReader(big[100:])), -1); err != nil {
		t.Fatal(err)
	}
	o, err := st.Stat(ctx, "big")
	if err != nil || o.Size != int64(len(big)) {
		t.Fatalf("stat = %+v, %v", o, err)
	}
	var w bytesWriterAt
	w.b = make([]byte, len(big))
	if _, err := objstore.Download(ctx, st, "big", o.Size, &w, objstore.Settings{}); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(w.b, big) {
		t.Fatal("multipart object read back differs")
	}
	// Exactly one part's worth goes as a single PUT.
	exact := big[:16<<20]
	if err := st.Put(ctx, "exact", bytes.NewReader(exact), int64(len(exact))); err != nil {
		t.Fatal(err)
	}
	got, err := objstore.ReadAll(ctx, st, "exact")
	if err != nil || !bytes.Equal(got, exact) {
		t.Fatalf("exact-size put: %d bytes, %v", len(got), err)
	}
}

func TestBadCredentials(t *testing.T) {
	srv := start(t)
	t.Setenv("AWS_SECRET_ACCESS_KEY", "wrong-secret")
	rec := &storetest.Recorder{}
	st, err := objstore.Open(context.Background(), "s3://bkt", objstore.Settings{Endpoint: srv.Endpoint, PathStyle: true, Retry: fastRetry, Observer: rec.Observe})
	if err != nil {
		t.Fatal(err)
	}
	_, err = st.Stat(context.Background(), "anything")
	if !errors.Is(err, objstore.ErrAccessDenied) || !strings.Contains(err.Error(), "s3://bkt/anything") {
		t.Fatalf("stat with a wrong secret: %v, want ErrAccessDenied naming the object", err)
	}
	// A HEAD has no body to carry the error code; a GET does.
	_, err = objstore.ReadAll(context.Background(), st, "anything")
	if !errors.Is(err, objstore.ErrAccessDenied) {
		t.Fatalf("get with a wrong secret: %v, want ErrAccessDenied", err)
	}
	for _, want := range []string{"s3://bkt/anything", "access denied", "SignatureDoesNotMatch"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if n := rec.Count(objstore.OpHead, objstore.ResultError); n != 1 {
		t.Errorf("a refused request was tried %d times, want 1 (no retries)", n)
	}
	_, err = objstore.ListAll(context.Background(), st, "", "/")
	if !errors.Is(err, objstore.ErrAccessDenied) {
		t.Fatalf("list with a wrong secret: %v", err)
	}
}

func TestMissingBucket(t *testing.T) {
	srv := start(t)
	st, err := objstore.Open(context.Background(), "s3://no-such-bucket/x", objstore.Settings{Endpoint: srv.Endpoint, PathStyle: true, Retry: fastRetry})
	if err != nil {
		t.Fatal(err)
	}
	_, err = objstore.ListAll(context.Background(), st, "", "/")
	if !errors.Is(err, objstore.ErrNotFound) || !strings.Contains(err.Error(), "no-such-bucket") {
		t.Fatalf("list of a missing bucket: %v", err)
	}
}

func TestBadURI(t *testing.T) {
	if _, err := objstore.Open(context.Background(), "s3:///nobucket", objstore.Settings{}); !errors.Is(err, objstore.ErrBadURI) {
		t.Fatalf("s3:///nobucket: %v", err)
	}
}

// faultProxy is a real HTTP proxy on loopback in front of versitygw. It
// forwards requests unchanged (the Host header too, so SigV4 signatures
// stay valid) and injects faults by plan: a 503, a response that never
// comes, or a body cut off halfway. The data always comes from the real
// server.
type faultProxy struct {
	target *url.URL
	plan   func(n int, r *http.Request) fault
	mu     sync.Mutex
	n      int
	seen   []string // "METHOD path range" of every request
	srv    *httptest.Server
	client *http.Client
}

type fault int

const (
	pass fault = iota
	unavailable
	hang
	cut
	throttle
)

func newFaultProxy(t *testing.T, target string, plan func(n int, r *http.Request) fault) *faultProxy {
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	p := &faultProxy{target: u, plan: plan, client: &http.Client{Transport: &http.Transport{DisableCompression: true}}}
	p.srv = httptest.NewServer(p)
	t.Cleanup(p.srv.Close)
	return p
}

func (p *faultProxy) requests() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.seen...)
}

func (p *faultProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	n := p.n
	p.n++
	p.seen = append(p.seen, strings.TrimSpace(r.Method+" "+r.URL.Path+" "+r.Header.Get("Range")))
	p.mu.Unlock()
	f := p.plan(n, r)
	if f != pass {
		// A fresh connection for the next request, so that net/http's own
		// retry of requests on reused connections stays out of the count.
		w.Header().Set("Connection", "close")
	}
	switch f {
	case unavailable:
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(http.StatusServiceUnavailable)
		io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>ServiceUnavailable</Code><Message>injected by the test proxy</Message></Error>`)
		return
	case throttle:
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(http.StatusServiceUnavailable)
		io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>`)
		return
	case hang:
		// Never answer; the client's timeout must fire. Stop when it hangs up.
		select {
		case <-r.Context().Done():
		case <-time.After(30 * time.Second):
		}
		return
	}
	out, err := http.NewRequestWithContext(r.Context(), r.Method, p.target.String()+r.URL.RequestURI(), r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	out.Header = r.Header.Clone()
	out.Host = r.Host
	out.ContentLength = r.ContentLength
	resp, err := p.client.Do(out)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	for k, v := range resp.Header {
		w.Header()[k] = v
	}
	w.WriteHeader(resp.StatusCode)
	if f == cut && resp.ContentLength > 1 {
		// Send half the body, then drop the connection.
		io.CopyN(w, resp.Body, resp.ContentLength/2)
		w.(http.Flusher).Flush()
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			conn.Close()
		}
		return
	}
	io.Copy(w, resp.Body)
}

func TestRetriesTransientFaults(t *testing.T) {
	srv := start(t)
	ctx := context.Background()
	direct, _ := objstore.Open(ctx, "s3://bkt", objstore.Settings{Endpoint: srv.Endpoint, PathStyle: true})
	data := randomBytes(1 << 20)
	if err := objstore.PutBytes(ctx, direct, "ks/t/nb-1-big-Data.db", data); err != nil {
		t.Fatal(err)
	}
	// Every GET: 503, then SlowDown, then no answer, then a body cut in
	// half, then the rest. Lists and HEADs: one 503 each.
	var mu sync.Mutex
	gets := 0
	proxy := newFaultProxy(t, srv.Endpoint, func(n int, r *http.Request) fault {
		if r.Method != http.MethodGet || r.URL.Query().Has("list-type") {
			if n%2 == 0 {
				return unavailable
			}
			return pass
		}
		mu.Lock()
		defer mu.Unlock()
		gets++
		switch gets {
		case 1:
			return unavailable
		case 2:
			return throttle
		case 3:
			return hang
		case 4:
			return cut
		}
		return pass
	})
	rec := &storetest.Recorder{}
	st, err := objstore.Open(ctx, "s3://bkt", objstore.Settings{
		// The timeout must fire on the hung request, yet not on a slow
		// but healthy one on a busy machine; one spare attempt as well.
		Endpoint: proxy.srv.URL, PathStyle: true, Observer: rec.Observe, Timeout: 2 * time.Second,
		Retry: objstore.Retry{MaxAttempts: 6, BaseDelay: time.Millisecond, MaxDelay: 5 * time.Millisecond},
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := objstore.ReadAll(ctx, st, "ks/t/nb-1-big-Data.db")
	if err != nil {
		t.Fatalf("read through faults: %v", err)
	}
	if !bytes.Equal(got, data) {
		t.Fatalf("read through faults: %d bytes, content differs", len(got))
	}
	// The fifth GET resumed from where the cut body stopped.
	reqs := proxy.requests()
	for _, q := range rec.All() {
		t.Logf("observed %s %s attempt %d: %v", q.Operation, q.Result, q.Attempt, q.Err)
	}
	last := reqs[len(reqs)-1]
	if !strings.HasPrefix(last, "GET /bkt/ks/t/nb-1-big-Data.db bytes=") || strings.HasSuffix(last, "bytes=0-") {
		t.Errorf("the last request %q did not resume mid-object", last)
	}
	if n := rec.Count(objstore.OpGet, objstore.ResultError); n < 4 {
		t.Errorf("observer saw %d failed GETs, want ≥ 4 (503, SlowDown, timeout, cut)", n)
	}
	if n := rec.Count(objstore.OpGet, objstore.ResultOK); n < 2 {
		t.Errorf("observer saw %d good GETs, want ≥ 2", n)
	}
	o, err := st.Stat(ctx, "ks/t/nb-1-big-Data.db")
	if err != nil || o.Size != int64(len(data)) {
		t.Fatalf("stat through a 503: %+v, %v", o, err)
	}
	objs, err := objstore.ListAll(ctx, st, "ks/", "/")
	if err != nil || len(objs) != 1 {
		t.Fatalf("list through a 503: %v, %v", objs, err)
	}
}

func TestRangedReadsThroughCuts(t *testing.T) {
	srv := start(t)
	ctx := context.Background()
	direct, _ := objstore.Open(ctx, "s3://bkt", objstore.Settings{Endpoint: srv.Endpoint, PathStyle: true})
	data := randomBytes(3 << 20)
	if err := objstore.PutBytes(ctx, direct, "obj", data); err != nil {
		t.Fatal(err)
	}
	// Every other GET is cut off halfway: parallel ranged downloads must
	// still assemble the exact object.
	proxy := newFaultProxy(t, srv.Endpoint, func(n int, r *http.Request) fault {
		if r.Method == http.MethodGet && n%2 == 0 {
			return cut
		}
		return pass
	})
	st, err := objstore.Open(ctx, "s3://bkt", objstore.Settings{Endpoint: proxy.srv.URL, PathStyle: true, Retry: fastRetry, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	var w bytesWriterAt
	w.b = make([]byte, len(data))
	if _, err := objstore.Download(ctx, st, "obj", int64(len(data)), &w, objstore.Settings{PartSize: 256 << 10, Concurrency: 4}); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(w.b, data) {
		t.Fatal("parallel download through cuts differs")
	}
	ra := objstore.NewReaderAt(ctx, st, "obj", int64(len(data)))
	p := make([]byte, 100_000)
	if _, err := ra.ReadAt(p, 2_000_000); err != nil || !bytes.Equal(p, data[2_000_000:2_100_000]) {
		t.Fatalf("ReadAt through a cut: %v", err)
	}
}

func TestGivesUpWithAClearError(t *testing.T) {
	srv := start(t)
	ctx := context.Background()
	proxy := newFaultProxy(t, srv.Endpoint, func(int, *http.Request) fault { return unavailable })
	rec := &storetest.Recorder{}
	st, err := objstore.Open(ctx, "s3://bkt/backups", objstore.Settings{Endpoint: proxy.srv.URL, PathStyle: true, Retry: fastRetry, Observer: rec.Observe})
	if err != nil {
		t.Fatal(err)
	}
	_, err = st.ReadRange(ctx, "node1/meta/manifest.json", 0, -1)
	if !errors.Is(err, objstore.ErrUnavailable) {
		t.Fatalf("read through a dead proxy: %v, want ErrUnavailable", err)
	}
	for _, want := range []string{"s3://bkt/backups/node1/meta/manifest.json", "after 4 attempts", "503", "ServiceUnavailable"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if n := rec.Count(objstore.OpGet, objstore.ResultError); n != 4 {
		t.Errorf("observer saw %d failed attempts, want 4", n)
	}
	// Timeouts end the same way.
	hangProxy := newFaultProxy(t, srv.Endpoint, func(int, *http.Request) fault { return hang })
	st, _ = objstore.Open(ctx, "s3://bkt", objstore.Settings{Endpoint: hangProxy.srv.URL, PathStyle: true, Retry: objstore.Retry{MaxAttempts: 2, BaseDelay: time.Millisecond}, Timeout: 200 * time.Millisecond})
	_, err = st.Stat(ctx, "k")
	if !errors.Is(err, objstore.ErrUnavailable) || !strings.Contains(err.Error(), "after 2 attempts") {
		t.Fatalf("stat through a hanging proxy: %v", err)
	}
	// A context cancelled by the caller stops retrying at once.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	st, _ = objstore.Open(ctx, "s3://bkt", objstore.Settings{Endpoint: proxy.srv.URL, PathStyle: true})
	if _, err := st.Stat(cctx, "k"); !errors.Is(err, context.Canceled) {
		t.Fatalf("stat with a cancelled context: %v", err)
	}
}

func randomBytes(n int) []byte {
	r := rand.New(rand.NewPCG(uint64(n), 7))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.UintN(256))
	}
	return b
}

type bytesWriterAt struct{ b []byte }

func (w *bytesWriterAt) WriteAt(p []byte, off int64) (int, error) {
	copy(w.b[off:], p)
	return len(p), nil
}
