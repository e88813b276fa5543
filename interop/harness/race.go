//go:build race

package harness

// raceEnabled reports whether this test binary was built with -race; Build then builds with
// -race too, so that data races in programs under test are reported.
const raceEnabled = true
