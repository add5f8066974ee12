package metrics

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/push"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"google.golang.org/protobuf/proto"
)

// DefaultJob is the job label of pushed groups.
const DefaultJob = "shadow"

// PushConfig says where a one-shot run pushes its metrics.
type PushConfig struct {
	URL     string // Pushgateway base URL, e.g. http://127.0.0.1:9091
	Job     string // job label of the group; DefaultJob if empty
	Dataset string // the group's dataset label; the run's dataset
	Client  *http.Client
	// Attempts bounds the tries of a push that fails for a reason worth
	// retrying (network, 5xx); 3 if zero. Backoff doubles from 500ms.
	Attempts int
}

// Push sends the dataset's metrics to a Pushgateway group {job, dataset}
// with push-add semantics (HTTP POST), which replaces only the metric
// families it sends. So that a failed run never wipes what earlier runs
// pushed, Push sends only:
//   - the families this process changed since its last successful push (a
//     failed run changes the last completion but not the last success, nor
//     the diff gauges), and
//   - the families the group does not have yet, with their initial values,
//     so that every series exists on the gateway too (contracts §7).
//
// Counters and the outcome histogram accumulate across one-shot processes:
// Push reads the group's current values from the gateway and adds what this
// process counted since its last push. Two one-shot runs of the same dataset
// must therefore not push at the same moment (the runner never overlaps runs
// of a dataset). Metrics without a dataset label (object store, decider) go
// into the group of the dataset the process pushes for.
//
// Prometheus must scrape the Pushgateway with honor_labels: true so that the
// pushed job and dataset labels are kept.
func (m *Metrics) Push(ctx context.Context, pc PushConfig) error {
	if pc.URL == "" {
		return fmt.Errorf("metrics: push: no Pushgateway URL: %w", ErrInvalid)
	}
	pc.URL = strings.TrimRight(pc.URL, "/")
	if pc.Job == "" {
		pc.Job = DefaultJob
	}
	if pc.Client == nil {
		pc.Client = &http.Client{Timeout: 30 * time.Second}
	}
	if pc.Attempts <= 0 {
		pc.Attempts = 3
	}
	m.mu.Lock()
	_, ok := m.datasets[pc.Dataset]
	m.mu.Unlock()
	if !ok {
		return fmt.Errorf("metrics: push of dataset %q: %w", pc.Dataset, ErrUnknownDataset)
	}
	delay := 500 * time.Millisecond
	for attempt := 1; ; attempt++ {
		err := m.pushOnce(ctx, pc)
		if err == nil {
			return nil
		}
		var perm permanentError
		if errors.As(err, &perm) || attempt >= pc.Attempts || ctx.Err() != nil {
			return fmt.Errorf("metrics: push of dataset %s to %s (attempt %d of %d): %w", pc.Dataset, pc.URL, attempt, pc.Attempts, err)
		}
		m.log.Warn("metrics: push failed; retrying", "dataset", pc.Dataset, "pushgateway", pc.URL, "attempt", attempt, "err", err)
		select {
		case <-ctx.Done():
			return fmt.Errorf("metrics: push of dataset %s to %s: %w (after %v)", pc.Dataset, pc.URL, ctx.Err(), err)
		case <-time.After(delay):
		}
		delay *= 2
	}
}

// permanentError is a push the gateway refused (4xx): retrying cannot help.
type permanentError struct{ err error }

func (e permanentError) Error() string { return e.err.Error() }
func (e permanentError) Unwrap() error { return e.err }

// statusDoer remembers the status code of the push request.
type statusDoer struct {
	c      *http.Client
	status int
}

func (d *statusDoer) Do(r *http.Request) (*http.Response, error) {
	resp, err := d.c.Do(r)
	if err == nil {
		d.status = resp.StatusCode
	}
	return resp, err
}

