package zohoquota

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

const checkpointVersion = 1

// checkpoint is the file a Job keeps: its identity, the batches with a final state
// and their per-record results, and the batches that may have been sent.
type checkpoint struct {
	Version   int    `json:"version"`
	Job       string `json:"job"`
	Op        Op     `json:"op"`
	Module    string `json:"module,omitempty"`
	Records   int    `json:"records"`
	BatchSize int    `json:"batch_size"`
	// InFlight are batches that may have been sent without their results being
	// kept: after a crash, plain inserts among them are Unknown.
	InFlight []int             `json:"in_flight"`
	Batches  []json.RawMessage `json:"batches"` // ckBatch each
}

// ckBatch is one batch with a final state.
type ckBatch struct {
	Batch int `json:"batch"`
	// Unknown, when set, says why the batch's records are Unknown.
	Unknown string   `json:"unknown,omitempty"`
	Results []Result `json:"results,omitempty"`
}

// encodeBatch returns batch b's entry in the checkpoint. r.mu must be held.
func (r *jobRun[R]) encodeBatch(b int) json.RawMessage {
	out := r.outcomes[b*r.size : b*r.size+len(r.batch(b))]
	cb := ckBatch{Batch: b}
	if out[0].State == Unknown {
		cb.Unknown = out[0].Result.Message
	} else {
		cb.Results = make([]Result, len(out))
		for i, o := range out {
			cb.Results[i] = o.Result
		}
	}
	raw, err := json.Marshal(cb)
	if err != nil {
		// Results hold only strings and JSON-decoded details; a value json cannot
		// encode came from a custom SendFunc. Keep the batch, lose the details.
		for i := range cb.Results {
			cb.Results[i].Details = nil
		}
		raw, _ = json.Marshal(cb)
	}
	return raw
}

// snapshot returns the checkpoint as it stands. r.mu must be held.
func (r *jobRun[R]) snapshot() *checkpoint {
	ck := &checkpoint{
		Version: checkpointVersion, Job: r.id, Op: r.j.Op, Module: r.j.Module,
		Records: len(r.outcomes), BatchSize: r.size, InFlight: []int{}, Batches: []json.RawMessage{},
	}
	for b := range r.batches {
		if r.final[b] {
			if r.raw[b] == nil {
				r.raw[b] = r.encodeBatch(b)
			}
			ck.Batches = append(ck.Batches, r.raw[b])
		} else if r.inFlight[b] {
			ck.InFlight = append(ck.InFlight, b)
		}
	}
	return ck
}

// write saves the checkpoint atomically: a temporary file beside path, synced, then
// renamed over it, so that a reader sees the old checkpoint or the new one, whole.
func (ck *checkpoint) write(path string) error {
	data, err := json.Marshal(ck)
	if err != nil {
		return fmt.Errorf("zohoquota: encode checkpoint: %w: %w", ErrCheckpoint, err)
	}
	f, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("zohoquota: write checkpoint: %w: %w", ErrCheckpoint, err)
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("zohoquota: write checkpoint %s: %w: %w", path, ErrCheckpoint, err)
	}
	return nil
}

// ReadCheckpoint reads a job's checkpoint file and reports its job identity, the
// records it covers and how many of them are in a final state. It is for tools
// that show a checkpoint; Job.Run reads its own.
func ReadCheckpoint(path string) (job string, records, final int, err error) {
	ck, batches, err := readCheckpoint(path)
	if err != nil {
		return "", 0, 0, err
	}
	for _, b := range batches {
		final += min(ck.BatchSize, ck.Records-b.Batch*ck.BatchSize)
	}
	return ck.Job, ck.Records, final, nil
}

