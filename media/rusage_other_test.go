//go:build !unix

package media_test

import "time"

// cpuTime is not measured here: BenchmarkForward reports 0.
func cpuTime() time.Duration { return 0 }