func (m *Metrics) pushOnce(ctx context.Context, pc PushConfig) error {
	gw, err := readGroup(ctx, pc)
	if err != nil {
		return err
	}
	m.mu.Lock()
	mfs, err := m.reg.Gather()
	if err != nil {
		m.mu.Unlock()
		return fmt.Errorf("gathering: %w", err)
	}
	plan := m.planPush(pc.Dataset, mfs, gw)
	m.mu.Unlock()
	if len(plan.families) == 0 {
		return nil
	}
	doer := &statusDoer{c: pc.Client}
	err = push.New(pc.URL, pc.Job).
		Grouping(labelDataset, pc.Dataset).
		Client(doer).
		Gatherer(prometheus.GathererFunc(func() ([]*dto.MetricFamily, error) { return plan.families, nil })).
		AddContext(ctx)
	if err != nil {
		if doer.status >= 400 && doer.status < 500 {
			return permanentError{err}
		}
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for k, g := range plan.dirty {
		if m.push.dirty[k] == g { // not changed again while pushing
			delete(m.push.dirty, k)
		}
	}
	for k, v := range plan.sent {
		m.push.sent[k] = v
	}
	return nil
}

// pushState is the bookkeeping of Push.
type pushState struct {
	gen   uint64
	dirty map[famKey]uint64      // families changed since their last successful push
	sent  map[string]*dto.Metric // counter and histogram series → local value at the last push
}

type famKey struct{ dataset, family string } // dataset "" for families without that label

func (p *pushState) init() {
	p.dirty = map[famKey]uint64{}
	p.sent = map[string]*dto.Metric{}
}

// markDirty records that families changed. m.mu is held.
func (m *Metrics) markDirty(dataset string, families ...string) {
	m.push.gen++
	for _, f := range families {
		m.push.dirty[famKey{dataset, f}] = m.push.gen
	}
}

type pushPlan struct {
	families []*dto.MetricFamily
	dirty    map[famKey]uint64
	sent     map[string]*dto.Metric
}

// planPush chooses and computes the families to push. m.mu is held.
func (m *Metrics) planPush(dataset string, mfs []*dto.MetricFamily, gw map[string]*dto.MetricFamily) pushPlan {
	plan := pushPlan{dirty: map[famKey]uint64{}, sent: map[string]*dto.Metric{}}
	for _, mf := range mfs {
		name := mf.GetName()
		if !strings.HasPrefix(name, "shadow_") {
			continue
		}
		key := famKey{family: name}
		if perDatasetNames[name] {
			key.dataset = dataset
		}
		var local []*dto.Metric
		for _, mt := range mf.GetMetric() {
			if key.dataset != "" {
				if labelValue(mt, labelDataset) != dataset {
					continue
				}
				mt = withoutLabels(mt, labelDataset)
			}
			local = append(local, mt)
		}
		if len(local) == 0 {
			continue
		}
		gen, dirty := m.push.dirty[key]
		gwf := gw[name]
		if !dirty && gwf != nil {
			continue // unchanged here; the gateway's value stands
		}
		if dirty {
			plan.dirty[key] = gen
		}
		gwSeries := map[string]*dto.Metric{}
		if gwf != nil && gwf.GetType() == mf.GetType() {
			for _, gm := range gwf.GetMetric() {
				gm = withoutLabels(gm, "job", labelDataset)
				if labelValue(gm, "instance") == "" {
					gm = withoutLabels(gm, "instance")
				}
				gwSeries[labelsKey(gm)] = gm
			}
		}
		out := &dto.MetricFamily{Name: mf.Name, Help: mf.Help, Type: mf.Type}
		for _, lm := range local {
			lk := labelsKey(lm)
			sk := key.dataset + "\xff" + name + "\xff" + lk
			prev, cur := m.push.sent[sk], gwSeries[lk]
			delete(gwSeries, lk)
			switch mf.GetType() {
			case dto.MetricType_COUNTER:
				v := lm.GetCounter().GetValue() - prev.GetCounter().GetValue() + cur.GetCounter().GetValue()
				out.Metric = append(out.Metric, &dto.Metric{Label: lm.Label, Counter: &dto.Counter{Value: proto.Float64(v)}})
				plan.sent[sk] = lm
			case dto.MetricType_HISTOGRAM:
				out.Metric = append(out.Metric, &dto.Metric{Label: lm.Label, Histogram: addHistograms(lm.GetHistogram(), prev.GetHistogram(), cur.GetHistogram())})
				plan.sent[sk] = lm
			default:
				out.Metric = append(out.Metric, lm)
			}
		}
		// Series only the gateway has (pushed by another process) survive
		// the replacement of their family.
		for _, k := range sortedKeys(gwSeries) {
			out.Metric = append(out.Metric, gwSeries[k])
		}
		plan.families = append(plan.families, out)
	}
	return plan
}

// addHistograms returns local − prev + gw, bucket by bucket.
func addHistograms(local, prev, gw *dto.Histogram) *dto.Histogram {
	count := func(h *dto.Histogram) float64 {
		return float64(h.GetSampleCount()) + h.GetSampleCountFloat()
	}
	bucket := func(h *dto.Histogram, ub float64) float64 {
		for _, b := range h.GetBucket() {
			if b.GetUpperBound() == ub {
				return float64(b.GetCumulativeCount()) + b.GetCumulativeCountFloat()
			}
		}
		return 0
	}
	out := &dto.Histogram{
		SampleCount: proto.Uint64(uint64(count(local) - count(prev) + count(gw))),
		SampleSum:   proto.Float64(local.GetSampleSum() - prev.GetSampleSum() + gw.GetSampleSum()),
	}
	for _, b := range local.GetBucket() {
		ub := b.GetUpperBound()
		v := bucket(local, ub) - bucket(prev, ub) + bucket(gw, ub)
		out.Bucket = append(out.Bucket, &dto.Bucket{UpperBound: proto.Float64(ub), CumulativeCount: proto.Uint64(uint64(v))})
	}
	return out
}

// readGroup returns the shadow_ families of the group {job, dataset} as the
// gateway exposes them now.
func readGroup(ctx context.Context, pc PushConfig) (map[string]*dto.MetricFamily, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, pc.URL+"/metrics", nil)
	if err != nil {
		return nil, permanentError{err}
	}
	req.Header.Set("Accept", string(expfmt.NewFormat(expfmt.TypeTextPlain)))
	resp, err := pc.Client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("reading the group's current values: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		err := fmt.Errorf("reading the group's current values: GET %s/metrics: HTTP %d: %s", pc.URL, resp.StatusCode, b)
		if resp.StatusCode >= 400 && resp.StatusCode < 500 {
			return nil, permanentError{err}
		}
		return nil, err
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	all, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("reading the group's current values: parsing %s/metrics: %w", pc.URL, err)
	}
	out := map[string]*dto.MetricFamily{}
	for name, mf := range all {
		if !strings.HasPrefix(name, "shadow_") {
			continue
		}
		var keep []*dto.Metric
		for _, mt := range mf.GetMetric() {
			if labelValue(mt, "job") == pc.Job && labelValue(mt, labelDataset) == pc.Dataset && labelValue(mt, "instance") == "" {
				keep = append(keep, mt)
			}
		}
		if len(keep) > 0 {
			out[name] = &dto.MetricFamily{Name: mf.Name, Help: mf.Help, Type: mf.Type, Metric: keep}
		}
	}
	return out, nil
}

func labelValue(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// withoutLabels returns a shallow copy of m without the named labels.
func withoutLabels(m *dto.Metric, names ...string) *dto.Metric {
	c := &dto.Metric{Gauge: m.Gauge, Counter: m.Counter, Histogram: m.Histogram, Summary: m.Summary, Untyped: m.Untyped}
	for _, l := range m.GetLabel() {
		if !slices.Contains(names, l.GetName()) {
			c.Label = append(c.Label, l)
		}
	}
	return c
}

// labelsKey identifies a series by its labels, in name order.
func labelsKey(m *dto.Metric) string {
	ls := slices.Clone(m.GetLabel())
	slices.SortFunc(ls, func(a, b *dto.LabelPair) int { return strings.Compare(a.GetName(), b.GetName()) })
	var b strings.Builder
	for _, l := range ls {
		b.WriteString(l.GetName())
		b.WriteByte('=')
		b.WriteString(l.GetValue())
		b.WriteByte('\xff')
	}
	return b.String()
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}