func readCheckpoint(path string) (*checkpoint, []ckBatch, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	var ck checkpoint
	if err := json.Unmarshal(data, &ck); err != nil {
		return nil, nil, fmt.Errorf("zohoquota: read checkpoint %s: %w: %w", path, ErrCheckpoint, err)
	}
	if ck.Version != checkpointVersion {
		return nil, nil, fmt.Errorf("zohoquota: checkpoint %s has version %d, want %d: %w", path, ck.Version, checkpointVersion, ErrCheckpoint)
	}
	if ck.BatchSize < 1 || ck.Records < 0 {
		return nil, nil, fmt.Errorf("zohoquota: checkpoint %s: batch size %d, %d records: %w", path, ck.BatchSize, ck.Records, ErrCheckpoint)
	}
	nb := divRoundUp(ck.Records, ck.BatchSize)
	seen := make(map[int]bool, len(ck.Batches))
	batches := make([]ckBatch, len(ck.Batches))
	for i, raw := range ck.Batches {
		cb := &batches[i]
		if err := json.Unmarshal(raw, cb); err != nil {
			return nil, nil, fmt.Errorf("zohoquota: checkpoint %s, batch entry %d: %w: %w", path, i, ErrCheckpoint, err)
		}
		if cb.Batch < 0 || cb.Batch >= nb || seen[cb.Batch] {
			return nil, nil, fmt.Errorf("zohoquota: checkpoint %s: batch %d out of range or repeated: %w", path, cb.Batch, ErrCheckpoint)
		}
		seen[cb.Batch] = true
		if n := min(ck.BatchSize, ck.Records-cb.Batch*ck.BatchSize); cb.Unknown == "" && len(cb.Results) != n {
			return nil, nil, fmt.Errorf("zohoquota: checkpoint %s: batch %d has %d results for %d records: %w", path, cb.Batch, len(cb.Results), n, ErrCheckpoint)
		}
	}
	for _, b := range ck.InFlight {
		if b < 0 || b >= nb {
			return nil, nil, fmt.Errorf("zohoquota: checkpoint %s: in-flight batch %d out of range: %w", path, b, ErrCheckpoint)
		}
	}
	return &ck, batches, nil
}

// load resumes from the job's checkpoint file, if there is one.
func (r *jobRun[R]) load() error {
	path := r.j.Checkpoint
	ck, batches, err := readCheckpoint(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		if !errors.Is(err, ErrCheckpoint) {
			err = fmt.Errorf("zohoquota: read checkpoint: %w: %w", ErrCheckpoint, err)
		}
		return err
	}
	if ck.Job != r.id || ck.Records != len(r.outcomes) || ck.BatchSize != r.size {
		return fmt.Errorf("zohoquota: checkpoint %s is for job %s (%d records, batches of %d), not this job %s (%d records, batches of %d): %w",
			path, ck.Job, ck.Records, ck.BatchSize, r.id, len(r.outcomes), r.size, ErrCheckpoint)
	}
	for _, cb := range batches {
		base := cb.Batch * r.size
		if cb.Unknown != "" {
			r.markUnknown(cb.Batch, cb.Unknown)
		} else {
			for i, res := range cb.Results {
				st := Failed
				if res.OK() {
					st = Confirmed
				}
				r.outcomes[base+i] = Outcome{State: st, Result: res}
			}
		}
		r.final[cb.Batch] = true
	}
	resendable := r.j.Idempotent || r.j.Op == Read
	for _, b := range ck.InFlight {
		if r.final[b] || resendable {
			continue
		}
		r.markUnknown(b, "the job stopped while this batch may have been sent; check before resending")
		r.final[b] = true
	}
	for _, o := range r.outcomes {
		if o.State != Pending {
			r.resumed++
		}
	}
	return nil
}

// markUnknown sets every record of batch b to Unknown with msg.
func (r *jobRun[R]) markUnknown(b int, msg string) {
	base := b * r.size
	for i := range r.batch(b) {
		r.outcomes[base+i] = Outcome{State: Unknown, Result: Result{Code: CodeUnknown, Message: msg}}
	}
}
