package decider

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"sort"
	"strings"

	"github.com/cassmove/shadow/shadow/datasets"
)

// maxOutcomeBody bounds a POST /v1/outcomes body.
const maxOutcomeBody = 64 << 10

// decideParams are the query parameters GET /v1/decide accepts.
var decideParams = []string{"cluster", "keyspace", "table", "destination", "cohort", "dataset", "format"}

// Handler serves the decider's HTTP API, for `shadow serve` to mount:
//
//	GET  /v1/decide?cluster=&keyspace=&table=&destination=&cohort=[&dataset=][&format=json]
//	     200 text/plain MOVE_DATA or LEGACY (no newline, for Maestro's SEL
//	     comparison); with format=json the whole Decision
//	POST /v1/outcomes  (application/json Outcome)
//	     201 application/json OutcomeRecord
//
// When token is not empty every request needs `Authorization: Bearer
// TOKEN` (401 otherwise, compared in constant time). Bad parameters get 400,
// an unknown dataset 400, a registry that cannot be written 503. A registry
// that cannot be read still answers LEGACY with 200.
func (d *Decider) Handler(token string) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/decide", d.serveDecide)
	mux.HandleFunc("POST /v1/outcomes", d.serveOutcome)
	if token == "" {
		return mux
	}
	want := sha256.Sum256([]byte(token))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		scheme, got, ok := strings.Cut(r.Header.Get("Authorization"), " ")
		sum := sha256.Sum256([]byte(strings.TrimSpace(got)))
		// Hashing first makes the comparison constant-time in the token's
		// length too.
		if !ok || !strings.EqualFold(scheme, "Bearer") || subtle.ConstantTimeCompare(sum[:], want[:]) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="shadow decider"`)
			httpError(w, r, http.StatusUnauthorized, errors.New("unauthorized: send Authorization: Bearer <token>"))
			return
		}
		mux.ServeHTTP(w, r)
	})
}

func wantsJSON(r *http.Request) bool { return r.URL.Query().Get("format") == "json" }

// httpError answers with a one-line message, as JSON for JSON callers.
func httpError(w http.ResponseWriter, r *http.Request, code int, err error) {
	w.Header().Set("Cache-Control", "no-store")
	if wantsJSON(r) || r.Method == http.MethodPost {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		json.NewEncoder(w).Encode(map[string]any{"error": err.Error(), "status": code})
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(code)
	fmt.Fprintln(w, err.Error())
}

func statusOf(err error) int {
	switch {
	case errors.Is(err, ErrInvalid), errors.Is(err, ErrNotFound), errors.Is(err, ErrConflict):
		return http.StatusBadRequest
	case errors.Is(err, ErrUnavailable):
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

func (d *Decider) serveDecide(w http.ResponseWriter, r *http.Request) {
	q, err := parseQuery(r.URL.RawQuery)
	if err != nil {
		httpError(w, r, http.StatusBadRequest, err)
		return
	}
	format := q["format"]
	if format != "" && format != "json" && format != "text" {
		httpError(w, r, http.StatusBadRequest, fmt.Errorf("format %q: want text or json", format))
		return
	}
	m := Movement{Dataset: q["dataset"], Cluster: q["cluster"], Keyspace: q["keyspace"], Table: q["table"], Destination: q["destination"], Cohort: q["cohort"]}
	dec, err := d.Decide(r.Context(), m)
	if err != nil {
		httpError(w, r, statusOf(err), err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Shadow-Path", string(dec.Path))
	if format == "json" {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(dec)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	io.WriteString(w, dec.Answer)
}

// parseQuery accepts each known parameter at most once and nothing else.
func parseQuery(raw string) (map[string]string, error) {
	vals, err := url.ParseQuery(raw)
	if err != nil {
		return nil, fmt.Errorf("bad query string: %v", err)
	}
	out := map[string]string{}
	keys := make([]string, 0, len(vals))
	for k := range vals {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := vals[k]
		known := false
		for _, p := range decideParams {
			known = known || p == k
		}
		if !known {
			return nil, fmt.Errorf("unknown parameter %q%s; want %s", k, datasets.Suggest(k, decideParams), strings.Join(decideParams, ", "))
		}
		if len(v) > 1 {
			return nil, fmt.Errorf("parameter %q given %d times; want it once", k, len(v))
		}
		out[k] = v[0]
	}
	return out, nil
}

func (d *Decider) serveOutcome(w http.ResponseWriter, r *http.Request) {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || mt != "application/json" {
			httpError(w, r, http.StatusUnsupportedMediaType, fmt.Errorf("content type %q: want application/json", ct))
			return
		}
	}
	body := http.MaxBytesReader(w, r.Body, maxOutcomeBody)
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	var o Outcome
	if err := dec.Decode(&o); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			httpError(w, r, http.StatusRequestEntityTooLarge, fmt.Errorf("body larger than %d bytes", maxOutcomeBody))
			return
		}
		httpError(w, r, http.StatusBadRequest, fmt.Errorf("body: want one JSON object {dataset|cluster,keyspace,table,destination; cohort; path; outcome; duration_seconds; error; reporter; decision_id}: %v", err))
		return
	}
	if dec.More() {
		httpError(w, r, http.StatusBadRequest, errors.New("body: want exactly one JSON object"))
		return
	}
	rec, err := d.RecordOutcome(r.Context(), o)
	if err != nil {
		httpError(w, r, statusOf(err), err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusCreated)
	json.NewEncoder(w).Encode(rec)
}
