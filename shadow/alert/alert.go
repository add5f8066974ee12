// Package alert sends the runner's own alerts, so that an alert goes out even
// with no Prometheus in between (issue 6, contracts §7):
//
//	runner ──NotifyRun / NotifyFallback──▶ Notifier ──POST /api/v2/alerts──▶ Alertmanager
//	                                              └──POST JSON (optional)───▶ generic webhook
//
// Alerts carry the same alertname and the labels dataset and severity as the
// Prometheus rules in dashboards/, so Alertmanager deduplicates the two
// sources into one alert. A firing alert is posted with endsAt in the future
// (Hold), so that it stays active between nightly runs without being
// re-posted; the next clean run resolves it by posting the same labels with
// endsAt = now.
//
// Delivery retries with exponential backoff on network errors, 429 and 5xx.
// Errors are returned for the caller to log: an alert that cannot be
// delivered never changes a run's result.
package alert

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/common/model"
)

// Alert names (contracts §7). ShadowDatasetStale and ShadowObjectStoreErrors
// come only from the Prometheus rules.
const (
	NameDifferenceDetected = "ShadowDifferenceDetected"
	NameRunFailed          = "ShadowRunFailed"
	NameDatasetStale       = "ShadowDatasetStale"
	NameObjectStoreErrors  = "ShadowObjectStoreErrors"
	NameDeciderFallback    = "ShadowDeciderFallback"
)

// Names lists every alert of the service.
var Names = []string{NameDifferenceDetected, NameRunFailed, NameDatasetStale, NameObjectStoreErrors, NameDeciderFallback}

// Severities (monitoring-mixins: critical pages, warning makes a ticket).
const (
	SeverityCritical = "critical"
	SeverityWarning  = "warning"
)

var severities = map[string]string{
	NameDifferenceDetected: SeverityCritical,
	NameRunFailed:          SeverityWarning,
	NameDatasetStale:       SeverityWarning,
	NameObjectStoreErrors:  SeverityWarning,
	NameDeciderFallback:    SeverityWarning,
}

// summaries are the static summary annotations, shared word for word with
// the Prometheus rules (a test in dashboards/ checks that).
var summaries = map[string]string{
	NameDifferenceDetected: "A shadow run found rows that differ between the legacy and the new output.",
	NameRunFailed:          "A shadow run failed.",
	NameDatasetStale:       "A dataset has had no successful shadow run for two schedule periods.",
	NameObjectStoreErrors:  "Object-store requests are failing.",
	NameDeciderFallback:    "A data movement fell back from the new path to the legacy one.",
}

// Severity returns the severity of a known alert ("" for others).
func Severity(name string) string { return severities[name] }

// Summary returns the summary annotation of a known alert ("" for others).
func Summary(name string) string { return summaries[name] }

// DefaultRunbookBase is the runbook in the repository; each alert has a
// section whose anchor is its lower-cased name.
const DefaultRunbookBase = "https://github.com/cassmove/shadow/blob/main/docs/runbook.md"

// RunbookURL returns base#<alertname in lower case>, the kubernetes-mixin
// convention.
func RunbookURL(base, name string) string {
	if base == "" {
		base = DefaultRunbookBase
	}
	return base + "#" + strings.ToLower(name)
}

// DefaultHold is how long a fired alert stays active when nothing resolves
// or re-posts it.
const DefaultHold = 48 * time.Hour

// maxDescription bounds a description, which may quote an error.
const maxDescription = 2048

// ErrInvalid marks an alert that cannot be sent as given.
var ErrInvalid = errors.New("invalid alert")

// Alert is one alert to fire or resolve.
type Alert struct {
	Name    string // alertname
	Dataset string // the dataset label; "" for none
	// Labels are extra labels. Alertmanager identifies an alert by its whole
	// label set, so an alert with extra labels is not deduplicated against
	// the rule's alert, which has only alertname, dataset and severity.
	Labels       map[string]string
	Summary      string // default Summary(Name)
	Description  string
	RunbookURL   string // default RunbookURL(Notifier.RunbookBase, Name)
	GeneratorURL string
	StartsAt     time.Time // default now
	// EndsAt is when a fired alert resolves by itself; zero means now +
	// Notifier.Hold. Resolve ignores it and uses now.
	EndsAt time.Time
}

// Notifier delivers alerts. The zero value delivers nothing; set
// Alertmanager, Webhook or both.
type Notifier struct {
	Alertmanager string // base URL, e.g. http://127.0.0.1:9093
	Webhook      string // URL that receives a JSON POST per Fire or Resolve
	RunbookBase  string // default DefaultRunbookBase
	Hold         time.Duration
	Client       *http.Client // default: 10 s timeout per request
	Attempts     int          // tries per endpoint; default 4
	Backoff      time.Duration
	Logger       *slog.Logger
	Now          func() time.Time
}

