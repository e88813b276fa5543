package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Results is the machine-readable record of a run's targets, written next
// to the report, so that the next run can say whether it reproduces them.
type Results struct {
	// Started is when the run began; Commit the repository's commit then
	// ("" outside a git checkout).
	Started time.Time
	Commit  string
	// Load is the 1-minute load average at the start.
	Load    string
	Targets []TargetResult
}

// TargetResult is one target judged on interleaved rounds: the median and
// the range of its per-round values, in the unit of Format.
type TargetResult struct {
	What, Goal string
	// Format renders one value (fmt verb and unit); Scale multiplies it
	// first (100 for shares kept as fractions).
	Format      string
	Scale       float64
	Med, Lo, Hi float64
	Rounds, Met int
}

func (t TargetResult) text(v float64) string { return fmt.Sprintf(t.Format, v*t.Scale) }

// span is "median (lowest to highest)".
func (t TargetResult) span() string {
	return fmt.Sprintf("%s (%s to %s, %d rounds)", t.text(t.Med), t.text(t.Lo), t.text(t.Hi), t.Rounds)
}

// resultsPath is where a run's Results go: bench/results.json for the
// default report, else next to the report with the extension .json.
func (d *driver) resultsPath() string {
	if d.opt.Out == filepath.Join(d.opt.Root, "BENCHMARKS.md") {
		return filepath.Join(d.opt.Root, "bench", "results.json")
	}
	return strings.TrimSuffix(d.opt.Out, filepath.Ext(d.opt.Out)) + ".json"
}

// results collects this run's round-judged targets.
func (d *driver) results(ctx context.Context) *Results {
	res := &Results{Started: d.rep.Started.UTC(), Load: d.rep.Machine.Load}
	if out, err := commandOutput(ctx, d.opt.Root, "git", "rev-parse", "--short", "HEAD"); err == nil {
		res.Commit = strings.TrimSpace(out)
	}
	for _, t := range d.targets() {
		if t.rounds == nil {
			continue
		}
		format, scale := valueFormat(t.goal)
		res.Targets = append(res.Targets, TargetResult{What: t.what, Goal: t.goal, Format: format, Scale: scale,
			Med: t.rounds.med, Lo: t.rounds.lo, Hi: t.rounds.hi, Rounds: t.rounds.n, Met: t.rounds.met})
	}
	return res
}

// valueFormat picks how a target's per-round values read, from its goal:
// ratios (×), shares kept as fractions (%), kilobytes, or plain numbers.
func valueFormat(goal string) (string, float64) {
	switch {
	case strings.Contains(goal, "×"):
		return "%.2f×", 1
	case strings.Contains(goal, "%"):
		return "%+.0f %%", 100
	case strings.Contains(goal, "KB"):
		return "%+.1f KB", 1
	}
	return "%+.2f", 1
}

// readResults reads the Results of the previous run at path; nil when
// there is none.
func readResults(path string) (*Results, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var r Results
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &r, nil
}

// writeResults writes r as indented JSON.
func writeResults(path string, r *Results) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// reproduces says whether this run's median of a target falls within the
// previous run's range of it.
func reproduces(prev, now TargetResult) bool { return now.Med >= prev.Lo && now.Med <= prev.Hi }

// reproductionSection compares this run's round-judged targets with the
// previous run's record: a target reproduces when this run's median lies
// within the range of rounds the previous run stated.
func (d *driver) reproductionSection(p func(string, ...any), prev, now *Results) {
	if prev == nil || now == nil {
		return
	}
	p("## Reproduction: this run against the previous one\n\n")
	commit := prev.Commit
	if commit == "" {
		commit = "unknown commit"
	}
	p("The previous run's record (`%s`, started %s, commit %s, load average %s at its start) states, for each target judged on rounds, the median and the range of its rounds. ",
		filepath.ToSlash(relTo(d.opt.Root, d.resultsPath())), prev.Started.Format("2006-01-02 15:04 MST"), commit, prev.Load)
	p("A target **reproduces** when this run's median falls within that range.")
	if prev.Started.Format("2006-01-02") == now.Started.Format("2006-01-02") {
		p(" Both runs started on %s: this is a rerun on the same day, not yet the rerun on another day that \"met\" asks for.", now.Started.Format("2006-01-02"))
	}
	p("\n\n| target | previous run: median (range) | this run: median (range) | |\n|---|---|---|---|\n")
	n, ok := 0, 0
	for _, t := range now.Targets {
		var pt *TargetResult
		for i := range prev.Targets {
			if prev.Targets[i].What == t.What {
				pt = &prev.Targets[i]
			}
		}
		if pt == nil {
			p("| %s | not in the previous run | %s | |\n", t.What, t.span())
			continue
		}
		n++
		verdict := "**outside** the previous range"
		if reproduces(*pt, t) {
			ok++
			verdict = "reproduces"
		}
		p("| %s | %s | %s | %s |\n", t.What, pt.span(), t.span(), verdict)
	}
	for _, pt := range prev.Targets {
		if !slices.ContainsFunc(now.Targets, func(t TargetResult) bool { return t.What == pt.What }) {
			p("| %s | %s | not judged in this run | |\n", pt.What, pt.span())
		}
	}
	p("\n%d of %d targets reproduce.\n\n", ok, n)
}

// relTo is path relative to root, or path when it is not under root.
func relTo(root, path string) string {
	if r, err := filepath.Rel(root, path); err == nil && !strings.HasPrefix(r, "..") {
		return r
	}
	return path
}
