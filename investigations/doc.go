// Package investigations is the memory of the migration: every shadow run,
// the discrepancies it found, and the investigations engineers (and the
// auto-triage) group them into. It lives in the service's one state file,
// SQLite in WAL mode, whose schema is the single migration sequence embedded
// from schema/ (the decider registry adds its tables there too).
//
// The flow of one nightly run:
//
//	runner ──StartRun──▶ runs (status running, attempt N, older attempts superseded)
//	       ──Write(batch)──▶ discrepancies (one transaction per batch; at most
//	       │                 MaxStoredPerSide per side) + run_signatures (exact
//	       │                 count of every signature, stored or not)
//	       ──Finish──▶ runs (status, counts, similarity, stages, error) and,
//	                   for a run that differs, auto-triage, all in one transaction:
//	                   each (dataset, signature) → the newest open, triaged or
//	                   explained investigation covering it, or a new one; rules
//	                   set its category.
//
// The tables:
//
//	schema_version            version, name, applied_at
//	runs                      run_id dataset/night[#attempt], status, counts, similarity,
//	                          snapshots, backup, stages, error, host/pid of the writer
//	signatures                side:columns:tags, once each
//	discrepancies             run, side, key, legacy_row, new_row, diffs, signature, fingerprints
//	run_signatures            run × signature: seen, stored, the investigation auto-triage chose
//	investigations            title, status, category, owner, auto
//	timeline                  append-only (triggers refuse UPDATE and DELETE): note, log, query, event
//	investigation_discrepancies   investigation × discrepancy (+ run)
//	investigation_signatures  investigation × (dataset, signature): what it keeps collecting
//	categories, triage_rules  data, edited from the CLI
//
// A run still `running` whose process on this host is gone (pid plus boot id
// and start time, against pid reuse) is marked `aborted` by Open and by
// StartRun. A file that is not SQLite, is damaged, belongs to another
// application (PRAGMA application_id and its tables) or was written by a
// newer shadow is refused with ErrCorrupt before anything is written.
package investigations