func (n *Notifier) now() time.Time {
	if n.Now != nil {
		return n.Now()
	}
	return time.Now()
}

// Fire posts alerts as firing.
func (n *Notifier) Fire(ctx context.Context, alerts ...Alert) error {
	return n.send(ctx, alerts, false)
}

// Resolve posts alerts as resolved (endsAt = now). The labels must be those
// the alerts fired with.
func (n *Notifier) Resolve(ctx context.Context, alerts ...Alert) error {
	return n.send(ctx, alerts, true)
}

// postable is an alert in Alertmanager's API v2 shape (postableAlert).
type postable struct {
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations"`
	StartsAt     time.Time         `json:"startsAt"`
	EndsAt       time.Time         `json:"endsAt"`
	GeneratorURL string            `json:"generatorURL,omitempty"`
}

// WebhookMessage is the JSON body POSTed to the generic webhook. It follows
// Alertmanager's own webhook payload (version 4), so receivers written for
// Alertmanager accept it.
type WebhookMessage struct {
	Version           string            `json:"version"`
	Status            string            `json:"status"` // firing or resolved
	Receiver          string            `json:"receiver"`
	GroupLabels       map[string]string `json:"groupLabels"`
	CommonLabels      map[string]string `json:"commonLabels"`
	CommonAnnotations map[string]string `json:"commonAnnotations"`
	ExternalURL       string            `json:"externalURL"`
	Alerts            []WebhookAlert    `json:"alerts"`
}

// WebhookAlert is one alert of a WebhookMessage.
type WebhookAlert struct {
	Status       string            `json:"status"`
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations"`
	StartsAt     time.Time         `json:"startsAt"`
	EndsAt       time.Time         `json:"endsAt"`
	GeneratorURL string            `json:"generatorURL"`
}

