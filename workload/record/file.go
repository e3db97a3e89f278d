package record

import (
	"bufio"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"time"
)

// FileName is the saved records' file name: newline-delimited JSON, one
// record per line, gzip-compressed. A line is an object with one key
// naming the record's kind: {"receipt":{...}}. A reader can stream it
// (zcat records.ndjson.gz | jq -c 'select(.streamEnd)') instead of
// loading one document of hundreds of megabytes.
const FileName = "records.ndjson.gz"

// line is one line of the file: exactly one field is set.
type line struct {
	ScaleEvent        *ScaleEvent        `json:"scaleEvent,omitempty"`
	ScaleFailure      *ScaleFailure      `json:"scaleFailure,omitempty"`
	EndpointChange    *EndpointChange    `json:"endpointChange,omitempty"`
	KubeConvergence   *KubeConvergence   `json:"kubeConvergence,omitempty"`
	Stream            *StreamInfo        `json:"stream,omitempty"`
	Receipt           *Receipt           `json:"receipt,omitempty"`
	StreamConvergence *StreamConvergence `json:"streamConvergence,omitempty"`
	StreamEnd         *StreamEnd         `json:"streamEnd,omitempty"`
	Sampling          *Sampling          `json:"sampling,omitempty"`
	Process           *ProcessStat       `json:"process,omitempty"`
}

// WriteFile writes s to path in the FileName format.
func WriteFile(path string, s Set, perm os.FileMode) (err error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, perm)
	if err != nil {
		return fmt.Errorf("write records: %w", err)
	}
	defer func() {
		if cerr := f.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("write records %s: %w", path, cerr)
		}
	}()
	bw := bufio.NewWriterSize(f, 1<<16)
	zw := gzip.NewWriter(bw)
	if err := WriteLines(zw, s); err != nil {
		return fmt.Errorf("write records %s: %w", path, err)
	}
	if err := zw.Close(); err != nil {
		return fmt.Errorf("write records %s: %w", path, err)
	}
	return bw.Flush()
}

// WriteLines writes s as newline-delimited JSON, one record per line.
func WriteLines(w io.Writer, s Set) error {
	enc := json.NewEncoder(w)
	var err error
	put := func(l line) {
		if err == nil {
			err = enc.Encode(l)
		}
	}
	for i := range s.ScaleEvents {
		put(line{ScaleEvent: &s.ScaleEvents[i]})
	}
	for i := range s.ScaleFailures {
		put(line{ScaleFailure: &s.ScaleFailures[i]})
	}
	for i := range s.EndpointChanges {
		put(line{EndpointChange: &s.EndpointChanges[i]})
	}
	for i := range s.KubeConvergence {
		put(line{KubeConvergence: &s.KubeConvergence[i]})
	}
	for i := range s.Streams {
		put(line{Stream: &s.Streams[i]})
	}
	for i := range s.Receipts {
		put(line{Receipt: &s.Receipts[i]})
	}
	for i := range s.StreamConvergence {
		put(line{StreamConvergence: &s.StreamConvergence[i]})
	}
	for i := range s.StreamEnds {
		put(line{StreamEnd: &s.StreamEnds[i]})
	}
	for i := range s.Sampling {
		put(line{Sampling: &s.Sampling[i]})
	}
	for i := range s.Processes {
		put(line{Process: &s.Processes[i]})
	}
	return err
}

// ReadFile reads a file WriteFile wrote.
func ReadFile(path string) (Set, error) {
	f, err := os.Open(path)
	if err != nil {
		return Set{}, fmt.Errorf("read records: %w", err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(bufio.NewReaderSize(f, 1<<16))
	if err != nil {
		return Set{}, fmt.Errorf("read records %s: %w", path, err)
	}
	s, err := ReadLines(zr)
	if err != nil {
		return Set{}, fmt.Errorf("read records %s: %w", path, err)
	}
	return s, nil
}

// ReadLines reads newline-delimited records written by WriteLines.
func ReadLines(r io.Reader) (Set, error) {
	var s Set
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	for n := 1; ; n++ {
		var l line
		if err := dec.Decode(&l); errors.Is(err, io.EOF) {
			return s, nil
		} else if err != nil {
			return Set{}, fmt.Errorf("record %d: %w", n, err)
		}
		switch {
		case l.ScaleEvent != nil:
			s.ScaleEvents = append(s.ScaleEvents, *l.ScaleEvent)
		case l.ScaleFailure != nil:
			s.ScaleFailures = append(s.ScaleFailures, *l.ScaleFailure)
		case l.EndpointChange != nil:
			s.EndpointChanges = append(s.EndpointChanges, *l.EndpointChange)
		case l.KubeConvergence != nil:
			s.KubeConvergence = append(s.KubeConvergence, *l.KubeConvergence)
		case l.Stream != nil:
			s.Streams = append(s.Streams, *l.Stream)
		case l.Receipt != nil:
			s.Receipts = append(s.Receipts, *l.Receipt)
		case l.StreamConvergence != nil:
			s.StreamConvergence = append(s.StreamConvergence, *l.StreamConvergence)
		case l.StreamEnd != nil:
			s.StreamEnds = append(s.StreamEnds, *l.StreamEnd)
		case l.Sampling != nil:
			s.Sampling = append(s.Sampling, *l.Sampling)
		case l.Process != nil:
			s.Processes = append(s.Processes, *l.Process)
		default:
			return Set{}, fmt.Errorf("record %d: no known kind", n)
		}
	}
}

// scaleEventJSON is ScaleEvent as JSON: the duration in seconds, named so.
type scaleEventJSON struct {
	scaleEventFields
	TookSeconds float64 `json:"tookSeconds"`
}

type scaleEventFields ScaleEvent

// MarshalJSON writes Took as tookSeconds.
func (e ScaleEvent) MarshalJSON() ([]byte, error) {
	return json.Marshal(scaleEventJSON{scaleEventFields(e), e.Took.Seconds()})
}

// UnmarshalJSON reads tookSeconds into Took.
func (e *ScaleEvent) UnmarshalJSON(b []byte) error {
	var j scaleEventJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*e = ScaleEvent(j.scaleEventFields)
	e.Took = time.Duration(math.Round(j.TookSeconds * float64(time.Second)))
	return nil
}
