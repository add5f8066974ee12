package datasets

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cassmove/shadow/engine/ring"
	"github.com/cassmove/shadow/shadow/config"
)

var stores = map[string]config.Store{
	"archive": {URI: "s3://backups/cass", Layout: "medusa", Cluster: "payments"},
	"priam":   {URI: "file:///var/backups/priam", Layout: "priam"},
}

const good = `
- name: orders
  owner: payments-data@example.com
  source:
    store: archive
    keyspace: shop
    table: orders
    consistency: quorum
    dc: eu-west
    snapshot_window: 2h
    as_of: scheduled-3h
  legacy: iceberg:warehouse.orders
  new: iceberg:shadow.orders
  key: [order_id]
  normalize:
    ignore: [etl_batch]
    truncate: {updated_at: ms}
    empty_as_null: [note]
    round: {amount: 2}
    tolerance: {score: 0.001, updated_at: 1ms}
  cohort: early
  labels: {team: payments}
  provenance: true
- name: events
  owner: events-team
  source: {store: "file:///data/backups", cluster: main, keyspace: ks, table: ev, ttl_reference: run_start}
  legacy: warehouse.events
  new: shadow.events
  key: id, ts
  schedule: "30 1 * * 1-5"
  connector: {name: timeseries, options: {seconds_per_slice: 86400}}
`

func TestParseGood(t *testing.T) {
	f, err := Parse([]byte(good), "datasets.yaml", stores)
	if err != nil {
		t.Fatal(err)
	}
	if got := f.Names(); strings.Join(got, ",") != "orders,events" {
		t.Fatalf("names %v", got)
	}
	o, err := f.Get("orders")
	if err != nil {
		t.Fatal(err)
	}
	if o.Source.URI != "s3://backups/cass" || o.Source.Cluster != "payments" || o.Source.Layout != "medusa" {
		t.Errorf("store defaults not applied: %+v", o.Source)
	}
	if o.Source.Consistency != "QUORUM" || o.Source.ConsistencyLevel() != ring.Quorum {
		t.Errorf("consistency %q", o.Source.Consistency)
	}
	if o.Source.Window() != 2*time.Hour || o.Source.SnapshotWindow != "2h0m0s" {
		t.Errorf("window %v", o.Source.Window())
	}
	if o.Schedule != DefaultSchedule || o.SchedulePeriod() != 24*time.Hour || o.PeriodSeconds != 86400 {
		t.Errorf("schedule %q period %v", o.Schedule, o.SchedulePeriod())
	}
	if o.Connector.Name != "raw" || o.Destination != "warehouse.orders" || o.EffectiveCohort() != "early" {
		t.Errorf("defaults: connector %q destination %q", o.Connector.Name, o.Destination)
	}
	if o.Normalize.Tolerance["score"] != "0.001" || o.Normalize.Round["amount"] != 2 {
		t.Errorf("normalize %+v", o.Normalize)
	}
	sched := time.Date(2026, 11, 24, 2, 0, 0, 0, time.UTC)
	start := sched.Add(5 * time.Minute)
	if got := o.Source.AsOfTime(sched, start); !got.Equal(sched.Add(-3 * time.Hour)) {
		t.Errorf("as of %v", got)
	}
	snap := sched.Add(-4 * time.Hour)
	if got := o.Source.TTLReferenceTime(snap, sched, start); !got.Equal(snap) {
		t.Errorf("ttl reference %v, want the snapshot", got)
	}
	if next := o.Next(sched); !next.Equal(sched.Add(24 * time.Hour)) {
		t.Errorf("next %v", next)
	}
	if Night(sched) != "2026-11-24" {
		t.Error(Night(sched))
	}

	if !o.Provenance {
		t.Error("orders: provenance: true not read")
	}
	e, _ := f.Get("events")
	if e.Provenance {
		t.Error("events: provenance defaults to true, want false")
	}
	if strings.Join(e.Key, ",") != "id,ts" || e.Connector.Name != "timeseries" || e.Connector.Options["seconds_per_slice"] != 86400 {
		t.Errorf("events %+v", e)
	}
	if e.SchedulePeriod() != 72*time.Hour {
		t.Errorf("weekday schedule period %v, want 72h (Friday to Monday)", e.SchedulePeriod())
	}
	if e.EffectiveCohort() != DefaultCohort || e.Source.AsOf != AsOfScheduled {
		t.Errorf("events defaults %q %q", e.Cohort, e.Source.AsOf)
	}
	if got := e.Source.TTLReferenceTime(snap, sched, start); !got.Equal(start) {
		t.Errorf("run_start reference %v", got)
	}
	if e.LegacyTable().String() != "warehouse.events" || e.NewTable().String() != "shadow.events" {
		t.Errorf("tables %v %v", e.LegacyTable(), e.NewTable())
	}

	if _, err := f.Get("nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown dataset: %v", err)
	}
	// The wrapped form works too.
	if _, err := Parse([]byte("datasets:\n"+indent(good)), "d.yaml", stores); err != nil {
		t.Errorf("datasets: mapping form: %v", err)
	}
}

