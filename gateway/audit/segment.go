package audit

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// Segment files are segment-000001.jsonl, segment-000002.jsonl, … in the
// log directory. Every segment but the last is sealed: it never changes
// again, so it can be shipped and locked.
const (
	segmentPrefix = "segment-"
	segmentSuffix = ".jsonl"
)

func segmentName(n int) string { return fmt.Sprintf("%s%06d%s", segmentPrefix, n, segmentSuffix) }

// parseSegmentName returns the number of a segment file name, or false.
func parseSegmentName(name string) (int, bool) {
	if !strings.HasPrefix(name, segmentPrefix) || !strings.HasSuffix(name, segmentSuffix) {
		return 0, false
	}
	digits := strings.TrimSuffix(strings.TrimPrefix(name, segmentPrefix), segmentSuffix)
	if len(digits) < 6 {
		return 0, false
	}
	n, err := strconv.Atoi(digits)
	if err != nil || n < 1 || segmentName(n) != name {
		return 0, false
	}
	return n, true
}

type segFile struct {
	name string
	num  int
}

// listSegments returns dir's segments in order.
func listSegments(dir string) ([]segFile, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []segFile
	for _, e := range ents {
		if n, ok := parseSegmentName(e.Name()); ok && e.Type().IsRegular() {
			out = append(out, segFile{name: e.Name(), num: n})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].num < out[j].num })
	return out, nil
}

// LogDir resolves what configuration and commands call the audit path: the
// log directory itself, or a file inside it (a segment, or the single-file
// log path older configurations named, such as audit/audit.jsonl).
func LogDir(path string) string {
	if path == "" {
		return path
	}
	st, err := os.Stat(path)
	switch {
	case err == nil && st.IsDir():
		return path
	case err == nil, errors.Is(err, os.ErrNotExist) && strings.HasSuffix(path, ".jsonl"):
		return filepath.Dir(path)
	}
	return path
}

// LogBytes is the total size of the segments in dir (for progress bars).
func LogBytes(dir string) (int64, error) {
	dir = LogDir(dir)
	segs, err := listSegments(dir)
	if err != nil {
		return 0, err
	}
	var n int64
	for _, s := range segs {
		st, err := os.Stat(filepath.Join(dir, s.name))
		if err != nil {
			return 0, err
		}
		n += st.Size()
	}
	return n, nil
}
