// Package datasets reads the datasets file: the list of data movements that
// shadow runs every night (issue 6) and that the decider routes (issue 7).
// A data movement is a dataset of this file; its id is the dataset's name.
//
// The file is found in one of three ways (contracts §5):
//
//	--datasets PATH                          a file named on the command line
//	datasets: ./datasets.yaml  (shadow.yaml)  a path, relative to the config file
//	datasets: [ {name: …}, … ] (shadow.yaml)  the list inline
//
// A datasets file is either a YAML list of datasets or a mapping with the one
// key `datasets:` holding that list. Each dataset:
//
//   - name: orders                      # the data movement id; [A-Za-z0-9][A-Za-z0-9_.-]*
//     owner: payments-data@example.com
//     source:
//     store: archive                  # a store name from shadow.yaml stores:, or file:///…, s3://…
//     cluster: payments               # Priam: the application name; Medusa: optional prefix
//     keyspace: shop
//     table: orders
//     layout: medusa                  # medusa | priam; default: the store's, else detected
//     consistency: LOCAL_QUORUM       # ONE | LOCAL_QUORUM | QUORUM | ALL
//     dc: eu-west                     # the local DC; default the first by name
//     ttl_reference: snapshot         # snapshot | as_of | run_start | an RFC 3339 time
//     snapshot_window: 6h             # node snapshots this close form one backup
//     as_of: scheduled                # scheduled | scheduled-2h | now | an RFC 3339 time
//     legacy: iceberg:warehouse.orders  # the legacy connector's output (C)
//     new: iceberg:shadow.orders        # the new engine's output (M)
//     destination: warehouse.orders     # what the decider matches; default the legacy table
//     key: [order_id]
//     normalize:                        # the rules of `shadow diff` (contracts §2)
//     ignore: [etl_batch]
//     truncate: {updated_at: ms}
//     empty_as_null: [note]
//     round: {amount: 2}
//     tolerance: {score: "0.001", updated_at: 1ms}
//     schedule: "0 2 * * *"             # cron (UTC unless CRON_TZ=…); default nightly at 02:00 UTC
//     connector: raw                    # or {name: keyvalue, options: {…}}
//     provenance: true                  # M also gets _writetime, _ttl_expires_at, _snapshot_time (default false)
//     cohort: early                     # the decider cohort; default "default"
//     labels: {team: payments}          # alert routing labels
//
// Validation reports every problem at once, each naming the file, the line,
// the dataset and the key, and wraps ErrInvalid.
package datasets

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
	"gopkg.in/yaml.v3"

	"github.com/cassmove/shadow/engine/connector"
	"github.com/cassmove/shadow/engine/lake"
	"github.com/cassmove/shadow/engine/ring"
	"github.com/cassmove/shadow/shadow/config"
)

// Sentinel errors; every error of this package wraps one.
var (
	// ErrInvalid marks a datasets file that cannot be used.
	ErrInvalid = errors.New("invalid datasets file")
	// ErrNotFound marks an unknown dataset name.
	ErrNotFound = errors.New("unknown dataset")
	// ErrNotConfigured means no datasets file is configured at all.
	ErrNotConfigured = errors.New("no datasets configured")
)

// Defaults of a dataset's optional fields.
const (
	DefaultSchedule       = "0 2 * * *" // nightly, 02:00 UTC
	DefaultConnector      = "raw"
	DefaultCohort         = "default"
	DefaultConsistency    = "LOCAL_QUORUM"
	DefaultTTLReference   = TTLSnapshot
	DefaultAsOf           = AsOfScheduled
	DefaultSnapshotWindow = 6 * time.Hour // the backup catalog's default (engine/backup)
)

// Connectors lists the connector names a dataset may choose (issue 7). The
// connector is the shape of the engine's output; it is not the decider's
// path.
var Connectors = connector.Names()

// TTL reference rules: which instant decides whether a TTL has expired.
const (
	TTLSnapshot = "snapshot"  // the backup snapshot time (contracts §8)
	TTLAsOf     = "as_of"     // the as-of instant of the run
	TTLRunStart = "run_start" // the wall clock when the run starts (what legacy connectors did)
)

// As-of rules: for which instant the run picks its backup.
const (
	AsOfScheduled = "scheduled" // the run's scheduled time (an ad-hoc run: its start)
	AsOfNow       = "now"       // the run's start
)

