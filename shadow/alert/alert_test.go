package alert

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cassmove/shadow/shadow/promtest"
)

const wait = time.Minute // how long a test waits for a real service to reflect a post

// hook is a webhook receiver that keeps every message it gets.
type hook struct {
	mu   sync.Mutex
	msgs []WebhookMessage
	srv  *httptest.Server
}

func newHook(t *testing.T) *hook {
	h := &hook{}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var m WebhookMessage
		if err := json.NewDecoder(r.Body).Decode(&m); err != nil {
			t.Errorf("webhook body: %v", err)
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		h.mu.Lock()
		h.msgs = append(h.msgs, m)
		h.mu.Unlock()
	}))
	t.Cleanup(h.srv.Close)
	return h
}

func (h *hook) messages() []WebhookMessage {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]WebhookMessage(nil), h.msgs...)
}

func names(as []promtest.AMAlert) []string {
	var out []string
	for _, a := range as {
		out = append(out, a.Labels["alertname"]+"/"+a.Labels["dataset"])
	}
	return out
}

func has(as []promtest.AMAlert, name, dataset string) *promtest.AMAlert {
	for i, a := range as {
		if a.Labels["alertname"] == name && a.Labels["dataset"] == dataset {
			return &as[i]
		}
	}
	return nil
}

// A run that differs fires ShadowDifferenceDetected; a failed run fires
// ShadowRunFailed and leaves the difference alone; a clean run resolves both.
func TestNotifyRunLifecycle(t *testing.T) {
	am := promtest.StartAlertmanager(t, "")
	h := newHook(t)
	n := &Notifier{Alertmanager: am.URL, Webhook: h.srv.URL}
	ctx := context.Background()

	if err := n.NotifyRun(ctx, Run{Dataset: "orders", RunID: "orders/2026-11-24", Status: "differs",
		OnlyInLegacy: 12, OnlyInNew: 3, Changed: 2, Similarity: 0.985, SchedulePeriod: 24 * time.Hour}); err != nil {
		t.Fatal(err)
	}
	got := am.WaitForAlerts(t, wait, func(as []promtest.AMAlert) bool { return has(as, NameDifferenceDetected, "orders") != nil })
	a := has(got, NameDifferenceDetected, "orders")
	if want := map[string]string{"alertname": NameDifferenceDetected, "dataset": "orders", "severity": "critical"}; !equalMaps(a.Labels, want) {
		t.Errorf("labels = %v, want %v", a.Labels, want)
	}
	if a.Annotations["summary"] != Summary(NameDifferenceDetected) ||
		a.Annotations["runbook_url"] != DefaultRunbookBase+"#shadowdifferencedetected" ||
		!strings.Contains(a.Annotations["description"], "12 rows only in legacy (C−M) and 3 only in new (M−C)") ||
		!strings.Contains(a.Annotations["description"], "shadow log discrepancies --run orders/2026-11-24") {
		t.Errorf("annotations = %v", a.Annotations)
	}
	if a.Status.State != "active" {
		t.Errorf("state = %s", a.Status.State)
	}
	// Held for two periods and an hour, not Alertmanager's 5 minute timeout.
	if d := time.Until(a.EndsAt); d < 48*time.Hour || d > 49*time.Hour+time.Minute {
		t.Errorf("endsAt in %s, want about 49h", d)
	}
	if has(got, NameRunFailed, "orders") != nil {
		t.Errorf("a differing run fired ShadowRunFailed")
	}

	if err := n.NotifyRun(ctx, Run{Dataset: "orders", RunID: "orders/2026-11-25", Status: "failed", Stage: "move",
		Err: errors.New("backup s3://b/x: incomplete")}); err != nil {
		t.Fatal(err)
	}
	got = am.WaitForAlerts(t, wait, func(as []promtest.AMAlert) bool { return has(as, NameRunFailed, "orders") != nil })
	f := has(got, NameRunFailed, "orders")
	if f.Labels["severity"] != "warning" || !strings.Contains(f.Annotations["description"], "failed in stage move: backup s3://b/x: incomplete") {
		t.Errorf("ShadowRunFailed = %+v", f)
	}
	if has(got, NameDifferenceDetected, "orders") == nil {
		t.Errorf("a failed run resolved the difference: %v", names(got))
	}

	// Another dataset is independent.
	if err := n.NotifyRun(ctx, Run{Dataset: "users", RunID: "users/2026-11-25", Status: "aborted"}); err != nil {
		t.Fatal(err)
	}
	am.WaitForAlerts(t, wait, func(as []promtest.AMAlert) bool { return has(as, NameRunFailed, "users") != nil })

	if err := n.NotifyRun(ctx, Run{Dataset: "orders", RunID: "orders/2026-11-26", Status: "clean"}); err != nil {
		t.Fatal(err)
	}
	got = am.WaitForAlerts(t, wait, func(as []promtest.AMAlert) bool {
		return has(as, NameRunFailed, "orders") == nil && has(as, NameDifferenceDetected, "orders") == nil
	})
	if has(got, NameRunFailed, "users") == nil {
		t.Errorf("resolving orders resolved users: %v", names(got))
	}

	// The webhook got the same story.
	var story []string
	for _, m := range h.messages() {
		for _, a := range m.Alerts {
			story = append(story, a.Status+" "+a.Labels["alertname"]+"/"+a.Labels["dataset"])
		}
	}
	want := []string{
		"firing ShadowDifferenceDetected/orders", "resolved ShadowRunFailed/orders",
		"firing ShadowRunFailed/orders",
		"firing ShadowRunFailed/users",
		"resolved ShadowDifferenceDetected/orders", "resolved ShadowRunFailed/orders",
	}
	if strings.Join(story, "\n") != strings.Join(want, "\n") {
		t.Errorf("webhook story:\n%s\nwant:\n%s", strings.Join(story, "\n"), strings.Join(want, "\n"))
	}
	if m := h.messages()[0]; m.Version != "4" || m.Status != "firing" || m.CommonLabels["dataset"] != "orders" || m.GroupLabels["alertname"] != NameDifferenceDetected {
		t.Errorf("webhook message = %+v", m)
	}
}