func indent(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		if l != "" {
			lines[i] = "  " + l
		}
	}
	return strings.Join(lines, "\n")
}

func TestSchedulePeriod(t *testing.T) {
	for _, c := range []struct {
		spec string
		want time.Duration
	}{
		{"0 2 * * *", 24 * time.Hour},
		{"@daily", 24 * time.Hour},
		{"*/15 * * * *", 15 * time.Minute},
		{"0 */6 * * *", 6 * time.Hour},
		{"0 3 * * 0", 7 * 24 * time.Hour},
		{"0 0 1 * *", 31 * 24 * time.Hour},
		{"*/5 9-17 * * *", 15*time.Hour + 5*time.Minute},
		{"@every 90m", 90 * time.Minute},
		// 02:00 does not exist in Berlin on the spring DST day, so cron skips
		// that night: the longest gap is 47h. UTC schedules have no such gap.
		{"CRON_TZ=Europe/Berlin 0 2 * * *", 47 * time.Hour},
		{"CRON_TZ=Europe/Berlin 0 4 * * *", 25 * time.Hour}, // the autumn change
	} {
		f, err := Parse([]byte(strings.Replace(minimal, "SCHEDULE", c.spec, 1)), "d.yaml", nil)
		if err != nil {
			t.Errorf("%s: %v", c.spec, err)
			continue
		}
		if got := f.Datasets[0].SchedulePeriod(); got != c.want {
			t.Errorf("%s: period %v, want %v", c.spec, got, c.want)
		}
	}
}

const minimal = `
- name: a
  owner: me
  source: {store: "s3://b/p", keyspace: k, table: t}
  legacy: iceberg:l.a
  new: iceberg:n.a
  schedule: "SCHEDULE"
`