// File is a loaded, validated datasets file.
type File struct {
	// Path is the file the datasets were read from (the config file for an
	// inline list); "" when none is configured.
	Path string `json:"path"`
	// Inline is true when the list sits inside shadow.yaml.
	Inline   bool      `json:"inline"`
	Datasets []Dataset `json:"datasets"`
}

// Dataset is one data movement.
type Dataset struct {
	Name        string    `yaml:"name" json:"name"`
	Owner       string    `yaml:"owner" json:"owner"`
	Source      Source    `yaml:"source" json:"source"`
	Legacy      string    `yaml:"legacy" json:"legacy"`
	New         string    `yaml:"new" json:"new"`
	Destination string    `yaml:"destination" json:"destination"`
	Key         Columns   `yaml:"key" json:"key"`
	Normalize   Normalize `yaml:"normalize" json:"normalize"`
	Schedule    string    `yaml:"schedule" json:"schedule"`
	Connector   Connector `yaml:"connector" json:"connector"`
	// Provenance makes the new engine write the provenance columns
	// (_writetime, _ttl_expires_at, _snapshot_time) into the new table; the
	// diff carries them into the discrepancies without comparing them, so
	// that the log can tag ttl-expired-at-reference and newer-write-in-new.
	Provenance bool              `yaml:"provenance" json:"provenance"`
	Cohort     string            `yaml:"cohort" json:"cohort"`
	Labels     map[string]string `yaml:"labels" json:"labels"`

	// PeriodSeconds is the derived schedule period, for
	// shadow_schedule_period_seconds.
	PeriodSeconds float64 `yaml:"-" json:"schedule_period_seconds"`
	// Line is where the dataset starts in Path.
	Line int `yaml:"-" json:"line"`

	sched     cron.Schedule
	period    time.Duration
	legacyRef lake.TableRef
	newRef    lake.TableRef
}

// Source says where a dataset's data comes from and how the engine reads it.
type Source struct {
	// Store is what the file says: a store name or a URI. URI is the
	// resolved URI.
	Store          string `yaml:"store" json:"store"`
	URI            string `yaml:"-" json:"uri"`
	Cluster        string `yaml:"cluster" json:"cluster"`
	Keyspace       string `yaml:"keyspace" json:"keyspace"`
	Table          string `yaml:"table" json:"table"`
	Layout         string `yaml:"layout" json:"layout"`
	Consistency    string `yaml:"consistency" json:"consistency"`
	DC             string `yaml:"dc" json:"dc"`
	TTLReference   string `yaml:"ttl_reference" json:"ttl_reference"`
	SnapshotWindow string `yaml:"snapshot_window" json:"snapshot_window"`
	AsOf           string `yaml:"as_of" json:"as_of"`

	consistency ring.Consistency
	window      time.Duration
	ttlFixed    time.Time
	asOfFixed   time.Time
	asOfOffset  time.Duration
}

// Normalize holds the normalization rules of `shadow diff` (contracts §2).
// Its fields match the diff package's Rules field for field, so a value
// converts directly: diff.Rules(d.Normalize).
type Normalize struct {
	Ignore      []string          `yaml:"ignore" json:"ignore,omitempty"`
	Truncate    map[string]string `yaml:"truncate" json:"truncate,omitempty"` // column → ms | s
	EmptyAsNull []string          `yaml:"empty_as_null" json:"empty_as_null,omitempty"`
	Round       map[string]int    `yaml:"round" json:"round,omitempty"`         // column → decimal places, 0–30
	Tolerance   map[string]string `yaml:"tolerance" json:"tolerance,omitempty"` // column → a number or a Go duration
}

// Empty reports whether no rule is set.
func (n Normalize) Empty() bool {
	return len(n.Ignore) == 0 && len(n.Truncate) == 0 && len(n.EmptyAsNull) == 0 && len(n.Round) == 0 && len(n.Tolerance) == 0
}

// Columns is a list of column names: a YAML list, or one string with
// comma-separated names (contracts §5).
type Columns []string

// UnmarshalYAML accepts a sequence of strings or a comma-separated scalar.
func (c *Columns) UnmarshalYAML(n *yaml.Node) error {
	switch n.Kind {
	case yaml.ScalarNode:
		var out []string
		for _, s := range strings.Split(n.Value, ",") {
			out = append(out, strings.TrimSpace(s))
		}
		*c = out
		return nil
	case yaml.SequenceNode:
		var out []string
		if err := n.Decode(&out); err != nil {
			return err
		}
		*c = out
		return nil
	}
	return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: want a list of column names", n.Line)}}
}

