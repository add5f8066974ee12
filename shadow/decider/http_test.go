package decider

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/cassmove/shadow/shadow/alert"
	"github.com/cassmove/shadow/shadow/metrics"
	"github.com/cassmove/shadow/shadow/promtest"
)

// The API tests run the handler on a real HTTP server, with the real
// metrics package and, for fallbacks, a real Alertmanager.

var (
	_ Metrics = (*metrics.Metrics)(nil)
	_ Alerts  = (*alert.Notifier)(nil)
)

type apiResp struct {
	Code   int
	Body   string
	Header http.Header
}

func call(t *testing.T, method, u, token, contentType, body string) apiResp {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, u, rd)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", token)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return apiResp{resp.StatusCode, string(b), resp.Header}
}

func newMetrics(t *testing.T) *metrics.Metrics {
	t.Helper()
	m, err := metrics.New(metrics.Config{Datasets: []metrics.Dataset{{Name: "orders", SchedulePeriod: 24 * time.Hour}}, Cohorts: []string{"early"}})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// metricValue reads a counter's value, or a histogram's sample count, from
// the registry.
func metricValue(t *testing.T, m *metrics.Metrics, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, s := range mf.GetMetric() {
			got := map[string]string{}
			for _, lp := range s.GetLabel() {
				got[lp.GetName()] = lp.GetValue()
			}
			for k, v := range labels {
				if got[k] != v {
					continue next
				}
			}
			return value(s)
		}
	}
	t.Fatalf("no series %s%v", name, labels)
	return 0
}

func value(s *dto.Metric) float64 {
	switch {
	case s.Counter != nil:
		return s.Counter.GetValue()
	case s.Gauge != nil:
		return s.Gauge.GetValue()
	case s.Histogram != nil:
		return float64(s.Histogram.GetSampleCount())
	}
	return 0
}

