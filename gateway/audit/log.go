package audit

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/transparency-dev/merkle/compact"

	"github.com/liaison-project/liaison/connectors/filelock"
	"github.com/liaison-project/liaison/crypto/jose"
)

// Options configure a Log. Zero values take the defaults below.
type Options struct {
	// Gateway is the node id that checkpoints name.
	Gateway string
	// Signer is the audit key; if nil, SigningKeyFile is loaded (or created).
	// With neither the log writes no checkpoints (tests only).
	Signer         *jose.Signer
	SigningKeyFile string
	// HMACFields lists entry fields stored as HMACs (see HMACFieldNames),
	// with the key at HMACKeyFile (created if absent).
	HMACFields  []string
	HMACKeyFile string
	// SegmentMaxEntries and SegmentMaxBytes seal the active segment and start
	// the next once either is reached.
	SegmentMaxEntries int
	SegmentMaxBytes   int64
	// WriteTimeout bounds how long Append waits for its entry to be durable.
	// A write or fsync that takes longer marks the log stalled: Append fails
	// at once and Healthy reports it until the write completes.
	WriteTimeout time.Duration
	// CheckpointEvery and CheckpointInterval: a checkpoint is signed after
	// that many new entries, and at that interval if there are new entries;
	// also when a segment is sealed and when the log is closed.
	CheckpointEvery    int
	CheckpointInterval time.Duration
	// Now is the clock for checkpoints and correction entries.
	Now func() time.Time
	// WriteFn and SyncFn replace the write and fsync of segment and
	// checkpoint files: fault injection (ENOSPC, EIO, stalls) in tests of
	// the layers above. Nil is the real thing.
	WriteFn func(f *os.File, b []byte) (int, error)
	SyncFn  func(f *os.File) error
	// ProbeInterval is how often the writer checks that the directory
	// still takes writes (DefaultProbeInterval if zero; negative: never,
	// besides once at open). OnProbe, if set, is called with each result
	// (nil: writable) from the writer goroutine: keep it quick.
	ProbeInterval time.Duration
	OnProbe       func(error)
}

// Defaults for Options.
const (
	DefaultSegmentMaxEntries  = 100_000
	DefaultSegmentMaxBytes    = 64 << 20
	DefaultWriteTimeout       = 5 * time.Second
	DefaultCheckpointEvery    = 1000
	DefaultCheckpointInterval = time.Minute
	maxBatch                  = 512
)