// Alertmanager itself turns the runner's endsAt into a resolved
// notification: its webhook receiver gets firing, then resolved.
func TestAlertmanagerSendsResolved(t *testing.T) {
	receiver := newHook(t)
	am := promtest.StartAlertmanager(t, promtest.WebhookAlertmanagerConfig(receiver.srv.URL))
	n := &Notifier{Alertmanager: am.URL}
	ctx := context.Background()
	if err := n.NotifyRun(ctx, Run{Dataset: "orders", RunID: "orders/2026-11-24", Status: "differs", OnlyInNew: 1, Similarity: 0.5}); err != nil {
		t.Fatal(err)
	}
	waitHook(t, receiver, "firing")
	if err := n.NotifyRun(ctx, Run{Dataset: "orders", RunID: "orders/2026-11-25", Status: "clean"}); err != nil {
		t.Fatal(err)
	}
	m := waitHook(t, receiver, "resolved")
	if len(m.Alerts) != 1 || m.Alerts[0].Labels["alertname"] != NameDifferenceDetected || m.Alerts[0].Labels["dataset"] != "orders" {
		t.Errorf("resolved notification = %+v", m)
	}
}

func waitHook(t *testing.T, h *hook, status string) WebhookMessage {
	t.Helper()
	deadline := time.Now().Add(wait)
	for time.Now().Before(deadline) {
		for _, m := range h.messages() {
			if m.Status == status {
				return m
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("no %s notification within %s; got %+v", status, wait, h.messages())
	return WebhookMessage{}
}

// Transient failures are retried until Alertmanager has the alert; a 4xx is
// not retried; an unreachable receiver gives an error, not a hang.
func TestRetries(t *testing.T) {
	am := promtest.StartAlertmanager(t, "")
	target, _ := url.Parse(am.URL)
	proxy := httputil.NewSingleHostReverseProxy(target)
	var posts, fail atomic.Int32
	var status atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		posts.Add(1)
		if fail.Add(-1) >= 0 {
			http.Error(w, "injected failure", int(status.Load()))
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	defer srv.Close()
	n := &Notifier{Alertmanager: srv.URL, Backoff: 10 * time.Millisecond}
	ctx := context.Background()

	fail.Store(2)
	status.Store(http.StatusServiceUnavailable)
	if err := n.Fire(ctx, Alert{Name: NameRunFailed, Dataset: "orders", Description: "x"}); err != nil {
		t.Fatalf("fire through two 503s: %v", err)
	}
	if got := posts.Load(); got != 3 {
		t.Errorf("%d posts, want 3", got)
	}
	am.WaitForAlerts(t, wait, func(as []promtest.AMAlert) bool { return has(as, NameRunFailed, "orders") != nil })

	posts.Store(0)
	fail.Store(1)
	status.Store(http.StatusBadRequest)
	err := n.Fire(ctx, Alert{Name: NameRunFailed, Dataset: "users"})
	if err == nil || !strings.Contains(err.Error(), "HTTP 400") {
		t.Errorf("fire into a 400: %v", err)
	}
	if got := posts.Load(); got != 1 {
		t.Errorf("%d posts for a 400, want 1", got)
	}

	posts.Store(0)
	fail.Store(100)
	status.Store(http.StatusBadGateway)
	err = n.Fire(ctx, Alert{Name: NameRunFailed, Dataset: "users"})
	if err == nil || !strings.Contains(err.Error(), "HTTP 502") {
		t.Errorf("fire into 502s: %v", err)
	}
	if got := posts.Load(); got != 4 {
		t.Errorf("%d posts into 502s, want 4 (the default attempts)", got)
	}

	// A closed port, with a context that ends during the backoff.
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := "http://" + l.Addr().String()
	l.Close()
	ctx2, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	slow := &Notifier{Alertmanager: dead, Backoff: time.Hour}
	if err := slow.Fire(ctx2, Alert{Name: NameRunFailed, Dataset: "orders"}); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("unreachable with a deadline: %v", err)
	}
}

// Real Alertmanager rejects what it cannot take; the notifier rejects bad
// alerts before sending.
func TestInvalidAlerts(t *testing.T) {
	n := &Notifier{Alertmanager: "http://127.0.0.1:1", Attempts: 1}
	ctx := context.Background()
	for _, a := range []Alert{
		{Dataset: "orders"},
		{Name: NameRunFailed, Labels: map[string]string{"severity": "info"}},
		{Name: NameRunFailed, Labels: map[string]string{"dataset": "x"}},
		{Name: NameRunFailed, Labels: map[string]string{"alertname": "x"}},
		{Name: NameRunFailed, Labels: map[string]string{"bad-name": "x"}},
		{Name: NameRunFailed, Labels: map[string]string{"__meta": "x"}},
		{Name: NameRunFailed, Dataset: "bad\xffutf8"},
		{Name: NameRunFailed, EndsAt: time.Now().Add(-time.Minute)},
	} {
		if err := n.Fire(ctx, a); !errors.Is(err, ErrInvalid) {
			t.Errorf("Fire(%+v) = %v, want ErrInvalid", a, err)
		}
	}
	if err := n.NotifyRun(ctx, Run{Dataset: "orders", Status: "running"}); !errors.Is(err, ErrInvalid) {
		t.Errorf("running: %v", err)
	}
	if err := n.NotifyRun(ctx, Run{Status: "clean"}); !errors.Is(err, ErrInvalid) {
		t.Errorf("no dataset: %v", err)
	}
	// Nothing configured: nothing sent, no error.
	if err := (&Notifier{}).NotifyRun(ctx, Run{Dataset: "orders", Status: "failed"}); err != nil {
		t.Errorf("zero Notifier: %v", err)
	}
}

// Extra routing labels travel with fire and resolve; fallbacks carry the
// contract's labels and a description naming the cohort.
func TestFallbackAndExtraLabels(t *testing.T) {
	am := promtest.StartAlertmanager(t, "")
	n := &Notifier{Alertmanager: am.URL, RunbookBase: "https://runbooks.example/shadow.md"}
	ctx := context.Background()
	if err := n.NotifyFallback(ctx, Fallback{Dataset: "orders", Cohort: "canary", Err: errors.New("engine: exit 3")}); err != nil {
		t.Fatal(err)
	}
	team := map[string]string{"team": "payments"}
	if err := n.NotifyRun(ctx, Run{Dataset: "users", RunID: "users/2026-11-24", Status: "failed", Labels: team}); err != nil {
		t.Fatal(err)
	}
	got := am.WaitForAlerts(t, wait, func(as []promtest.AMAlert) bool { return len(as) == 2 })
	fb := has(got, NameDeciderFallback, "orders")
	if fb == nil || !equalMaps(fb.Labels, map[string]string{"alertname": NameDeciderFallback, "dataset": "orders", "severity": "warning"}) {
		t.Fatalf("fallback alert: %+v", got)
	}
	if !strings.Contains(fb.Annotations["description"], "cohort canary") || !strings.Contains(fb.Annotations["description"], "engine: exit 3") ||
		fb.Annotations["runbook_url"] != "https://runbooks.example/shadow.md#shadowdeciderfallback" {
		t.Errorf("fallback annotations: %v", fb.Annotations)
	}
	if rf := has(got, NameRunFailed, "users"); rf == nil || rf.Labels["team"] != "payments" {
		t.Errorf("run failed with team label: %+v", got)
	}
	if err := n.ResolveFallback(ctx, "orders", nil); err != nil {
		t.Fatal(err)
	}
	if err := n.NotifyRun(ctx, Run{Dataset: "users", RunID: "users/2026-11-25", Status: "clean", Labels: team}); err != nil {
		t.Fatal(err)
	}
	am.WaitForAlerts(t, wait, func(as []promtest.AMAlert) bool { return len(as) == 0 })
}

func TestTruncate(t *testing.T) {
	long := strings.Repeat("é", 2000) // 4000 bytes
	got := truncate(long, maxDescription)
	if len(got) > maxDescription || !strings.HasSuffix(got, "…") || !json.Valid([]byte(`"`+got+`"`)) {
		t.Errorf("truncate: %d bytes, suffix %q", len(got), got[len(got)-6:])
	}
	if truncate("short", 10) != "short" {
		t.Error("short string changed")
	}
}

func TestRunbookURL(t *testing.T) {
	if got := RunbookURL("", NameDatasetStale); got != DefaultRunbookBase+"#shadowdatasetstale" {
		t.Errorf("RunbookURL = %s", got)
	}
	for _, name := range Names {
		if Severity(name) == "" || Summary(name) == "" || !strings.HasSuffix(Summary(name), ".") {
			t.Errorf("%s: severity %q, summary %q", name, Severity(name), Summary(name))
		}
	}
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}
