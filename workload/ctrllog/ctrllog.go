// Package ctrllog reads the destination controller's own log (logrus text
// lines, as Linkerd's controller writes them) for its errors and warnings,
// ties them to services and deduplicates them, so that a report can put
// the controller's explanation next to what dstload measured.
package ctrllog

import (
	"bufio"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strings"
	"time"
)

// Line is one error or warning line of the controller's log.
type Line struct {
	Time   time.Time
	Level  string // "error", "warning", "fatal", "panic"
	Msg    string
	Fields map[string]string
}

// maxLine bounds one log line; longer ones are cut (a controller can log
// whole objects).
const maxLine = 1 << 20

// Parse returns the error and warning lines (and worse) of a logrus text
// log whose time is within [from, to] (a zero bound is open). Lines that
// are not logrus text are skipped.
func Parse(r io.Reader, from, to time.Time) ([]Line, error) {
	var out []Line
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), maxLine)
	for sc.Scan() {
		l, ok := parseLine(sc.Text())
		if !ok || !serious(l.Level) {
			continue
		}
		// The log has second resolution: a line stamped within the
		// second of a bound belongs to it.
		if !from.IsZero() && l.Time.Before(from.Truncate(time.Second)) {
			continue
		}
		if !to.IsZero() && l.Time.After(to) {
			continue
		}
		out = append(out, l)
	}
	if err := sc.Err(); err != nil {
		return out, fmt.Errorf("read controller log: %w", err)
	}
	return out, nil
}

func serious(level string) bool {
	switch level {
	case "error", "warning", "warn", "fatal", "panic":
		return true
	}
	return false
}

// parseLine reads key=value and key="quoted value" pairs.
func parseLine(s string) (Line, bool) {
	f := map[string]string{}
	for len(s) > 0 {
		s = strings.TrimLeft(s, " ")
		eq := strings.IndexByte(s, '=')
		if eq <= 0 || strings.ContainsAny(s[:eq], " \"") {
			break
		}
		key := s[:eq]
		s = s[eq+1:]
		var val string
		if strings.HasPrefix(s, `"`) {
			end := closingQuote(s)
			if end < 0 {
				return Line{}, false
			}
			val = unquote(s[1:end])
			s = s[end+1:]
		} else {
			sp := strings.IndexByte(s, ' ')
			if sp < 0 {
				sp = len(s)
			}
			val, s = s[:sp], s[sp:]
		}
		f[key] = val
	}
	t, err := time.Parse(time.RFC3339Nano, f["time"])
	if err != nil || f["level"] == "" {
		return Line{}, false
	}
	l := Line{Time: t, Level: f["level"], Msg: f["msg"], Fields: f}
	delete(f, "time")
	delete(f, "level")
	delete(f, "msg")
	return l, true
}

// closingQuote finds the quote ending the value that starts at s[0].
func closingQuote(s string) int {
	for i := 1; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '"':
			return i
		}
	}
	return -1
}

func unquote(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	return strings.NewReplacer(`\"`, `"`, `\\`, `\`, `\n`, "\n", `\t`, "\t").Replace(s)
}

// About says whether the line is about service ("namespace/name"): the
// controller names it in fields (ns and svc, or service as an authority),
// or the message names one of its pods (the Deployment's, "name-...").
func (l Line) About(service string) bool {
	ns, name, ok := strings.Cut(service, "/")
	if !ok {
		return false
	}
	if l.Fields["svc"] == name && (l.Fields["ns"] == ns || l.Fields["namespace"] == ns) {
		return true
	}
	if strings.HasPrefix(l.Fields["service"], name+"."+ns+".") {
		return true
	}
	if strings.Contains(l.Msg, ns+"/"+name+"-") {
		return true
	}
	inNS := l.Fields["ns"] == ns || l.Fields["namespace"] == ns || l.Fields["context-ns"] == ns
	return inNS && strings.Contains(l.Msg, `"`+name+"-")
}

// Summary is one kind of log line: the lines whose message is the same once
// names, addresses and numbers are masked.
type Summary struct {
	Level   string    `json:"level"`
	Message string    `json:"message"`
	Example string    `json:"example"`
	Count   int       `json:"count"`
	First   time.Time `json:"first"`
	Last    time.Time `json:"last"`
}

var (
	reAddr = regexp.MustCompile(`\[?[0-9a-fA-F:.]*[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+\]?(:[0-9]+)?|\[[0-9a-fA-F:]+\](:[0-9]+)?`)
	rePod  = regexp.MustCompile(`\b[a-z0-9]([a-z0-9-]*[a-z0-9])?-[a-z0-9]{6,10}-[a-z0-9]{5}\b`)
	reNum  = regexp.MustCompile(`\b[0-9]+\b`)
)

// Mask replaces what varies between otherwise equal messages (pod names,
// addresses, numbers) so that they count as one.
func Mask(msg string) string {
	msg = reAddr.ReplaceAllString(msg, "<addr>")
	msg = rePod.ReplaceAllString(msg, "<pod>")
	return reNum.ReplaceAllString(msg, "<n>")
}

// Summarize deduplicates lines by level and masked message, most frequent
// first.
func Summarize(lines []Line) []Summary {
	type key struct{ level, msg string }
	idx := map[key]int{}
	var out []Summary
	for _, l := range lines {
		k := key{l.Level, Mask(l.Msg)}
		i, ok := idx[k]
		if !ok {
			i = len(out)
			idx[k] = i
			out = append(out, Summary{Level: l.Level, Message: k.msg, Example: l.Msg, First: l.Time, Last: l.Time})
		}
		s := &out[i]
		s.Count++
		if l.Time.Before(s.First) {
			s.First = l.Time
		}
		if l.Time.After(s.Last) {
			s.Last = l.Time
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Count > out[j].Count })
	return out
}