func (n *Notifier) build(a Alert, resolve bool, now time.Time) (postable, error) {
	if a.Name == "" {
		return postable{}, fmt.Errorf("alert: no alertname: %w", ErrInvalid)
	}
	labels := map[string]string{model.AlertNameLabel: a.Name}
	if a.Dataset != "" {
		labels["dataset"] = a.Dataset
	}
	if s := Severity(a.Name); s != "" {
		labels["severity"] = s
	}
	for k, v := range a.Labels {
		if _, taken := labels[k]; taken || k == "severity" || k == "dataset" {
			return postable{}, fmt.Errorf("alert %s: extra label %s would replace a standard one: %w", a.Name, k, ErrInvalid)
		}
		if !model.LabelName(k).IsValidLegacy() || strings.HasPrefix(k, "__") {
			return postable{}, fmt.Errorf("alert %s: label name %q: %w: want [a-zA-Z_][a-zA-Z0-9_]*", a.Name, k, ErrInvalid)
		}
		if v == "" {
			continue // an empty label is no label
		}
		labels[k] = v
	}
	for k, v := range labels {
		if !model.LabelValue(v).IsValid() {
			return postable{}, fmt.Errorf("alert %s: label %s: value is not UTF-8: %w", a.Name, k, ErrInvalid)
		}
	}
	ann := map[string]string{
		"summary":     a.Summary,
		"description": truncate(a.Description, maxDescription),
		"runbook_url": a.RunbookURL,
	}
	if ann["summary"] == "" {
		ann["summary"] = Summary(a.Name)
	}
	if ann["runbook_url"] == "" {
		ann["runbook_url"] = RunbookURL(n.RunbookBase, a.Name)
	}
	for k, v := range ann {
		if v == "" {
			delete(ann, k)
		}
	}
	p := postable{Labels: labels, Annotations: ann, StartsAt: a.StartsAt, EndsAt: a.EndsAt, GeneratorURL: a.GeneratorURL}
	if resolve {
		p.EndsAt = now
		if p.StartsAt.IsZero() || p.StartsAt.After(now) {
			p.StartsAt = now
		}
		return p, nil
	}
	if p.StartsAt.IsZero() {
		p.StartsAt = now
	}
	if p.EndsAt.IsZero() {
		hold := n.Hold
		if hold <= 0 {
			hold = DefaultHold
		}
		p.EndsAt = now.Add(hold)
	}
	if !p.EndsAt.After(now) {
		return postable{}, fmt.Errorf("alert %s: firing alert ends at %s, not after now: %w", a.Name, p.EndsAt.Format(time.RFC3339), ErrInvalid)
	}
	return p, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n - len("…")
	for cut > 0 && !utf8Start(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

func utf8Start(b byte) bool { return b&0xC0 != 0x80 }

func (n *Notifier) send(ctx context.Context, alerts []Alert, resolve bool) error {
	if len(alerts) == 0 || (n.Alertmanager == "" && n.Webhook == "") {
		return nil
	}
	now := n.now()
	ps := make([]postable, 0, len(alerts))
	for _, a := range alerts {
		p, err := n.build(a, resolve, now)
		if err != nil {
			return err
		}
		ps = append(ps, p)
	}
	var errs []error
	if n.Alertmanager != "" {
		body, err := json.Marshal(ps)
		if err != nil {
			return err
		}
		u := strings.TrimRight(n.Alertmanager, "/") + "/api/v2/alerts"
		if err := n.post(ctx, "alertmanager", u, body); err != nil {
			errs = append(errs, err)
		}
	}
	if n.Webhook != "" {
		body, err := json.Marshal(webhookMessage(ps, resolve))
		if err != nil {
			return err
		}
		if err := n.post(ctx, "webhook", n.Webhook, body); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func webhookMessage(ps []postable, resolve bool) WebhookMessage {
	status := "firing"
	if resolve {
		status = "resolved"
	}
	m := WebhookMessage{Version: "4", Status: status, Receiver: "shadow", GroupLabels: map[string]string{},
		CommonLabels:      common(ps, func(p postable) map[string]string { return p.Labels }),
		CommonAnnotations: common(ps, func(p postable) map[string]string { return p.Annotations })}
	for _, p := range ps {
		m.Alerts = append(m.Alerts, WebhookAlert{Status: status, Labels: p.Labels, Annotations: p.Annotations,
			StartsAt: p.StartsAt, EndsAt: p.EndsAt, GeneratorURL: p.GeneratorURL})
	}
	if v, ok := m.CommonLabels[model.AlertNameLabel]; ok {
		m.GroupLabels[model.AlertNameLabel] = v
	}
	return m
}

// common returns the pairs every alert shares.
func common(ps []postable, get func(postable) map[string]string) map[string]string {
	out := maps.Clone(get(ps[0]))
	for _, p := range ps[1:] {
		m := get(p)
		for k, v := range out {
			if m[k] != v {
				delete(out, k)
			}
		}
	}
	return out
}

// post sends body to url, retrying transient failures with exponential
// backoff.
func (n *Notifier) post(ctx context.Context, what, url string, body []byte) error {
	client := n.Client
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	attempts := n.Attempts
	if attempts <= 0 {
		attempts = 4
	}
	delay := n.Backoff
	if delay <= 0 {
		delay = 250 * time.Millisecond
	}
	log := n.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var last error
	for attempt := 1; attempt <= attempts; attempt++ {
		retry, err := postOnce(ctx, client, url, body)
		if err == nil {
			return nil
		}
		last = err
		if !retry || attempt == attempts || ctx.Err() != nil {
			break
		}
		log.Warn("alert: delivery failed; retrying", "to", what, "url", url, "attempt", attempt, "err", err)
		select {
		case <-ctx.Done():
			return fmt.Errorf("alert: %s %s: %w (after %v)", what, url, ctx.Err(), last)
		case <-time.After(delay):
		}
		delay = min(2*delay, 10*time.Second)
	}
	return fmt.Errorf("alert: %s %s: %w", what, url, last)
}

// retryable statuses: the receiver may accept the same request later.
var retryable = []int{http.StatusTooManyRequests, http.StatusInternalServerError, http.StatusBadGateway,
	http.StatusServiceUnavailable, http.StatusGatewayTimeout}

func postOnce(ctx context.Context, client *http.Client, url string, body []byte) (retry bool, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return false, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return true, err
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
	if resp.StatusCode/100 == 2 {
		return false, nil
	}
	return slices.Contains(retryable, resp.StatusCode) || resp.StatusCode >= 500,
		fmt.Errorf("HTTP %d: %s", resp.StatusCode, bytes.TrimSpace(msg))
}

// Run is a finished run as the runner reports it to NotifyRun.
type Run struct {
	Dataset      string
	RunID        string // contracts §6, e.g. orders/2026-11-24#2
	Status       string // clean, differs, failed or aborted
	OnlyInLegacy int64
	OnlyInNew    int64
	Changed      int64
	Similarity   float64
	Stage        string // the stage a failed run failed in
	Err          error  // why a failed run failed
	// SchedulePeriod, when set, holds a fired alert for 2 periods + 1 h:
	// if no later run resolves or re-fires it by then, ShadowDatasetStale
	// has taken over.
	SchedulePeriod time.Duration
	Labels         map[string]string // extra labels; see Alert.Labels
}

// NotifyRun sends what a finished run means for its alerts:
//   - clean: resolves ShadowDifferenceDetected and ShadowRunFailed;
//   - differs: fires ShadowDifferenceDetected, resolves ShadowRunFailed;
//   - failed or aborted: fires ShadowRunFailed and leaves
//     ShadowDifferenceDetected as it was (nothing was compared).
func (n *Notifier) NotifyRun(ctx context.Context, r Run) error {
	if r.Dataset == "" {
		return fmt.Errorf("alert: run %q without a dataset: %w", r.RunID, ErrInvalid)
	}
	var endsAt time.Time
	if r.SchedulePeriod > 0 {
		endsAt = n.now().Add(2*r.SchedulePeriod + time.Hour)
	}
	diff := Alert{Name: NameDifferenceDetected, Dataset: r.Dataset, Labels: r.Labels, EndsAt: endsAt}
	failed := Alert{Name: NameRunFailed, Dataset: r.Dataset, Labels: r.Labels, EndsAt: endsAt}
	switch r.Status {
	case "clean":
		diff.Description = fmt.Sprintf("Shadow run %s of dataset %s is clean.", r.RunID, r.Dataset)
		failed.Description = diff.Description
		return n.Resolve(ctx, diff, failed)
	case "differs":
		diff.Description = fmt.Sprintf("Shadow run %s of dataset %s found %d rows only in legacy (C−M) and %d only in new (M−C), with %d changed keys; similarity %.6f. Triage: shadow log discrepancies --run %s",
			r.RunID, r.Dataset, r.OnlyInLegacy, r.OnlyInNew, r.Changed, r.Similarity, r.RunID)
		failed.Description = fmt.Sprintf("Shadow run %s of dataset %s completed.", r.RunID, r.Dataset)
		return errors.Join(n.Fire(ctx, diff), n.Resolve(ctx, failed))
	case "failed":
		stage := r.Stage
		if stage == "" {
			stage = "unknown"
		}
		cause := "no error recorded"
		if r.Err != nil {
			cause = r.Err.Error()
		}
		failed.Description = fmt.Sprintf("Shadow run %s of dataset %s failed in stage %s: %s. Details: shadow log show %s",
			r.RunID, r.Dataset, stage, cause, r.RunID)
		return n.Fire(ctx, failed)
	case "aborted":
		failed.Description = fmt.Sprintf("Shadow run %s of dataset %s was aborted: its process died while the run was running. Details: shadow log show %s",
			r.RunID, r.Dataset, r.RunID)
		return n.Fire(ctx, failed)
	}
	return fmt.Errorf("alert: run %s: status %q: %w: want clean, differs, failed or aborted", r.RunID, r.Status, ErrInvalid)
}

// Fallback is a data movement that failed on the new path and ran the legacy
// one (issue 7's fallback executor).
type Fallback struct {
	Dataset string // the data movement's id
	Cohort  string
	Err     error // why the new path failed
	Labels  map[string]string
}

// NotifyFallback fires ShadowDeciderFallback for the dataset. The cohort goes
// into the description, not the labels, so the alert has the labels of
// contracts §7 (alertname, dataset, severity). ResolveFallback clears it when
// the new path next succeeds; otherwise it ends after Hold.
func (n *Notifier) NotifyFallback(ctx context.Context, f Fallback) error {
	if f.Dataset == "" {
		return fmt.Errorf("alert: fallback without a dataset: %w", ErrInvalid)
	}
	cause := "no error recorded"
	if f.Err != nil {
		cause = f.Err.Error()
	}
	cohort := f.Cohort
	if cohort == "" {
		cohort = "default"
	}
	return n.Fire(ctx, Alert{Name: NameDeciderFallback, Dataset: f.Dataset, Labels: f.Labels,
		Description: fmt.Sprintf("Data movement %s (cohort %s) failed on the new path and ran the legacy one: %s. History: shadow decider history",
			f.Dataset, cohort, cause)})
}

// ResolveFallback resolves ShadowDeciderFallback for the dataset.
func (n *Notifier) ResolveFallback(ctx context.Context, dataset string, labels map[string]string) error {
	return n.Resolve(ctx, Alert{Name: NameDeciderFallback, Dataset: dataset, Labels: labels,
		Description: fmt.Sprintf("Data movement %s succeeded on the new path.", dataset)})
}
