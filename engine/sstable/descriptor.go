package sstable

import (
	"fmt"
	"regexp"
	"strings"
)

// Component names, as listed in TOC.txt.
const (
	ComponentData            = "Data.db"
	ComponentIndex           = "Index.db"
	ComponentSummary         = "Summary.db"
	ComponentStatistics      = "Statistics.db"
	ComponentCompressionInfo = "CompressionInfo.db"
	ComponentDigest          = "Digest.crc32"
	ComponentTOC             = "TOC.txt"
	ComponentFilter          = "Filter.db"
	ComponentCRC             = "CRC.db"
	ComponentPartitions      = "Partitions.db"
	ComponentRows            = "Rows.db"
)

// Descriptor names one SSTable: <version>-<generation>-<format>-<Component>.
type Descriptor struct {
	Version    string // e.g. "nb"
	Generation string // an integer or a 28-character base-36 UUID id
	Format     string // "big" or "bti"
}

var fileNameRE = regexp.MustCompile(`^(?:.*-)?([a-z]{2})-([0-9a-z_]+)-(big|bti)-([A-Za-z]+\.(?:db|txt|crc32))$`)

// ParseFileName splits an SSTable component file name such as
// "nb-1-big-Data.db" into its descriptor and component.
func ParseFileName(name string) (Descriptor, string, error) {
	m := fileNameRE.FindStringSubmatch(name)
	if m == nil {
		return Descriptor{}, "", fmt.Errorf("%w: file name %q: want <version>-<generation>-<big|bti>-<Component>, e.g. nb-1-big-Data.db", ErrUnsupported, name)
	}
	return Descriptor{Version: m[1], Generation: m[2], Format: m[3]}, m[4], nil
}

// Prefix is the file name prefix of every component, e.g. "nb-1-big-".
func (d Descriptor) Prefix() string { return d.Version + "-" + d.Generation + "-" + d.Format + "-" }

// FileName is the file name of a component.
func (d Descriptor) FileName(component string) string { return d.Prefix() + component }

func (d Descriptor) String() string { return strings.TrimSuffix(d.Prefix(), "-") }

// Version holds the format features a reader needs, per version
// (BigFormat.BigVersion, BtiFormat.BtiVersion). Compare features, never
// version letters across formats: "da" (BTI) has the features of "oa" (BIG).
type Version struct {
	Name   string // "nb"
	Format string // "big" or "bti"

	HasMaxCompressedLength bool // na+: CompressionInfo has maxCompressedLength; chunks may be stored uncompressed
	HasMetadataChecksum    bool // na+: Statistics.db carries CRC32s
	HasPendingRepair       bool // na+
	HasIsTransient         bool // na+
	HasOriginatingHostID   bool // me, nb+
	HasCommitLogLowerBound bool // mb+
	HasCommitLogIntervals  bool // mc+
	HasAccurateMinMax      bool // md+
	HasImprovedMinMax      bool // oa+: clustering min/max as a Slice with types
	HasKeyRange            bool // oa+: first/last key in Statistics
	HasPartitionLevelDel   bool // oa+: hasPartitionLevelDeletions in Statistics
	HasTokenSpaceCoverage  bool // oa+
	UIntDeletionTime       bool // oa+: local deletion times are uint32 and DeletionTime is 1 or 12 bytes
	HasOldBloomFilter      bool // before na
}

// LookupVersion returns the features of a version, or ErrUnsupported.
func LookupVersion(format, name string) (Version, error) {
	v := Version{Name: name, Format: format}
	switch format {
	case "big":
		switch name {
		case "ma", "mb", "mc", "md", "me", "na", "nb", "nc", "oa":
		default:
			return v, fmt.Errorf("%w: BIG version %q (want ma, mb, mc, md, me, na, nb or oa)", ErrUnsupported, name)
		}
		ge := func(x string) bool { return name >= x }
		v.HasMaxCompressedLength = ge("na")
		v.HasMetadataChecksum = ge("na")
		v.HasPendingRepair = ge("na")
		v.HasIsTransient = ge("na")
		v.HasOriginatingHostID = name == "me" || ge("nb")
		v.HasCommitLogLowerBound = ge("mb")
		v.HasCommitLogIntervals = ge("mc")
		v.HasAccurateMinMax = ge("md")
		v.HasImprovedMinMax = ge("oa")
		v.HasKeyRange = ge("oa")
		v.HasPartitionLevelDel = ge("oa")
		v.HasTokenSpaceCoverage = ge("oa")
		v.UIntDeletionTime = ge("oa")
		v.HasOldBloomFilter = !ge("na")
	case "bti":
		if name != "da" {
			return v, fmt.Errorf("%w: BTI version %q (want da)", ErrUnsupported, name)
		}
		v = Version{Name: name, Format: format, HasMaxCompressedLength: true, HasMetadataChecksum: true, HasPendingRepair: true,
			HasIsTransient: true, HasOriginatingHostID: true, HasCommitLogLowerBound: true, HasCommitLogIntervals: true,
			HasAccurateMinMax: true, HasImprovedMinMax: true, HasKeyRange: true, HasPartitionLevelDel: true,
			HasTokenSpaceCoverage: true, UIntDeletionTime: true}
	default:
		return v, fmt.Errorf("%w: format %q (want big or bti)", ErrUnsupported, format)
	}
	return v, nil
}
