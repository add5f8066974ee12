// Package dashboards holds what Prometheus and Grafana load for shadow:
//
//	shadow.rules.yml       Prometheus alerting rules (contracts §7), unit-tested by
//	shadow.rules_test.yml  promtool test rules
//	shadow.json            the Grafana dashboard, type-checked against @grafana/schema
//
// The files are embedded so that the shadow binary can hand them out. The
// tests in this folder stand in for Grafana, which cannot be installed here:
// every PromQL expression of the dashboard must return data from a real
// Prometheus that scraped real shadow metrics, and the JSON must type-check
// against Grafana's own schema with tsc (package.json pins the versions).
package dashboards

import "embed"

// File names inside Files.
const (
	RulesFile     = "shadow.rules.yml"
	DashboardFile = "shadow.json"
)

// Files holds the rules and the dashboard.
//
//go:embed shadow.rules.yml shadow.json
var Files embed.FS