func TestHandlerDecide(t *testing.T) {
	ctx := context.Background()
	m := newMetrics(t)
	d, _ := newTestDecider(t, Options{Metrics: m})
	if _, err := d.SetRamp(ctx, "early", 100, "ana", "canary"); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(d.Handler(""))
	defer srv.Close()

	for _, c := range []struct {
		name, query, want string
	}{
		{"by attributes, ramped", "cluster=payments&keyspace=shop&table=orders&destination=warehouse.orders&cohort=early", "MOVE_DATA"},
		{"by dataset", "dataset=orders", "MOVE_DATA"},
		{"default cohort, no ramp", "cluster=main&keyspace=ks&table=ev&destination=iceberg:warehouse.events", "LEGACY"},
		{"no rule matches an unknown movement", "keyspace=nowhere&table=nothing", "LEGACY"},
	} {
		r := call(t, "GET", srv.URL+"/v1/decide?"+c.query, "", "", "")
		if r.Code != 200 || r.Body != c.want || !strings.HasPrefix(r.Header.Get("Content-Type"), "text/plain") {
			t.Errorf("%s: %d %q %s, want 200 %q", c.name, r.Code, r.Body, r.Header.Get("Content-Type"), c.want)
		}
	}
	// JSON gives the path, the rule and the reason.
	r := call(t, "GET", srv.URL+"/v1/decide?dataset=orders&format=json", "", "", "")
	var dec map[string]any
	if err := json.Unmarshal([]byte(r.Body), &dec); err != nil || r.Code != 200 {
		t.Fatalf("json: %d %s %v", r.Code, r.Body, err)
	}
	if dec["path"] != "new" || dec["decision"] != "MOVE_DATA" || dec["rule"] != "ramp early 100%" || !strings.Contains(dec["reason"].(string), "inside the 100% ramp") ||
		dec["source"] != "ramp" || dec["decision_id"] == nil {
		t.Fatalf("json decision %v", dec)
	}
	// Decisions are counted by path and cohort.
	if got := metricValue(t, m, metrics.NameDecisions, map[string]string{"path": "new", "cohort": "early"}); got != 3 {
		t.Errorf("decisions new/early = %v, want 3", got)
	}
	if got := metricValue(t, m, metrics.NameDecisions, map[string]string{"path": "legacy", "cohort": "default"}); got != 2 {
		t.Errorf("decisions legacy/default = %v, want 2", got)
	}

	// Bad parameters get 400 and a message that names the problem.
	for _, c := range []struct{ name, query, msg string }{
		{"unknown parameter", "dataset=orders&tabel=x", `unknown parameter "tabel" (did you mean "table"?)`},
		{"repeated parameter", "dataset=orders&dataset=users", "given 2 times"},
		{"bad format", "dataset=orders&format=xml", `format "xml"`},
		{"unknown dataset", "dataset=nope", "nope"},
		{"no table", "keyspace=shop", "keyspace and table"},
		{"bad cohort", "dataset=orders&cohort=a%20b", "cohort"},
		{"mismatching attributes", "dataset=orders&table=users", `its table is "orders"`},
		{"control character", "keyspace=a%00&table=b", "control character"},
		{"bad escape", "keyspace=%zz&table=b", "bad query string"},
	} {
		r := call(t, "GET", srv.URL+"/v1/decide?"+c.query, "", "", "")
		if r.Code != 400 || !strings.Contains(r.Body, c.msg) {
			t.Errorf("%s: %d %q, want 400 mentioning %q", c.name, r.Code, r.Body, c.msg)
		}
	}
	// JSON callers get JSON errors.
	r = call(t, "GET", srv.URL+"/v1/decide?dataset=nope&format=json", "", "", "")
	if r.Code != 400 || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") || !strings.Contains(r.Body, `"status":400`) {
		t.Errorf("json error: %d %s %s", r.Code, r.Header.Get("Content-Type"), r.Body)
	}
	// Wrong methods and paths.
	if r := call(t, "POST", srv.URL+"/v1/decide?dataset=orders", "", "", ""); r.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST /v1/decide: %d", r.Code)
	}
	if r := call(t, "GET", srv.URL+"/v1/outcomes", "", "", ""); r.Code != http.StatusMethodNotAllowed {
		t.Errorf("GET /v1/outcomes: %d", r.Code)
	}
	if r := call(t, "GET", srv.URL+"/v1/nothing", "", "", ""); r.Code != http.StatusNotFound {
		t.Errorf("unknown path: %d", r.Code)
	}
}

func TestHandlerAuth(t *testing.T) {
	d, _ := newTestDecider(t, Options{})
	const token = "s3cret-token"
	srv := httptest.NewServer(d.Handler(token))
	defer srv.Close()
	outcome := `{"dataset":"orders","path":"legacy","outcome":"success"}`
	for _, c := range []struct {
		name, auth string
		want       int
	}{
		{"no header", "", 401},
		{"wrong token", "Bearer nope", 401},
		{"token prefix", "Bearer s3cret", 401},
		{"token with more", "Bearer s3cret-token2", 401},
		{"basic scheme", "Basic " + token, 401},
		{"bare token", token, 401},
		{"right token", "Bearer " + token, 200},
		{"scheme in any case", "bearer " + token, 200},
	} {
		r := call(t, "GET", srv.URL+"/v1/decide?dataset=orders", c.auth, "", "")
		if r.Code != c.want {
			t.Errorf("decide, %s: %d %q, want %d", c.name, r.Code, r.Body, c.want)
		}
		if c.want == 401 && r.Header.Get("WWW-Authenticate") == "" {
			t.Errorf("decide, %s: 401 without WWW-Authenticate", c.name)
		}
		want := c.want
		if want == 200 {
			want = 201
		}
		if r := call(t, "POST", srv.URL+"/v1/outcomes", c.auth, "application/json", outcome); r.Code != want {
			t.Errorf("outcomes, %s: %d %q, want %d", c.name, r.Code, r.Body, want)
		}
	}
	// A rejected request is neither decided nor recorded: the 2 accepted
	// decisions and outcomes are all there is.
	var decisions, outcomes int
	db := d.db
	if err := db.QueryRow("SELECT (SELECT count(*) FROM decider_decisions), (SELECT count(*) FROM decider_outcomes)").Scan(&decisions, &outcomes); err != nil {
		t.Fatal(err)
	}
	if decisions != 2 || outcomes != 2 {
		t.Fatalf("recorded %d decisions and %d outcomes, want 2 and 2", decisions, outcomes)
	}
}

