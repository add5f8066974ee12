package datasets

import (
	"fmt"
	"math"
	"net/url"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
	"gopkg.in/yaml.v3"

	"github.com/cassmove/shadow/engine/connector"
	"github.com/cassmove/shadow/engine/lake"
	"github.com/cassmove/shadow/engine/ring"
	"github.com/cassmove/shadow/shadow/config"
)

var (
	datasetType = reflect.TypeOf(Dataset{})
	// NamePattern is what a dataset name must look like: usable in a run
	// id (contracts §6), a metric label and a file name.
	NamePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$`)
	// CohortPattern is what a cohort name must look like.
	CohortPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)
	labelName     = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)
)

// reservedLabels are set by the alerts themselves (contracts §7).
var reservedLabels = []string{"alertname", "dataset", "severity"}

// yamlKeys lists the YAML keys of a struct type.
func yamlKeys(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := strings.Split(f.Tag.Get("yaml"), ",")[0]
		if tag == "" || tag == "-" {
			continue
		}
		out[tag] = f.Type
	}
	return out
}

var (
	connectorType = reflect.TypeOf(Connector{})
	columnsType   = reflect.TypeOf(Columns{})
)

// checkKeys reports unknown and repeated keys of a mapping decoded into
// struct type t, recursing into nested structs.
func checkKeys(p *problems, label string, n *yaml.Node, t reflect.Type, prefix string) {
	if n.Kind != yaml.MappingNode {
		if t == connectorType && n.Kind == yaml.ScalarNode {
			return
		}
		if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
			return
		}
		p.add(n.Line, label, strings.TrimSuffix(prefix, "."), "want a mapping")
		return
	}
	keys := yamlKeys(t)
	names := make([]string, 0, len(keys))
	for k := range keys {
		names = append(names, k)
	}
	sort.Strings(names)
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if first, dup := seen[k.Value]; dup {
			p.add(k.Line, label, prefix+k.Value, "repeated key (first at line %d)", first)
			continue
		}
		seen[k.Value] = k.Line
		ft, ok := keys[k.Value]
		if !ok {
			p.add(k.Line, label, prefix+k.Value, "unknown key%s; known keys: %s", Suggest(k.Value, names), strings.Join(names, ", "))
			continue
		}
		if ft.Kind() == reflect.Struct && ft != reflect.TypeOf(time.Time{}) {
			checkKeys(p, label, v, ft, prefix+k.Value+".")
		}
	}
}

// Suggest returns ` (did you mean "x"?)` when got is a near miss of the
// known name x (a small edit distance, case aside), and "" otherwise: the
// hint every "unknown key" or "unknown name" error of shadow ends with.
func Suggest(got string, known []string) string {
	best, bestD := "", math.MaxInt
	for _, k := range known {
		if d := distance(strings.ToLower(got), k); d < bestD {
			best, bestD = k, d
		}
	}
	if best != "" && bestD <= max(2, len(got)/3) {
		return fmt.Sprintf(" (did you mean %q?)", best)
	}
	return ""
}

// distance is the Levenshtein distance.
func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			c := 1
			if a[i-1] == b[j-1] {
				c = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+c)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// validate checks one decoded dataset, fills in defaults and resolved
// values, and reports what is wrong.
func validate(p *problems, label string, n *yaml.Node, d *Dataset, stores map[string]config.Store) {
	bad := func(key, format string, args ...any) {
		p.add(keyLine(n, key), label, key, format, args...)
	}
	missing := func(key, what string) {
		p.add(keyLine(n, key), label, key, "missing: %s", what)
	}

	switch {
	case d.Name == "":
		missing("name", "the data movement id, e.g. name: orders")
	case !NamePattern.MatchString(d.Name):
		bad("name", "%q: want letters, digits, '_', '.' or '-', starting with a letter or digit (at most 128)", d.Name)
	}
	if strings.TrimSpace(d.Owner) == "" {
		missing("owner", "who answers for this dataset (a team or an address)")
	}

	validateSource(p, label, n, &d.Source, stores)

	d.legacyRef = tableRef(bad, missing, "legacy", d.Legacy, "the legacy connector's output table, e.g. iceberg:warehouse.orders")
	d.newRef = tableRef(bad, missing, "new", d.New, "the new engine's output table, e.g. iceberg:shadow.orders")
	if d.legacyRef.Name != "" && d.newRef.Name != "" && d.legacyRef.String() == d.newRef.String() {
		bad("new", "names the same table as legacy (%s); the two sides must be different tables", d.newRef)
	}
	if d.Destination == "" && d.legacyRef.Name != "" {
		d.Destination = d.legacyRef.String()
	}

	// Key columns and normalization.
	keys := map[string]bool{}
	for _, c := range d.Key {
		switch {
		case c == "":
			bad("key", "empty column name")
		case keys[c]:
			bad("key", "column %q named twice", c)
		}
		keys[c] = true
	}
	validateNormalize(p, label, n, &d.Normalize, keys)

	// Schedule.
	if d.Schedule == "" {
		d.Schedule = DefaultSchedule
	}
	if s, err := cron.ParseStandard(d.Schedule); err != nil {
		bad("schedule", "%q is not a cron expression: %v (want 5 fields: minute hour day-of-month month day-of-week, e.g. %q)", d.Schedule, err, DefaultSchedule)
	} else if period, err := schedulePeriod(s); err != nil {
		bad("schedule", "%q: %v", d.Schedule, err)
	} else {
		d.sched, d.period, d.PeriodSeconds = s, period, period.Seconds()
	}

	// Connector.
	if d.Connector.Name == "" {
		d.Connector.Name = DefaultConnector
	}
	if !slices.Contains(Connectors, d.Connector.Name) {
		bad("connector", "unknown connector %q%s; want one of %s", d.Connector.Name, Suggest(d.Connector.Name, Connectors), strings.Join(Connectors, ", "))
	}
	if d.Connector.Name == "raw" && len(d.Connector.Options) > 0 {
		bad("connector.options", "the raw connector takes no options")
	} else if slices.Contains(Connectors, d.Connector.Name) {
		// The connector itself checks its options (unknown keys, bad values).
		if _, err := connector.New(d.Connector.Name, d.Connector.Options); err != nil {
			bad("connector.options", "%v", err)
		}
	}

	// Cohort and labels.
	if d.Cohort != "" && !CohortPattern.MatchString(d.Cohort) {
		bad("cohort", "%q: want letters, digits, '_', '.' or '-', starting with a letter or digit (at most 64)", d.Cohort)
	}
	if d.Cohort == "" {
		d.Cohort = DefaultCohort
	}
	lnames := make([]string, 0, len(d.Labels))
	for k := range d.Labels {
		lnames = append(lnames, k)
	}
	sort.Strings(lnames)
	for _, k := range lnames {
		switch {
		case !labelName.MatchString(k) || strings.HasPrefix(k, "__"):
			bad("labels", "%q is not a Prometheus label name ([a-zA-Z_][a-zA-Z0-9_]*, not starting with __)", k)
		case slices.Contains(reservedLabels, k):
			bad("labels", "%q is set by the alerts themselves; routing labels cannot override %s", k, strings.Join(reservedLabels, ", "))
		}
	}
}

func validateSource(p *problems, label string, n *yaml.Node, s *Source, stores map[string]config.Store) {
	bad := func(key, format string, args ...any) {
		p.add(keyLine(n, "source."+key), label, "source."+key, format, args...)
	}
	if !hasKey(n, "source") {
		p.add(n.Line, label, "source", "missing: where the data comes from (store, keyspace, table, …)")
		return
	}
	// Store: a URI or a configured store's name.
	switch {
	case s.Store == "":
		bad("store", "missing: a store name from shadow.yaml stores:, or a file:/// or s3:// URI")
	case strings.Contains(s.Store, "://"):
		u, err := url.Parse(s.Store)
		switch {
		case err != nil:
			bad("store", "%q is not a URI: %v", s.Store, err)
		case u.Scheme == "file" && u.Path == "":
			bad("store", "%q: want file:///absolute/path", s.Store)
		case u.Scheme == "s3" && u.Host == "":
			bad("store", "%q: want s3://bucket/prefix", s.Store)
		case u.Scheme != "file" && u.Scheme != "s3":
			bad("store", "%q: scheme %q is not supported; want file:// or s3://", s.Store, u.Scheme)
		default:
			s.URI = s.Store
		}
	default:
		st, ok := stores[s.Store]
		if !ok {
			names := make([]string, 0, len(stores))
			for k := range stores {
				names = append(names, k)
			}
			sort.Strings(names)
			known := "shadow.yaml has no stores"
			if len(names) > 0 {
				known = "stores in shadow.yaml: " + strings.Join(names, ", ")
			}
			bad("store", "unknown store %q%s: not a file:// or s3:// URI, and %s", s.Store, Suggest(s.Store, names), known)
			break
		}
		s.URI = st.URI
		if s.Layout == "" {
			s.Layout = st.Layout
		}
		if s.Cluster == "" {
			s.Cluster = st.Cluster
		}
	}
	if s.Keyspace == "" {
		bad("keyspace", "missing: the Cassandra keyspace")
	}
	if s.Table == "" {
		bad("table", "missing: the Cassandra table")
	}
	switch s.Layout {
	case "", "medusa":
	case "priam":
		if s.Cluster == "" {
			bad("cluster", "missing: a Priam store needs the application name as cluster")
		}
	default:
		bad("layout", "%q: want medusa or priam (or leave it out to detect it)", s.Layout)
	}
	if c, err := ring.ParseConsistency(s.Consistency); err != nil {
		bad("consistency", "%q is not a consistency level; want ONE, LOCAL_QUORUM, QUORUM or ALL", s.Consistency)
	} else {
		s.consistency, s.Consistency = c, c.String()
	}
	if s.SnapshotWindow == "" {
		s.window = DefaultSnapshotWindow
	} else if w, err := time.ParseDuration(s.SnapshotWindow); err != nil || w <= 0 {
		bad("snapshot_window", "%q: want a positive Go duration such as 6h", s.SnapshotWindow)
	} else {
		s.window = w
	}
	s.SnapshotWindow = s.window.String()

	switch s.TTLReference {
	case "":
		s.TTLReference = DefaultTTLReference
	case TTLSnapshot, TTLAsOf, TTLRunStart:
	default:
		t, err := lake.ParseTime(s.TTLReference)
		if err != nil {
			bad("ttl_reference", "%q: want snapshot, as_of, run_start or an RFC 3339 time", s.TTLReference)
		} else {
			s.ttlFixed = t
		}
	}

	switch {
	case s.AsOf == "":
		s.AsOf = DefaultAsOf
	case s.AsOf == AsOfScheduled || s.AsOf == AsOfNow:
	case strings.HasPrefix(s.AsOf, AsOfScheduled+"-"):
		d, err := time.ParseDuration(strings.TrimPrefix(s.AsOf, AsOfScheduled+"-"))
		if err != nil || d <= 0 {
			bad("as_of", "%q: want scheduled-DURATION with a positive Go duration, e.g. scheduled-2h", s.AsOf)
		} else {
			s.asOfOffset = d
		}
	default:
		t, err := lake.ParseTime(s.AsOf)
		if err != nil {
			bad("as_of", "%q: want scheduled, scheduled-DURATION (scheduled-2h), now or an RFC 3339 time", s.AsOf)
		} else {
			s.asOfFixed = t
		}
	}
}

func hasKey(m *yaml.Node, key string) bool {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return true
		}
	}
	return false
}

// tableRef parses an output table: iceberg:NS.TABLE or NS.TABLE.
func tableRef(bad func(string, string, ...any), missing func(string, string), key, s, what string) lake.TableRef {
	if s == "" {
		missing(key, what)
		return lake.TableRef{}
	}
	body := s
	if scheme, rest, ok := strings.Cut(s, ":"); ok {
		if scheme != "iceberg" {
			bad(key, "%q: want an Iceberg table, iceberg:NS.TABLE", s)
			return lake.TableRef{}
		}
		body = rest
	}
	ref, err := lake.ParseTableRef(body)
	if err != nil {
		bad(key, "%q is not a table reference: want iceberg:NS.TABLE", s)
		return lake.TableRef{}
	}
	if ref.Snapshot != nil || ref.AsOf != nil {
		bad(key, "%q: an output table takes no @snapshot; each run reads the snapshot it wrote (set source.as_of for the backup)", s)
		return lake.TableRef{}
	}
	return ref
}

func validateNormalize(p *problems, label string, n *yaml.Node, r *Normalize, keys map[string]bool) {
	bad := func(key, format string, args ...any) {
		p.add(keyLine(n, "normalize."+key), label, "normalize."+key, format, args...)
	}
	ignored := map[string]bool{}
	for _, c := range r.Ignore {
		switch {
		case c == "":
			bad("ignore", "empty column name")
		case ignored[c]:
			bad("ignore", "column %q named twice", c)
		case keys[c]:
			bad("ignore", "column %q is a key column; a key cannot be ignored", c)
		}
		ignored[c] = true
	}
	also := func(rule, c string) {
		if c == "" {
			bad(rule, "empty column name")
		} else if ignored[c] {
			bad(rule, "column %q is also ignored; a rule on an ignored column never applies", c)
		}
	}
	for _, c := range sortedKeys(r.Truncate) {
		also("truncate", c)
		if u := r.Truncate[c]; u != "ms" && u != "s" {
			bad("truncate", "%s=%s: want ms or s", c, u)
		}
	}
	seen := map[string]bool{}
	for _, c := range r.EmptyAsNull {
		also("empty_as_null", c)
		if seen[c] {
			bad("empty_as_null", "column %q named twice", c)
		}
		seen[c] = true
	}
	for _, c := range sortedKeys(r.Round) {
		also("round", c)
		if v := r.Round[c]; v < 0 || v > 30 {
			bad("round", "%s=%d: want 0 to 30 decimal places", c, v)
		}
	}
	for _, c := range sortedKeys(r.Tolerance) {
		also("tolerance", c)
		if keys[c] {
			bad("tolerance", "column %q is a key column; rows are paired by key, so a key has no tolerance", c)
		}
		e := r.Tolerance[c]
		if f, err := strconv.ParseFloat(e, 64); err == nil {
			if f < 0 || math.IsNaN(f) || math.IsInf(f, 0) {
				bad("tolerance", "%s=%s: want a non-negative number", c, e)
			}
		} else if d, err := time.ParseDuration(e); err != nil || d < 0 {
			bad("tolerance", "%s=%s: want a non-negative number, or a Go duration such as 1ms for times", c, e)
		}
	}
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// periodReference is where the schedule period is measured from; a fixed
// instant keeps the period independent of when shadow starts.
var periodReference = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

const (
	periodSpan     = 400 * 24 * time.Hour // a year and a bit: weekly, monthly and yearly schedules repeat
	periodMaxFires = 10000
)

// schedulePeriod is the longest gap between consecutive fire times over a
// year from periodReference (or its first 10,000 fire times), so that a
// weekday-only schedule has a period of 3 days and a nightly one of 24h.
func schedulePeriod(s cron.Schedule) (time.Duration, error) {
	prev := s.Next(periodReference)
	if prev.IsZero() {
		return 0, fmt.Errorf("never fires")
	}
	end := periodReference.Add(periodSpan)
	var longest time.Duration
	for i := 0; i < periodMaxFires; i++ {
		next := s.Next(prev)
		if next.IsZero() {
			break
		}
		longest = max(longest, next.Sub(prev))
		if next.After(end) {
			break
		}
		prev = next
	}
	if longest == 0 {
		return 0, fmt.Errorf("fires only once")
	}
	return longest, nil
}