// Connector is the engine's output shape for a dataset and its options. In
// YAML it is a name (`connector: raw`) or a mapping
// (`connector: {name: keyvalue, options: {…}}`).
type Connector struct {
	Name    string         `yaml:"name" json:"name"`
	Options map[string]any `yaml:"options" json:"options,omitempty"`
}

// UnmarshalYAML accepts a scalar name or a {name, options} mapping.
func (c *Connector) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		c.Name = n.Value
		return nil
	}
	type plain Connector
	var p plain
	if err := n.Decode(&p); err != nil {
		return err
	}
	*c = Connector(p)
	return nil
}

// EffectiveCohort is the dataset's cohort, DefaultCohort when none is set.
func (d Dataset) EffectiveCohort() string {
	if d.Cohort == "" {
		return DefaultCohort
	}
	return d.Cohort
}

// SchedulePeriod is the longest gap between two consecutive scheduled runs
// (24h for a nightly cron), for shadow_schedule_period_seconds.
func (d Dataset) SchedulePeriod() time.Duration { return d.period }

// Next returns the first scheduled time after t.
func (d Dataset) Next(t time.Time) time.Time {
	if d.sched == nil {
		return time.Time{}
	}
	return d.sched.Next(t.UTC())
}

// Latest returns the latest scheduled time at or before now: the night a
// run started now belongs to. With no scheduled time in reach it is now.
func (d Dataset) Latest(now time.Time) time.Time {
	period := d.SchedulePeriod()
	if period < time.Hour {
		period = time.Hour
	}
	t := d.Next(now.Add(-2 * period))
	last := t
	for !t.IsZero() && !t.After(now) {
		last = t
		t = d.Next(t)
	}
	if last.After(now) || last.IsZero() {
		return now
	}
	return last
}

// ScheduledOn returns the first scheduled time on day (UTC), or day's
// midnight when the schedule has none that day.
func (d Dataset) ScheduledOn(day time.Time) time.Time {
	t := d.Next(day.Add(-time.Nanosecond))
	if t.IsZero() || Night(t) != Night(day) {
		return day
	}
	return t
}

// Night is the run night of a scheduled time: its date in UTC (contracts §6).
func Night(scheduled time.Time) string { return scheduled.UTC().Format("2006-01-02") }

// LegacyTable and NewTable are the parsed output tables.
func (d Dataset) LegacyTable() lake.TableRef { return d.legacyRef }

// NewTable is the parsed new output table.
func (d Dataset) NewTable() lake.TableRef { return d.newRef }

// ConsistencyLevel is the parsed consistency level.
func (s Source) ConsistencyLevel() ring.Consistency { return s.consistency }

// Window is the snapshot window: node snapshots this close together form
// one cluster backup.
func (s Source) Window() time.Duration { return s.window }

// AsOfTime is the instant the run picks its backup for, given the run's
// scheduled time (an ad-hoc run passes its start) and its start.
func (s Source) AsOfTime(scheduled, start time.Time) time.Time {
	switch {
	case !s.asOfFixed.IsZero():
		return s.asOfFixed
	case s.AsOf == AsOfNow:
		return start.UTC()
	}
	return scheduled.UTC().Add(-s.asOfOffset)
}

// TTLReferenceTime is the instant TTL expiry is judged against, given the
// chosen backup's snapshot time, the as-of instant and the run's start.
func (s Source) TTLReferenceTime(snapshot, asOf, start time.Time) time.Time {
	switch {
	case !s.ttlFixed.IsZero():
		return s.ttlFixed
	case s.TTLReference == TTLAsOf:
		return asOf.UTC()
	case s.TTLReference == TTLRunStart:
		return start.UTC()
	}
	return snapshot.UTC()
}

// Get returns the dataset of that name.
func (f *File) Get(name string) (Dataset, error) {
	for _, d := range f.Datasets {
		if d.Name == name {
			return d, nil
		}
	}
	where := f.Path
	if where == "" {
		where = "no datasets file"
	}
	return Dataset{}, fmt.Errorf("dataset %q: %w (%s has %s)", name, ErrNotFound, where, plural(len(f.Datasets), "dataset"))
}

// Names lists the dataset names in file order.
func (f *File) Names() []string {
	out := make([]string, len(f.Datasets))
	for i, d := range f.Datasets {
		out[i] = d.Name
	}
	return out
}