func (o *Options) defaults() {
	if o.SegmentMaxEntries <= 0 {
		o.SegmentMaxEntries = DefaultSegmentMaxEntries
	}
	if o.SegmentMaxBytes <= 0 {
		o.SegmentMaxBytes = DefaultSegmentMaxBytes
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = DefaultWriteTimeout
	}
	if o.CheckpointEvery <= 0 {
		o.CheckpointEvery = DefaultCheckpointEvery
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.ProbeInterval == 0 {
		o.ProbeInterval = DefaultProbeInterval
	}
}

// Log is the Writer the gateway uses: a directory of JSON-lines segments
// forming one Merkle tree, and a file of signed checkpoints.
//
// One goroutine owns the files. Appends are group-committed: whatever is
// queued when the previous write finishes goes out in one write and one
// fsync, and every caller in the batch is answered after that fsync.
type Log struct {
	dir  string
	opts Options
	key  []byte // HMAC key, when fields are HMACed

	reqs chan *appendReq
	stop chan struct{} // closed by Close
	done chan struct{} // closed when the writer has stopped

	closeOnce sync.Once
	closed    atomic.Bool
	size      atomic.Uint64
	busySince atomic.Int64 // unix nanos when the current write started; 0 when idle
	failMsg   atomic.Pointer[string]
	cpMsg     atomic.Pointer[string]
	probeMsg  atomic.Pointer[string] // the last writability probe's failure
	// probeFailures counts failed probes (exported as a metric).
	probeFailures atomic.Uint64
	lock          *filelock.Lock // the directory's single-writer lock
	// signedSize and signedAt mirror cpSize and cpTime (unix nanos; 0: no
	// checkpoint yet) for readers outside the writer goroutine (metrics).
	signedSize atomic.Uint64
	signedAt   atomic.Int64

	// Writer goroutine state.
	seg         appendFile
	segNum      int
	segEntries  int
	cp          appendFile
	cpSize      uint64
	cpTime      time.Time
	rng         *compact.Range
	prev        string
	corrections []*appendReq
	readAtOpen  int // segments read by recover (tests)

	// Fault injection (tests): how bytes reach the file and the disk.
	writeFn func(f *os.File, b []byte) (int, error)
	syncFn  func(f *os.File) error
}

var _ Writer = (*Log)(nil)

type appendReq struct {
	ev *Event
	// state: 0 waiting, 1 answered, 2 abandoned by its caller (timeout or
	// cancellation). Whoever moves it from 0 decides what the caller saw.
	state    atomic.Int32
	err      chan error
	internal bool // a correction the writer owes; nobody waits for it
}

func (r *appendReq) answer(err error) bool {
	if r.internal {
		return true
	}
	if !r.state.CompareAndSwap(0, 1) {
		return false
	}
	r.err <- err
	return true
}

// appendFile is a file the writer only appends to, with the size it
// believes durable, so that a failed write can be cut off.
type appendFile struct {
	f     *os.File
	size  int64
	dirty bool // a failed write left bytes after size that could not be cut yet
}

// Open opens (creating if needed) the log in dir (see LogDir) and starts
// its writer. A torn tail — an append that crashed before its fsync, so it
// was never acknowledged — is cut off and kept beside the log as
// torn-<segment>-<offset>.bin. Anything else wrong with the log, or a
// checkpoint covering entries that are gone, stops the open with
// ErrCorrupt: run `liaison audit verify`.
func Open(dir string, opts Options) (*Log, error) {
	opts.defaults()
	dir = LogDir(dir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	lock, err := lockDir(dir)
	if err != nil {
		return nil, err
	}
	l, err := open(dir, opts, lock)
	if err != nil {
		_ = lock.Unlock()
		return nil, err
	}
	return l, nil
}

// open is Open with the directory locked.
func open(dir string, opts Options, lock *filelock.Lock) (*Log, error) {
	l := &Log{dir: dir, opts: opts, reqs: make(chan *appendReq, 4096), stop: make(chan struct{}), done: make(chan struct{}),
		writeFn: opts.WriteFn, syncFn: opts.SyncFn, lock: lock}
	if l.writeFn == nil {
		l.writeFn = func(f *os.File, b []byte) (int, error) { return f.Write(b) }
	}
	if l.syncFn == nil {
		l.syncFn = func(f *os.File) error { return f.Sync() }
	}
	if l.opts.Signer == nil && l.opts.SigningKeyFile != "" {
		s, err := jose.LoadOrCreateSigner(l.opts.SigningKeyFile)
		if err != nil {
			return nil, fmt.Errorf("audit: signing key: %w", err)
		}
		l.opts.Signer = s
	}
	if l.opts.Signer != nil {
		if err := publishKey(dir, l.opts.Signer); err != nil {
			return nil, fmt.Errorf("audit: publish key: %w", err)
		}
	}
	for _, f := range opts.HMACFields {
		if !ValidHMACField(f) {
			return nil, fmt.Errorf("audit: hmac field %q: must be one of %s", f, strings.Join(HMACFieldNames, ", "))
		}
	}
	if len(opts.HMACFields) > 0 {
		if opts.HMACKeyFile == "" {
			return nil, errors.New("audit: hmac fields need a key file")
		}
		key, err := LoadOrCreateHMACKey(opts.HMACKeyFile)
		if err != nil {
			return nil, err
		}
		l.key = key
	}
	if err := l.recover(); err != nil {
		l.seg.close()
		l.cp.close()
		return nil, err
	}
	// Probe once before serving: a read-only directory is reported by
	// Healthy (readiness) from the start, not at the first rotation.
	l.runProbe()
	go l.loop()
	return l, nil
}

// recover reads the existing log, cuts a torn tail, checks the last
// checkpoint against the entries and opens the files for appending. It
// keeps only the compact range (O(log n) hashes), and when the last sealed
// segment left a state file that matches its signed seal checkpoint it
// reads only the active segment, so that opening a long log stays quick.
func (l *Log) recover() error {
	cps, err := l.openCheckpoints()
	if err != nil {
		return err
	}
	segs, err := listSegments(l.dir)
	if err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	if len(segs) == 0 {
		if err := createSegment(l.dir, 1); err != nil {
			return err
		}
		segs = []segFile{{name: segmentName(1), num: 1}}
	}
	v := &verifier{rng: rangeFactory.NewEmptyRange(0), prev: genesis}
	first := 0
	if len(segs) > 1 {
		if st := l.sealState(segs[len(segs)-2], cps); st != nil {
			v.rng, v.seq, v.prev, v.lastSegNum, v.segments = st.rng, st.size, st.prev, segs[len(segs)-2].num, len(segs)-1
			first = len(segs) - 1
		}
	}
	var lastCp *Checkpoint
	if cp, err := cps.last(); err != nil {
		return err
	} else if cp != nil {
		lastCp = &cp.c
		v.watch = cp.c.TreeSize
		if v.watch == v.seq {
			v.watchRoot, _ = v.rng.GetRootHash(nil)
		}
	}
	var lastData []byte
	for i := first; i < len(segs); i++ {
		s := segs[i]
		data, err := os.ReadFile(filepath.Join(l.dir, s.name))
		if err != nil {
			return fmt.Errorf("audit: %w", err)
		}
		l.readAtOpen++
		if v.segment(i, s.name, s.num, data, 0, 0) {
			lastData = data
			continue
		}
		if i != len(segs)-1 || v.fail.Segment != s.name {
			return fmt.Errorf("%w: %v; run `liaison audit verify`", ErrCorrupt, v.fail)
		}
		good, ok := tornTail(data, v.fail.Line, v.seq+1)
		if !ok {
			return fmt.Errorf("%w: %v; run `liaison audit verify`", ErrCorrupt, v.fail)
		}
		if err := l.cutTail(s.name, data, good); err != nil {
			return err
		}
		lastData = data[:good]
		v.fail = nil
	}
	if lastCp != nil {
		if lastCp.TreeSize > v.seq {
			return fmt.Errorf("%w: the last checkpoint is signed over %d entries but the log has %d: acknowledged entries are missing; run `liaison audit verify`",
				ErrCorrupt, lastCp.TreeSize, v.seq)
		}
		if root, _ := lastCp.root(); !bytes.Equal(v.watchRoot, root) {
			return fmt.Errorf("%w: the last checkpoint does not match the entries; run `liaison audit verify`", ErrCorrupt)
		}
		l.cpSize, l.cpTime = lastCp.TreeSize, lastCp.Time
		l.signedSize.Store(lastCp.TreeSize)
		l.signedAt.Store(lastCp.Time.UnixNano())
	}
	last := segs[len(segs)-1]
	l.rng, l.prev = v.rng, v.prev
	l.size.Store(v.seq)
	l.segNum = last.num
	l.segEntries = bytes.Count(lastData, []byte{'\n'})
	f, err := os.OpenFile(filepath.Join(l.dir, last.name), os.O_RDWR, 0o600)
	if err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	l.seg = appendFile{f: f, size: int64(len(lastData))}
	if _, err := f.Seek(l.seg.size, 0); err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	return nil
}

// tornTail decides whether the failure at 1-based line of data is a torn
// append: no complete, self-consistent entry with seq >= want follows it.
// It returns the offset where the good part ends.
func tornTail(data []byte, line int, want uint64) (int, bool) {
	off := 0
	for i := 1; i < line; i++ {
		off += bytes.IndexByte(data[off:], '\n') + 1
	}
	for rest := data[off:]; len(rest) > 0; {
		nl := bytes.IndexByte(rest, '\n')
		if nl < 0 {
			break
		}
		raw := rest[:nl]
		rest = rest[nl+1:]
		// The torn line itself may be followed by intact, acknowledged
		// entries only if the damage is not a torn write.
		for start := 0; start < len(raw); start++ {
			if raw[start] != '{' {
				continue
			}
			var h entryHead
			if json.Unmarshal(raw[start:], &h) == nil && h.Seq >= want {
				if self, ok := entrySelfHash(raw[start:]); ok && self == h.Hash {
					return 0, false
				}
			}
			break
		}
	}
	return off, true
}

func (l *Log) cutTail(name string, data []byte, good int) error {
	q := filepath.Join(l.dir, fmt.Sprintf("torn-%s-%d.bin", strings.TrimSuffix(name, segmentSuffix), good))
	if err := os.WriteFile(q, data[good:], 0o600); err != nil {
		return fmt.Errorf("audit: keep torn tail: %w", err)
	}
	if err := os.Truncate(filepath.Join(l.dir, name), int64(good)); err != nil {
		return fmt.Errorf("audit: truncate torn tail: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(l.dir, name), os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	return syncDir(l.dir)
}

// cpLines are the lines of the checkpoints file, checked on demand: a long
// log has many, and opening it checks the signatures of only the ones it
// relies on.
type cpLines struct {
	v     *jose.Verifier
	lines [][]byte
}

// openCheckpoints opens the checkpoints file for appending, cutting a torn
// last line.
func (l *Log) openCheckpoints() (*cpLines, error) {
	path := filepath.Join(l.dir, checkpointsFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	l.cp = appendFile{f: f}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	if len(data) == 0 {
		// Possibly just created: make its name as durable as its content will be.
		if err := syncDir(l.dir); err != nil {
			return nil, fmt.Errorf("audit: %w", err)
		}
	}
	good := bytes.LastIndexByte(data, '\n') + 1
	if good < len(data) {
		if err := f.Truncate(int64(good)); err != nil {
			return nil, fmt.Errorf("audit: truncate torn checkpoint: %w", err)
		}
		data = data[:good]
	}
	l.cp.size = int64(good)
	if _, err := f.Seek(l.cp.size, 0); err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	c := &cpLines{}
	if len(data) == 0 {
		return c, nil
	}
	c.lines = bytes.Split(data[:len(data)-1], []byte("\n"))
	if c.v, _, err = loadVerifier(l.dir, nil); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *cpLines) check(i int) (*parsedCheckpoint, error) {
	if c.v == nil {
		return nil, fmt.Errorf("%w: checkpoints but no public key (%s) to check them", ErrCorrupt, keysFile)
	}
	cp, err := parseCheckpoint(c.v, c.lines[i])
	if err != nil {
		return nil, fmt.Errorf("%w: checkpoint %d: %v; run `liaison audit verify`", ErrCorrupt, i+1, err)
	}
	root, _ := cp.root()
	return &parsedCheckpoint{line: i + 1, c: cp, root: root, raw: c.lines[i]}, nil
}

// last is the last checkpoint, verified; nil if there is none.
func (c *cpLines) last() (*parsedCheckpoint, error) {
	if len(c.lines) == 0 {
		return nil, nil
	}
	return c.check(len(c.lines) - 1)
}

// at is the verified checkpoint over exactly size entries, looked for from
// the end (a seal's checkpoint is among the last few); nil if none.
func (c *cpLines) at(size uint64) *parsedCheckpoint {
	for i := len(c.lines) - 1; i >= 0; i-- {
		n, err := checkpointSize(c.lines[i])
		if err != nil || n < size {
			return nil
		}
		if n == size {
			cp, err := c.check(i)
			if err != nil {
				return nil
			}
			return cp
		}
	}
	return nil
}

// sealState is what a seal leaves beside the segment it sealed: the tree
// state after its last entry, so that reopening need not reread it.
type sealState struct {
	Segment  string   `json:"segment"`
	TreeSize uint64   `json:"tree_size"`
	Prev     string   `json:"prev"`
	Range    []string `json:"range"` // compact range hashes, hex

	size uint64
	prev string
	rng  *compact.Range
}

func stateName(seg string) string { return strings.TrimSuffix(seg, segmentSuffix) + ".state.json" }

// writeSealState records the state after sealed segment n. It is an
// optimisation: if it cannot be written, opening reads the whole log.
func (l *Log) writeSealState(n int) {
	st := sealState{Segment: segmentName(n), TreeSize: l.size.Load(), Prev: l.prev}
	for _, h := range l.rng.Hashes() {
		st.Range = append(st.Range, hexHash(h))
	}
	b, err := json.Marshal(st)
	if err == nil {
		_ = writeFileAtomic(filepath.Join(l.dir, stateName(st.Segment)), b)
	}
}

// sealState loads the state after seg and returns it only if its root is
// the one the signed checkpoint at that size signs.
func (l *Log) sealState(seg segFile, cps *cpLines) *sealState {
	b, err := os.ReadFile(filepath.Join(l.dir, stateName(seg.name)))
	if err != nil {
		return nil
	}
	var st sealState
	if json.Unmarshal(b, &st) != nil || st.Segment != seg.name {
		return nil
	}
	hashes := make([][]byte, len(st.Range))
	for i, h := range st.Range {
		if hashes[i], err = hex.DecodeString(h); err != nil || len(hashes[i]) != 32 {
			return nil
		}
	}
	if st.rng, err = rangeFactory.NewRange(0, st.TreeSize, hashes); err != nil {
		return nil
	}
	cp := cps.at(st.TreeSize)
	if cp == nil {
		return nil
	}
	if root, err := st.rng.GetRootHash(nil); err != nil || !bytes.Equal(root, cp.root) {
		return nil
	}
	st.size, st.prev = st.TreeSize, st.Prev
	return &st
}

func createSegment(dir string, n int) error {
	f, err := os.OpenFile(filepath.Join(dir, segmentName(n)), os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		// A previous rotation created it and failed before using it.
		st, serr := os.Stat(filepath.Join(dir, segmentName(n)))
		if serr == nil && st.Size() == 0 {
			return syncDir(dir)
		}
	}
	if err != nil {
		return fmt.Errorf("audit: create segment: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("audit: create segment: %w", err)
	}
	if err := syncDir(dir); err != nil {
		return fmt.Errorf("audit: create segment: %w", err)
	}
	return nil
}

func (a *appendFile) close() {
	if a.f != nil {
		a.f.Close()
		a.f = nil
	}
}

// Dir is the log directory.
func (l *Log) Dir() string { return l.dir }

// LastCheckpoint is the time of the latest signed checkpoint (zero if none
// was signed yet) and how many entries it covers, for the checkpoint-age
// metric: entries beyond it are not yet covered by a signature.
func (l *Log) LastCheckpoint() (time.Time, uint64) {
	at := l.signedAt.Load()
	if at == 0 {
		return time.Time{}, l.signedSize.Load()
	}
	return time.Unix(0, at), l.signedSize.Load()
}

// Size is the number of durable entries.
func (l *Log) Size() uint64 { return l.size.Load() }

// Append implements Writer. It returns after the entry is durable, or with
// an error wrapping ErrUnavailable when it cannot say so within the write
// timeout. An entry whose caller gave up but that became durable anyway is
// followed by a correction entry (Corrects = its seq), so that the log never
// claims an operation the caller was told had failed.
func (l *Log) Append(ctx context.Context, ev *Event) error {
	if l.closed.Load() {
		return fmt.Errorf("%w: closed", ErrUnavailable)
	}
	if err := l.stalled(); err != nil {
		return fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	if l.key != nil {
		hmacFields(ev, l.key, l.opts.HMACFields)
	}
	req := &appendReq{ev: ev, err: make(chan error, 1)}
	timer := time.NewTimer(l.opts.WriteTimeout)
	defer timer.Stop()
	select {
	case l.reqs <- req:
	case <-ctx.Done():
		return fmt.Errorf("%w: %v", ErrUnavailable, ctx.Err())
	case <-timer.C:
		return fmt.Errorf("%w: the writer has not taken the entry within %s", ErrUnavailable, l.opts.WriteTimeout)
	case <-l.stop:
		return fmt.Errorf("%w: closed", ErrUnavailable)
	}
	var why error
	select {
	case err := <-req.err:
		return err
	case <-ctx.Done():
		why = ctx.Err()
	case <-timer.C:
		why = fmt.Errorf("not durable within %s", l.opts.WriteTimeout)
	case <-l.done:
		why = errors.New("closed")
	}
	if !req.state.CompareAndSwap(0, 2) {
		return <-req.err // answered at the same moment
	}
	return fmt.Errorf("%w: %v", ErrUnavailable, why)
}

// stalled reports a write that has been running longer than the timeout.
func (l *Log) stalled() error {
	since := l.busySince.Load()
	if since == 0 {
		return nil
	}
	if d := time.Since(time.Unix(0, since)); d > l.opts.WriteTimeout {
		return fmt.Errorf("audit log stalled: a write has not completed for %s", d.Truncate(time.Millisecond))
	}
	return nil
}

// Healthy reports whether the log can be written (for /readyz): not
// closed, not stalled, the last write succeeded, and so did the last
// checkpoint.
func (l *Log) Healthy() error {
	if l.closed.Load() {
		return errors.New("audit log closed")
	}
	if err := l.stalled(); err != nil {
		return err
	}
	if msg := l.failMsg.Load(); msg != nil {
		return errors.New("audit log not writable: " + *msg)
	}
	if msg := l.cpMsg.Load(); msg != nil {
		return errors.New("audit checkpoint not written: " + *msg)
	}
	return l.Writable()
}

// Close stops the writer after the queued appends, signs a last checkpoint
// and closes the files.
func (l *Log) Close() error {
	l.closeOnce.Do(func() {
		l.closed.Store(true)
		close(l.stop)
	})
	<-l.done
	return l.lock.Unlock()
}

func (l *Log) loop() {
	defer close(l.done)
	defer l.cp.close()
	defer l.seg.close()
	var tick <-chan time.Time
	if l.opts.CheckpointInterval > 0 {
		t := time.NewTicker(l.opts.CheckpointInterval)
		defer t.Stop()
		tick = t.C
	}
	var probeTick <-chan time.Time
	if l.opts.ProbeInterval > 0 {
		t := time.NewTicker(l.opts.ProbeInterval)
		defer t.Stop()
		probeTick = t.C
	}
	batch := make([]*appendReq, 0, maxBatch)
	for {
		batch = append(batch[:0], l.corrections...)
		l.corrections = l.corrections[:0]
		// Owed corrections go out at once, unless writes are failing: then
		// they wait for the next caller (or a second) instead of spinning.
		if len(batch) == 0 || l.failMsg.Load() != nil {
			var retry <-chan time.Time
			if len(batch) > 0 {
				retry = time.After(time.Second)
			}
			select {
			case r := <-l.reqs:
				batch = append(batch, r)
			case <-retry:
			case <-tick:
				l.checkpointAndRecord()
				l.corrections = append(l.corrections, batch...)
				continue
			case <-probeTick:
				l.runProbe()
				l.corrections = append(l.corrections, batch...)
				continue
			case <-l.stop:
				l.corrections = append(l.corrections, batch...)
				l.shutdown()
				return
			}
		}
		batch = l.drain(batch)
		l.write(batch)
	}
}

// drain adds whatever is already queued: one fsync for all of them.
func (l *Log) drain(batch []*appendReq) []*appendReq {
	for len(batch) < maxBatch {
		select {
		case r := <-l.reqs:
			batch = append(batch, r)
		default:
			return batch
		}
	}
	return batch
}

// shutdown writes what is queued and owed, then a last checkpoint. Callers
// that enqueue after this drain are answered "closed" by Append.
func (l *Log) shutdown() {
	for {
		batch := l.drain(append([]*appendReq(nil), l.corrections...))
		l.corrections = nil
		if len(batch) == 0 {
			break
		}
		l.write(batch)
		if l.failMsg.Load() != nil {
			for _, r := range l.drain(nil) {
				r.answer(fmt.Errorf("%w: closed", ErrUnavailable))
			}
			break
		}
	}
	l.checkpointAndRecord()
}

// write makes one batch durable and answers its callers.
func (l *Log) write(batch []*appendReq) {
	if err := l.maybeRotate(); err != nil {
		l.fail(batch, err)
		return
	}
	var buf bytes.Buffer
	lines := make([][]byte, 0, len(batch))
	kept := batch[:0:0]
	seq, prev := l.size.Load(), l.prev
	for _, r := range batch {
		if !r.internal && r.state.Load() == 2 {
			continue // its caller gave up before it was written: never claim it
		}
		r.ev.Seq, r.ev.Prev = seq+1, prev
		line, err := encodeEntry(r.ev)
		if err != nil {
			r.answer(fmt.Errorf("%w: encode entry: %v", ErrUnavailable, err))
			continue
		}
		seq, prev = r.ev.Seq, r.ev.Hash
		buf.Write(line)
		buf.WriteByte('\n')
		lines = append(lines, line)
		kept = append(kept, r)
	}
	if len(kept) == 0 {
		return
	}
	l.busySince.Store(time.Now().UnixNano())
	err := l.appendSync(&l.seg, buf.Bytes())
	l.busySince.Store(0)
	if err != nil {
		l.fail(kept, err)
		return
	}
	for _, line := range lines {
		if err := l.rng.Append(hasher.HashLeaf(line), nil); err != nil {
			panic(err) // appending to a range that ends where we are cannot fail
		}
	}
	l.prev = prev
	l.size.Store(seq)
	l.segEntries += len(kept)
	l.failMsg.Store(nil)
	for _, r := range kept {
		if !r.answer(nil) {
			l.corrections = append(l.corrections, &appendReq{ev: correctionFor(r.ev, l.opts.Now()), internal: true})
		}
	}
	if seq-l.cpSize >= uint64(l.opts.CheckpointEvery) {
		l.checkpointAndRecord()
	}
}

func (l *Log) fail(batch []*appendReq, err error) {
	msg := err.Error()
	l.failMsg.Store(&msg)
	for _, r := range batch {
		if r.internal {
			l.corrections = append(l.corrections, r) // owed; retried with the next batch
			continue
		}
		r.answer(fmt.Errorf("%w: %v", ErrUnavailable, err))
	}
}

// correctionFor is the entry that says orig's caller was told its request
// failed, although orig became durable after the caller stopped waiting.
func correctionFor(orig *Event, now time.Time) *Event {
	return &Event{
		Time: now.UTC(), Gateway: orig.Gateway, RequestID: orig.RequestID, Operation: orig.Operation,
		Action: orig.Action, Method: orig.Method, Route: orig.Route, Status: 503,
		Agency: orig.Agency, Officer: orig.Officer, CertFingerprint: orig.CertFingerprint,
		RecordIDs: orig.RecordIDs, Originator: orig.Originator, DSAIDs: orig.DSAIDs,
		Corrects: orig.Seq, HMACFields: orig.HMACFields,
		Error: "audit: entry became durable after its caller gave up; the request was answered 503 and not carried out",
	}
}

// encodeEntry sets ev.Hash and returns the entry's line (no newline): the
// JSON encoding with the hash, which is SHA-256 of that same encoding with
// the hash empty. The line is the entry's Merkle leaf.
func encodeEntry(ev *Event) ([]byte, error) {
	ev.Hash = ""
	b, err := json.Marshal(ev)
	if err != nil {
		return nil, err
	}
	if !bytes.HasSuffix(b, []byte(`,"hash":""}`)) {
		return nil, errors.New("entry encoding does not end with its hash")
	}
	sum := sha256.Sum256(b)
	ev.Hash = "sha256:" + hex.EncodeToString(sum[:])
	line := make([]byte, 0, len(b)+len(ev.Hash))
	line = append(line, b[:len(b)-2]...)
	line = append(line, ev.Hash...)
	return append(line, '"', '}'), nil
}

// appendSync appends b to a and fsyncs. On failure it cuts the file back,
// so that a failed batch leaves no partial entries for the next to follow.
func (l *Log) appendSync(a *appendFile, b []byte) error {
	if a.dirty {
		if err := l.cut(a); err != nil {
			return err
		}
	}
	if _, err := l.writeFn(a.f, b); err != nil {
		a.dirty = true
		_ = l.cut(a)
		return fmt.Errorf("write: %w", err)
	}
	if err := l.syncFn(a.f); err != nil {
		a.dirty = true
		_ = l.cut(a)
		return fmt.Errorf("fsync: %w", err)
	}
	a.size += int64(len(b))
	return nil
}

func (l *Log) cut(a *appendFile) error {
	if err := a.f.Truncate(a.size); err != nil {
		return fmt.Errorf("cut failed write: %w", err)
	}
	if _, err := a.f.Seek(a.size, 0); err != nil {
		return fmt.Errorf("cut failed write: %w", err)
	}
	a.dirty = false
	return nil
}

// maybeRotate seals the active segment when it is full: a checkpoint over
// everything in it, then the next segment.
func (l *Log) maybeRotate() error {
	if l.segEntries < l.opts.SegmentMaxEntries && l.seg.size < l.opts.SegmentMaxBytes {
		return nil
	}
	if err := l.checkpoint(); err != nil {
		return fmt.Errorf("seal %s: %w", segmentName(l.segNum), err)
	}
	if l.opts.Signer != nil {
		l.writeSealState(l.segNum)
	}
	if err := createSegment(l.dir, l.segNum+1); err != nil {
		return err
	}
	f, err := os.OpenFile(filepath.Join(l.dir, segmentName(l.segNum+1)), os.O_RDWR, 0o600)
	if err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	l.seg.close()
	l.seg = appendFile{f: f}
	l.segNum++
	l.segEntries = 0
	return nil
}

func (l *Log) checkpointAndRecord() {
	if err := l.checkpoint(); err != nil {
		msg := err.Error()
		l.cpMsg.Store(&msg)
		return
	}
	l.cpMsg.Store(nil)
}

// checkpoint signs the current tree head if it has grown since the last.
func (l *Log) checkpoint() error {
	n := l.size.Load()
	if l.opts.Signer == nil || n == l.cpSize {
		return nil
	}
	root, err := l.rng.GetRootHash(nil)
	if err != nil {
		return err
	}
	now := l.opts.Now().UTC()
	if now.Before(l.cpTime) {
		now = l.cpTime // checkpoint times never go back, whatever the clock does
	}
	jws, err := signCheckpoint(l.opts.Signer, Checkpoint{Gateway: l.opts.Gateway, TreeSize: n, RootHash: hexHash(root), Time: now})
	if err != nil {
		return err
	}
	l.busySince.Store(time.Now().UnixNano())
	err = l.appendSync(&l.cp, append(jws, '\n'))
	l.busySince.Store(0)
	if err != nil {
		return err
	}
	l.cpSize, l.cpTime = n, now
	l.signedSize.Store(n)
	l.signedAt.Store(now.UnixNano())
	// The note form of the same checkpoint, for witnesses (note.go). It
	// comes after the JWS is durable, so it never states a size the JWS
	// file lacks; if writing it fails, the JWS stands and the error is the
	// checkpoint's (Healthy reports it) until the next checkpoint's note.
	msg, err := signNote(l.opts.Signer, Checkpoint{Gateway: l.opts.Gateway, TreeSize: n, RootHash: hexHash(root), Time: now})
	if err != nil {
		return fmt.Errorf("checkpoint note: %w", err)
	}
	if err := writeNote(l.dir, msg); err != nil {
		return fmt.Errorf("checkpoint note: %w", err)
	}
	return nil
}
