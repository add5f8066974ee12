package dashboards

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// panel is the part of a Grafana panel the tests read.
type panel struct {
	ID          int               `json:"id"`
	Type        string            `json:"type"`
	Title       string            `json:"title"`
	Datasource  map[string]string `json:"datasource"`
	Targets     []target          `json:"targets"`
	Panels      []panel           `json:"panels"` // rows
	Options     json.RawMessage   `json:"options"`
	FieldConfig struct {
		Defaults struct {
			Custom json.RawMessage `json:"custom"`
		} `json:"defaults"`
	} `json:"fieldConfig"`
}

type target struct {
	RefID string `json:"refId"`
	Expr  string `json:"expr"`
}

type variable struct {
	Name     string          `json:"name"`
	Type     string          `json:"type"`
	Query    json.RawMessage `json:"query"`
	AllValue string          `json:"allValue"`
	Current  struct {
		Value any `json:"value"`
	} `json:"current"`
}

type dashboard struct {
	UID        string  `json:"uid"`
	Panels     []panel `json:"panels"`
	Templating struct {
		List []variable `json:"list"`
	} `json:"templating"`
}

// allPanels flattens rows.
func allPanels(ps []panel) []panel {
	var out []panel
	for _, p := range ps {
		out = append(out, p)
		out = append(out, allPanels(p.Panels)...)
	}
	return out
}

// query is one PromQL expression of the dashboard, with where it comes from.
type query struct {
	where string
	expr  string
}

var labelValuesRe = regexp.MustCompile(`^label_values\((.+),\s*([a-zA-Z_][a-zA-Z0-9_]*)\)$`)

// queries returns every PromQL expression of the dashboard: panel targets and
// the query variables (label_values(METRIC, LABEL) is evaluated as METRIC).
func queries(d dashboard) ([]query, error) {
	var qs []query
	var errs []error
	for _, p := range allPanels(d.Panels) {
		if p.Type == "row" {
			continue
		}
		if len(p.Targets) == 0 {
			errs = append(errs, fmt.Errorf("panel %d %q has no query", p.ID, p.Title))
		}
		for _, tg := range p.Targets {
			if strings.TrimSpace(tg.Expr) == "" {
				errs = append(errs, fmt.Errorf("panel %d %q target %s has no expr", p.ID, p.Title, tg.RefID))
			}
			qs = append(qs, query{fmt.Sprintf("panel %d %q target %s", p.ID, p.Title, tg.RefID), tg.Expr})
		}
	}
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		var q struct {
			Query string `json:"query"`
		}
		if err := json.Unmarshal(v.Query, &q); err != nil {
			if err := json.Unmarshal(v.Query, &q.Query); err != nil {
				errs = append(errs, fmt.Errorf("variable %s: query %s", v.Name, v.Query))
				continue
			}
		}
		m := labelValuesRe.FindStringSubmatch(q.Query)
		if m == nil {
			errs = append(errs, fmt.Errorf("variable %s: query %q is not label_values(METRIC, LABEL)", v.Name, q.Query))
			continue
		}
		qs = append(qs, query{"variable " + v.Name, fmt.Sprintf("count by (%s) (%s)", m[2], m[1])})
	}
	return qs, errors.Join(errs...)
}

var varRe = regexp.MustCompile(`\$(\{[a-zA-Z_][a-zA-Z0-9_]*\}|[a-zA-Z_][a-zA-Z0-9_]*)`)

// substitute replaces dashboard variables the way Grafana would for the
// given selection, and Grafana's interval variables with values that suit a
// Prometheus scraping every second.
func substitute(expr string, vars map[string]string) (string, error) {
	var missing []string
	out := varRe.ReplaceAllStringFunc(expr, func(s string) string {
		name := strings.Trim(s[1:], "{}")
		if v, ok := vars[name]; ok {
			return v
		}
		missing = append(missing, name)
		return s
	})
	if len(missing) > 0 {
		return "", fmt.Errorf("undefined variables %v", missing)
	}
	return out, nil
}

func variables(d dashboard, selection map[string]string) map[string]string {
	vars := map[string]string{
		"__rate_interval": "1m", "__interval": "1m", "__range": "1h", // Grafana's own
	}
	for _, v := range d.Templating.List {
		switch {
		case selection[v.Name] != "":
			vars[v.Name] = selection[v.Name]
		case v.AllValue != "":
			vars[v.Name] = v.AllValue
		default:
			vars[v.Name] = fmt.Sprint(v.Current.Value)
		}
	}
	return vars
}

// Query is one PromQL expression of the dashboard and where it comes from.
type Query struct {
	Where string // "panel 3 \"Similarity\" target A", "variable dataset"
	Expr  string // with the dashboard's variables unexpanded
}

// Queries lists every PromQL expression of the embedded dashboard: panel
// targets and query variables (label_values(METRIC, LABEL) as METRIC). A
// panel without a query, or a variable whose query is not label_values, is
// an error.
func Queries() ([]Query, error) {
	d, err := load()
	if err != nil {
		return nil, err
	}
	qs, err := queries(d)
	out := make([]Query, len(qs))
	for i, q := range qs {
		out[i] = Query{Where: q.where, Expr: q.expr}
	}
	return out, err
}

// Expand replaces the dashboard's variables in expr the way Grafana would
// for the selection (variable name → value; unselected variables take
// their "All" value, else their current value), and Grafana's interval
// variables with values that suit a Prometheus scraping every second.
func Expand(expr string, selection map[string]string) (string, error) {
	d, err := load()
	if err != nil {
		return "", err
	}
	return substitute(expr, variables(d, selection))
}

func load() (dashboard, error) {
	b, err := Files.ReadFile(DashboardFile)
	if err != nil {
		return dashboard{}, err
	}
	var d dashboard
	if err := json.Unmarshal(b, &d); err != nil {
		return dashboard{}, fmt.Errorf("%s: %w", DashboardFile, err)
	}
	return d, nil
}