func TestHandlerOutcomesAndFallbackAlert(t *testing.T) {
	ctx := context.Background()
	am := promtest.StartAlertmanager(t, "")
	m := newMetrics(t)
	d, _ := newTestDecider(t, Options{Metrics: m, Alerts: &alert.Notifier{Alertmanager: am.URL}, Now: time.Now})
	srv := httptest.NewServer(d.Handler(""))
	defer srv.Close()
	post := func(body string) apiResp {
		return call(t, "POST", srv.URL+"/v1/outcomes", "", "application/json", body)
	}

	// The movement is decided first; the outcome links the decision.
	r := call(t, "GET", srv.URL+"/v1/decide?dataset=orders&format=json", "", "", "")
	var dec Decision
	if err := json.Unmarshal([]byte(r.Body), &dec); err != nil || dec.ID == 0 {
		t.Fatalf("decide: %s %v", r.Body, err)
	}
	r = post(`{"dataset":"orders","outcome":"fallback","duration_seconds":42.5,"error":"engine: out of memory","reporter":"maestro dm-orders"}`)
	if r.Code != 201 {
		t.Fatalf("fallback: %d %s", r.Code, r.Body)
	}
	var rec OutcomeRecord
	if err := json.Unmarshal([]byte(r.Body), &rec); err != nil {
		t.Fatal(err)
	}
	if rec.Path != PathNew || rec.Cohort != "early" || rec.Movement != "orders" || rec.DecisionID == nil || *rec.DecisionID != dec.ID || rec.AlertError != "" {
		t.Fatalf("fallback record %+v", rec)
	}
	if got := metricValue(t, m, metrics.NameFallbacks, map[string]string{"cohort": "early"}); got != 1 {
		t.Errorf("fallbacks{early} = %v, want 1", got)
	}
	if got := metricValue(t, m, metrics.NameOutcomeDuration, map[string]string{"path": "new", "outcome": "fallback"}); got != 1 {
		t.Errorf("outcome duration observations = %v, want 1", got)
	}
	got := am.WaitForAlerts(t, 30*time.Second, func(as []promtest.AMAlert) bool { return len(as) == 1 }, `alertname="ShadowDeciderFallback"`)
	a := got[0]
	if a.Labels["dataset"] != "orders" || a.Labels["severity"] != "warning" || len(a.Labels) != 3 ||
		!strings.Contains(a.Annotations["description"], "engine: out of memory") || !strings.Contains(a.Annotations["description"], "cohort early") {
		t.Fatalf("alert %+v", a)
	}
	// The executor's call does the same, through Go.
	rec, err := d.RecordFallback(ctx, "orders", dec.ID, 3*time.Second, context.DeadlineExceeded)
	if err != nil || rec.Outcome != OutcomeFallback || rec.Error != "context deadline exceeded" || rec.Reporter != "shadow execute" {
		t.Fatalf("RecordFallback: %+v %v", rec, err)
	}
	if got := metricValue(t, m, metrics.NameFallbacks, map[string]string{"cohort": "early"}); got != 2 {
		t.Errorf("fallbacks{early} = %v, want 2", got)
	}
	// The next success on the new path resolves the alert.
	if r := post(`{"dataset":"orders","path":"new","outcome":"success","duration_seconds":30}`); r.Code != 201 {
		t.Fatalf("success: %d %s", r.Code, r.Body)
	}
	am.WaitForAlerts(t, 30*time.Second, func(as []promtest.AMAlert) bool { return len(as) == 0 }, `alertname="ShadowDeciderFallback"`)

	// Bad outcomes get 400 and record nothing.
	before := metricValue(t, m, metrics.NameFallbacks, map[string]string{"cohort": "early"})
	for _, c := range []struct{ name, body, msg string }{
		{"not JSON", `dataset=orders`, "want one JSON object"},
		{"unknown field", `{"dataset":"orders","outcome":"fallback","colour":"red"}`, "colour"},
		{"two objects", `{"dataset":"orders","outcome":"fallback"} {}`, "exactly one JSON object"},
		{"bad outcome", `{"dataset":"orders","path":"new","outcome":"meh"}`, "meh"},
		{"no outcome", `{"dataset":"orders","path":"new"}`, "outcome: invalid: missing"},
		{"no path", `{"dataset":"orders","outcome":"success"}`, "path missing"},
		{"fallback on legacy", `{"dataset":"orders","path":"legacy","outcome":"fallback"}`, "report path new"},
		{"connector as path", `{"dataset":"orders","path":"raw","outcome":"success"}`, "raw is a connector"},
		{"negative duration", `{"dataset":"orders","path":"new","outcome":"fallback","duration_seconds":-1}`, "duration_seconds"},
		{"unknown dataset", `{"dataset":"nope","path":"new","outcome":"fallback"}`, "nope"},
		{"unknown decision", `{"dataset":"orders","outcome":"fallback","decision_id":999999}`, "decision_id 999999"},
	} {
		r := post(c.body)
		if r.Code != 400 || !strings.Contains(r.Body, c.msg) {
			t.Errorf("%s: %d %s, want 400 mentioning %q", c.name, r.Code, r.Body, c.msg)
		}
	}
	if after := metricValue(t, m, metrics.NameFallbacks, map[string]string{"cohort": "early"}); after != before {
		t.Errorf("rejected outcomes counted %v fallbacks", after-before)
	}
	if r := call(t, "POST", srv.URL+"/v1/outcomes", "", "text/plain", `{}`); r.Code != http.StatusUnsupportedMediaType {
		t.Errorf("text/plain body: %d", r.Code)
	}
	if r := post(`{"dataset":"orders","outcome":"fallback","error":"` + strings.Repeat("x", 70<<10) + `"}`); r.Code != http.StatusRequestEntityTooLarge {
		t.Errorf("large body: %d", r.Code)
	}
	// History lists the outcomes with the decision they ran under.
	h, total, err := d.History(ctx, HistoryFilter{Movement: "orders"})
	if err != nil || total != 3 || h[2].Action != OutcomeFallback || !strings.HasPrefix(h[2].Decision, "default: ") {
		t.Fatalf("history %d %+v %v", total, h, err)
	}
}

// An unreadable registry answers LEGACY over HTTP too, with 200.
func TestHandlerUnavailable(t *testing.T) {
	d := Unavailable(context.Canceled, Options{Datasets: testFile(t), Logger: slog.New(slog.DiscardHandler)})
	srv := httptest.NewServer(d.Handler(""))
	defer srv.Close()
	r := call(t, "GET", srv.URL+"/v1/decide?"+url.Values{"dataset": {"orders"}}.Encode(), "", "", "")
	if r.Code != 200 || r.Body != "LEGACY" {
		t.Fatalf("%d %q", r.Code, r.Body)
	}
	r = call(t, "POST", srv.URL+"/v1/outcomes", "", "application/json", `{"dataset":"orders","path":"new","outcome":"success"}`)
	if r.Code != http.StatusServiceUnavailable {
		t.Fatalf("outcome without a registry: %d %s", r.Code, r.Body)
	}
}