// TestProblems checks that each kind of mistake is reported with its
// dataset, key and line, and that all are reported at once.
func TestProblems(t *testing.T) {
	bad := `- name: orders
  owner: me
  source:
    store: archiv
    keyspace: shop
    table: orders
    consistancy: ONE
    consistency: TWO
    layout: cassandra
    snapshot_window: -1h
    ttl_reference: yesterday
    as_of: scheduled-x
  legacy: iceberg:warehouse.orders@123
  new: parquet:/tmp/x
  key: [id, id]
  normalize:
    ignore: [id, note]
    truncate: {ts: ns}
    round: {amount: 31, note: 2}
    tolerance: {id: 1, score: -1, at: soon}
  schedule: "0 2 * *"
  connector: keyvalu
  cohort: "bad cohort"
  labels: {severity: x, "bad-label": y}
  shedule: nightly
- owner: ""
  source: {store: priam, keyspace: k, table: t}
  legacy: a.b
  new: a.b
- name: orders
  owner: x
  source: {store: "ftp://x", keyspace: k, table: t}
  legacy: l.o
  new: n.o
  schedule: "0 0 30 2 *"
- name: twin
  owner: x
  source: {store: "s3://b", keyspace: k, table: t}
  legacy: l.twin
  new: n.o
- name: "bad/name"
  owner: x
  source: {store: "s3://b", keyspace: k, table: t}
  legacy: l.twin
  new: n.twin
  key: {a: b}
- name: nosource
  owner: x
  legacy: l.ns
  new: n.ns
`
	_, err := Parse([]byte(bad), "datasets.yaml", stores)
	if !errors.Is(err, ErrInvalid) {
		t.Fatalf("want ErrInvalid, got %v", err)
	}
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("want a ValidationError, got %T", err)
	}
	msg := err.Error()
	for _, want := range []string{
		`datasets.yaml:4: dataset "orders": source.store: unknown store "archiv" (did you mean "archive"?)`,
		`datasets.yaml:7: dataset "orders": source.consistancy: unknown key (did you mean "consistency"?)`,
		`dataset "orders": source.consistency: "TWO" is not a consistency level`,
		`source.layout: "cassandra": want medusa or priam`,
		`source.snapshot_window: "-1h": want a positive Go duration`,
		`source.ttl_reference: "yesterday"`,
		`source.as_of: "scheduled-x"`,
		`legacy: "iceberg:warehouse.orders@123": an output table takes no @snapshot`,
		`new: "parquet:/tmp/x": want an Iceberg table`,
		`key: column "id" named twice`,
		`normalize.ignore: column "id" is a key column`,
		`normalize.truncate: ts=ns: want ms or s`,
		`normalize.round: amount=31: want 0 to 30`,
		`normalize.round: column "note" is also ignored`,
		`normalize.tolerance: column "id" is a key column`,
		`normalize.tolerance: score=-1: want a non-negative number`,
		`normalize.tolerance: at=soon`,
		`datasets.yaml:21: dataset "orders": schedule: "0 2 * *" is not a cron expression`,
		`connector: unknown connector "keyvalu" (did you mean "keyvalue"?)`,
		`cohort: "bad cohort"`,
		`labels: "severity" is set by the alerts themselves`,
		`labels: "bad-label" is not a Prometheus label name`,
		`datasets.yaml:25: dataset "orders": shedule: unknown key (did you mean "schedule"?)`,
		`dataset #2: name: missing`,
		`dataset #2: owner: missing`,
		`dataset #2: source.cluster: missing: a Priam store needs the application name`,
		`dataset #2: new: names the same table as legacy`,
		`dataset "orders": name: duplicate: the dataset "orders" is already defined at line 1`,
		`source.store: "ftp://x": scheme "ftp" is not supported`,
		`schedule: "0 0 30 2 *": never fires`,
		`dataset "twin": new: table n.o is already the new output of dataset "orders"`,
		`dataset "bad/name": name: "bad/name": want letters`,
		`dataset "bad/name": key.a: want a list of column names`,
		`dataset "nosource": source: missing`,
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("missing problem %q", want)
		}
	}
	if t.Failed() {
		t.Logf("got:\n%s", msg)
	}
	// One line per problem, in file order.
	last := 0
	for _, p := range ve.Problems {
		if p.Line < last {
			t.Errorf("problems out of order at %v", p)
		}
		last = p.Line
		if strings.Contains(p.String(), "\n") {
			t.Errorf("multi-line problem %q", p)
		}
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	write("conf/datasets.yaml", strings.Replace(minimal, "SCHEDULE", "@daily", 1))
	cfgPath := write("conf/shadow.yaml", "datasets: ./datasets.yaml\n")
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	f, err := Load(cfg, "")
	if err != nil {
		t.Fatal(err)
	}
	if f.Path != filepath.Join(dir, "conf", "datasets.yaml") || len(f.Datasets) != 1 || !f.Configured() {
		t.Fatalf("path relative to the config: %+v", f)
	}

	inline := write("inline.yaml", "datasets:\n"+indent(strings.Replace(minimal, "SCHEDULE", "@daily", 1)))
	cfg, err = config.Load(inline)
	if err != nil {
		t.Fatal(err)
	}
	f, err = Load(cfg, "")
	if err != nil {
		t.Fatal(err)
	}
	if !f.Inline || f.Path != inline || f.Datasets[0].Line != 3 {
		t.Fatalf("inline: %+v", f)
	}

	over := write("other.yaml", strings.Replace(strings.Replace(minimal, "SCHEDULE", "@daily", 1), "name: a", "name: b", 1))
	f, err = Load(cfg, over)
	if err != nil || f.Datasets[0].Name != "b" {
		t.Fatalf("--datasets overrides the config: %+v %v", f, err)
	}

	f, err = Load(&config.Config{}, "")
	if err != nil || f.Configured() || len(f.Datasets) != 0 {
		t.Fatalf("nothing configured: %+v %v", f, err)
	}
	if _, err := Load(&config.Config{}, filepath.Join(dir, "missing.yaml")); !errors.Is(err, ErrInvalid) {
		t.Fatalf("missing file: %v", err)
	}
	badCfg := write("bad.yaml", "datasets: {a: 1}\n")
	cfg, _ = config.Load(badCfg)
	if _, err := Load(cfg, ""); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "bad.yaml:1") {
		t.Fatalf("mapping datasets: %v", err)
	}
	for _, body := range []string{"", "x: 1\n", "42\n", "[1, 2]\n", ": :\n"} {
		if _, err := Parse([]byte(body), "d.yaml", nil); !errors.Is(err, ErrInvalid) {
			t.Errorf("%q: %v", body, err)
		}
	}
}