// Configured reports whether a datasets file or inline list was found.
func (f *File) Configured() bool { return f.Path != "" || f.Inline }

// Load finds and reads the datasets: the file named by override (the
// --datasets flag, relative to the working directory) when set, else the
// config's `datasets:` (a path relative to the config file, or an inline
// list). With neither it returns an empty File whose Configured is false.
func Load(cfg *config.Config, override string) (*File, error) {
	if cfg == nil {
		cfg = &config.Config{}
	}
	if override != "" {
		return ReadFile(override, cfg.Stores)
	}
	n := &cfg.Datasets
	switch n.Kind {
	case 0:
		return &File{}, nil
	case yaml.ScalarNode:
		if n.Tag == "!!null" || n.Value == "" {
			return &File{}, nil
		}
		return ReadFile(cfg.Resolve(n.Value), cfg.Stores)
	case yaml.SequenceNode:
		f, err := decode(n, cfg.Path, cfg.Stores)
		if f != nil {
			f.Inline = true
		}
		return f, err
	}
	where := cfg.Path
	if where == "" {
		where = "config"
	}
	return nil, fmt.Errorf("%s:%d: datasets: %w: want a list of datasets or the path of a datasets file", where, n.Line, ErrInvalid)
}

// ReadFile reads and validates a datasets file. Store names resolve against
// stores (shadow.yaml `stores:`).
func ReadFile(path string, stores map[string]config.Store) (*File, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("datasets file %s: %w: %v", path, ErrInvalid, err)
	}
	return Parse(b, path, stores)
}

// Parse validates the text of a datasets file; path names it in errors.
func Parse(b []byte, path string, stores map[string]config.Store) (*File, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("%s: %w: %v", orFile(path), ErrInvalid, err)
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return nil, fmt.Errorf("%s: %w: the file is empty; want a list of datasets", orFile(path), ErrInvalid)
	}
	root := doc.Content[0]
	if root.Kind == yaml.MappingNode {
		var list *yaml.Node
		var probs problems
		probs.path = path
		for i := 0; i+1 < len(root.Content); i += 2 {
			k := root.Content[i]
			if k.Value == "datasets" {
				list = root.Content[i+1]
				continue
			}
			probs.add(k.Line, "", k.Value, "unknown key at the top of the datasets file%s; want `datasets:` or a bare list", Suggest(k.Value, []string{"datasets"}))
		}
		if list == nil {
			probs.add(root.Line, "", "datasets", "missing: want a list of datasets")
		}
		if err := probs.err(); err != nil {
			return nil, err
		}
		root = list
	}
	if root.Kind != yaml.SequenceNode {
		return nil, fmt.Errorf("%s:%d: %w: want a list of datasets", orFile(path), root.Line, ErrInvalid)
	}
	return decode(root, path, stores)
}

func orFile(p string) string {
	if p == "" {
		return "datasets"
	}
	return p
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}

// decode validates a sequence node of datasets.
func decode(list *yaml.Node, path string, stores map[string]config.Store) (*File, error) {
	p := &problems{path: path}
	f := &File{Path: path}
	seen := map[string]int{} // name → line
	newTables := map[string]string{}
	routes := map[string]string{} // cluster/keyspace/table/destination → dataset
	for i, n := range list.Content {
		label := fmt.Sprintf("#%d", i+1)
		if n.Kind != yaml.MappingNode {
			p.add(n.Line, label, "", "want a mapping with name, owner, source, legacy, new, …")
			continue
		}
		if name := scalarValue(n, "name"); name != "" {
			label = name
		}
		checkKeys(p, label, n, datasetType, "")
		var d Dataset
		if err := n.Decode(&d); err != nil {
			// A type error leaves the rest decoded: report it and go on,
			// so that every problem shows at once.
			var te *yaml.TypeError
			if !errors.As(err, &te) {
				line, msg := splitLine(err.Error(), n.Line)
				p.add(line, label, keyAtLine(n, line, ""), "%s", msg)
				continue
			}
			for _, e := range te.Errors {
				line, msg := splitLine(e, n.Line)
				p.add(line, label, keyAtLine(n, line, ""), "%s", msg)
			}
		}
		d.Line = n.Line
		validate(p, label, n, &d, stores)
		if d.Name != "" {
			if first, dup := seen[d.Name]; dup {
				p.add(keyLine(n, "name"), label, "name", "duplicate: the dataset %q is already defined at line %d", d.Name, first)
			} else {
				seen[d.Name] = n.Line
			}
		}
		if d.New != "" && d.newRef.Name != "" {
			t := d.newRef.String()
			if other, dup := newTables[t]; dup && other != d.Name {
				p.add(keyLine(n, "new"), label, "new", "table %s is already the new output of dataset %q; two runs would write one table", t, other)
			} else {
				newTables[t] = d.Name
			}
		}
		if d.Source.Keyspace != "" && d.Source.Table != "" {
			r := strings.Join([]string{d.Source.Cluster, d.Source.Keyspace, d.Source.Table, d.Destination}, "\x00")
			if other, dup := routes[r]; dup && other != d.Name {
				p.add(keyLine(n, "destination"), label, "destination", "dataset %q has the same cluster, keyspace, table and destination; the decider could not tell the two apart (set destination)", other)
			} else {
				routes[r] = d.Name
			}
		}
		f.Datasets = append(f.Datasets, d)
	}
	if err := p.err(); err != nil {
		return nil, err
	}
	return f, nil
}

