package decider

import (
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// TestMaestroExample runs the HTTP steps of the example workflow in docs/
// against the real handler, with the workflow's own parameters: the Decider
// step's query must be accepted and answered, and both outcome bodies must
// be recorded. The example stays in step with the API this way.
func TestMaestroExample(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "docs", "maestro-decider-workflow.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var wf struct {
		Workflow map[string]any `yaml:"Workflow"`
	}
	if err := yaml.Unmarshal(b, &wf); err != nil {
		t.Fatalf("example workflow: %v", err)
	}
	params := map[string]string{"decider_token": "tok"}
	for k, v := range wf.Workflow {
		if s, ok := v.(string); ok {
			params[k] = s
		}
	}
	subst := regexp.MustCompile(`\$\{([a-z_]+)\}`)
	expand := func(s string) string {
		return subst.ReplaceAllStringFunc(s, func(m string) string {
			v, ok := params[m[2:len(m)-1]]
			if !ok {
				t.Fatalf("example workflow: undefined parameter %s", m)
			}
			return v
		})
	}
	d, _ := newTestDecider(t, Options{})
	srv := httptest.NewServer(d.Handler("tok"))
	defer srv.Close()
	jobs, _ := wf.Workflow["jobs"].([]any)
	steps := map[string]bool{}
	httpSteps := 0
	for _, j := range jobs {
		job := j.(map[string]any)["job"].(map[string]any)
		id := job["id"].(string)
		steps[id] = true
		h, ok := job["http<pmap>"].(map[string]any)
		if !ok {
			continue
		}
		httpSteps++
		u := expand(h["url"].(string))
		u = strings.Replace(u, "http://shadow.internal:8080", srv.URL, 1)
		headers := h["headers"].(map[string]any)
		body, _ := h["body"].(string)
		ct, _ := headers["Content-Type"].(string)
		r := call(t, h["method"].(string), u, expand(headers["Authorization"].(string)), ct, body)
		switch id {
		case "decide":
			if r.Code != 200 || (r.Body != AnswerMoveData && r.Body != AnswerLegacy) {
				t.Errorf("decide step: %d %q", r.Code, r.Body)
			}
		default:
			if r.Code != 201 {
				t.Errorf("%s step: %d %s", id, r.Code, r.Body)
			}
		}
	}
	if httpSteps != 3 {
		t.Errorf("%d http steps, want decide and two outcome reports", httpSteps)
	}
	// Every transition names a step of the workflow.
	target := regexp.MustCompile(`(?:THEN|OTHERWISE)\s+(\S+)$|^(\S+)$`)
	for _, j := range jobs {
		job := j.(map[string]any)["job"].(map[string]any)
		tr, _ := job["transition"].([]any)
		for _, x := range tr {
			m := target.FindStringSubmatch(x.(string))
			if m == nil {
				t.Errorf("transition %q", x)
				continue
			}
			if to := m[1] + m[2]; !steps[to] {
				t.Errorf("step %s: transition to unknown step %s", job["id"], to)
			}
		}
	}
}