// FuzzParse: any input gives datasets or an ErrInvalid, never a panic, and
// a file that validates validates again the same way.
func FuzzParse(f *testing.F) {
	f.Add([]byte(good))
	f.Add([]byte(minimal))
	f.Add([]byte("datasets:\n- name: x\n  source: {store: s3://b}\n"))
	f.Add([]byte("- {name: a, key: {x: 1}, connector: [1]}\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		out, err := Parse(b, "fuzz.yaml", stores)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error not wrapping ErrInvalid: %v", err)
			}
			return
		}
		again, err := Parse(b, "fuzz.yaml", stores)
		if err != nil || len(again.Datasets) != len(out.Datasets) {
			t.Fatalf("not deterministic: %v", err)
		}
	})
}

// The run night of a dataset: the latest scheduled time at or before now,
// and the scheduled time of a given day.
func TestLatestAndScheduledOn(t *testing.T) {
	f, err := Parse([]byte(good), "datasets.yaml", stores)
	if err != nil {
		t.Fatal(err)
	}
	orders, _ := f.Get("orders") // nightly at 02:00 UTC
	events, _ := f.Get("events") // 01:30 UTC, Monday to Friday
	at := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	for _, c := range []struct {
		name string
		got  time.Time
		want string
	}{
		{"nightly, after 02:00", orders.Latest(at("2026-11-24T10:00:00Z")), "2026-11-24T02:00:00Z"},
		{"nightly, before 02:00", orders.Latest(at("2026-11-24T01:00:00Z")), "2026-11-23T02:00:00Z"},
		{"nightly, at 02:00", orders.Latest(at("2026-11-24T02:00:00Z")), "2026-11-24T02:00:00Z"},
		{"weekdays, on Sunday", events.Latest(at("2026-11-29T12:00:00Z")), "2026-11-27T01:30:00Z"}, // Friday's
		{"weekdays, on Tuesday", events.Latest(at("2026-11-24T12:00:00Z")), "2026-11-24T01:30:00Z"},
		{"nightly, a day", orders.ScheduledOn(at("2026-11-24T00:00:00Z")), "2026-11-24T02:00:00Z"},
		{"weekdays, a Sunday", events.ScheduledOn(at("2026-11-29T00:00:00Z")), "2026-11-29T00:00:00Z"},
		{"weekdays, a Monday", events.ScheduledOn(at("2026-11-30T00:00:00Z")), "2026-11-30T01:30:00Z"},
	} {
		if !c.got.Equal(at(c.want)) {
			t.Errorf("%s: %s, want %s", c.name, c.got.Format(time.RFC3339), c.want)
		}
	}
}