// splitLine takes "line N: msg" apart.
func splitLine(s string, def int) (int, string) {
	s = strings.TrimPrefix(s, "yaml: ")
	var line int
	if _, err := fmt.Sscanf(s, "line %d:", &line); err == nil {
		if _, rest, ok := strings.Cut(s, ": "); ok {
			return line, rest
		}
	}
	return def, s
}

func scalarValue(m *yaml.Node, key string) string {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key && m.Content[i+1].Kind == yaml.ScalarNode {
			return m.Content[i+1].Value
		}
	}
	return ""
}

// keyAtLine names the deepest key of a mapping whose key or value starts at
// line, for decoder messages that give only a line.
func keyAtLine(m *yaml.Node, line int, prefix string) string {
	if m.Kind != yaml.MappingNode {
		return ""
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		if deeper := keyAtLine(v, line, prefix+k.Value+"."); deeper != "" {
			return deeper
		}
		if k.Line == line || v.Line == line {
			return prefix + k.Value
		}
	}
	return ""
}

// keyLine is the line of a (possibly dotted) key inside a mapping, or the
// line of the nearest enclosing mapping when the key is absent.
func keyLine(m *yaml.Node, dotted string) int {
	cur := m
	parts := strings.Split(dotted, ".")
	for i, part := range parts {
		if cur.Kind != yaml.MappingNode {
			return cur.Line
		}
		var next *yaml.Node
		for j := 0; j+1 < len(cur.Content); j += 2 {
			if cur.Content[j].Value == part {
				if i == len(parts)-1 {
					return cur.Content[j].Line
				}
				next = cur.Content[j+1]
				break
			}
		}
		if next == nil {
			return cur.Line
		}
		cur = next
	}
	return cur.Line
}

// Problem is one thing wrong with a datasets file.
type Problem struct {
	Path    string `json:"path"`
	Line    int    `json:"line"`
	Dataset string `json:"dataset"` // its name, or #N when it has none
	Key     string `json:"key"`     // dotted: source.consistency
	Message string `json:"message"`
}

func (p Problem) String() string {
	var b strings.Builder
	b.WriteString(orFile(p.Path))
	if p.Line > 0 {
		fmt.Fprintf(&b, ":%d", p.Line)
	}
	b.WriteString(": ")
	if p.Dataset != "" {
		fmt.Fprintf(&b, "dataset %s: ", quoteLabel(p.Dataset))
	}
	if p.Key != "" {
		b.WriteString(p.Key + ": ")
	}
	b.WriteString(p.Message)
	return b.String()
}

func quoteLabel(l string) string {
	if strings.HasPrefix(l, "#") {
		return l
	}
	return fmt.Sprintf("%q", l)
}

// ValidationError lists every problem of a datasets file, in file order. It
// wraps ErrInvalid.
type ValidationError struct {
	Problems []Problem
}

func (e *ValidationError) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

func (e *ValidationError) Unwrap() error { return ErrInvalid }

type problems struct {
	path string
	list []Problem
}

func (p *problems) add(line int, dataset, key, format string, args ...any) {
	p.list = append(p.list, Problem{Path: p.path, Line: line, Dataset: dataset, Key: key, Message: fmt.Sprintf(format, args...)})
}

func (p *problems) err() error {
	if len(p.list) == 0 {
		return nil
	}
	slices.SortStableFunc(p.list, func(a, b Problem) int { return a.Line - b.Line })
	return &ValidationError{Problems: p.list}
}
