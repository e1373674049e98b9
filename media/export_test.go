package media

import "time"

// SetRTCPInterval shortens how often the engine's RTP legs send RTCP (it
// is still checked only on the watchdog's tick). Call it before any leg.
func SetRTCPInterval(e *Engine, d time.Duration) { e.rtcpEvery.Store(int64(d)) }

// SetRTPGuardLimit changes how many datagrams per quarter second one
// source may send to an RTP leg's sockets (benchmarks send faster than
// real time). Call it before any RTP leg, from the goroutine that makes
// them.
func SetRTPGuardLimit(e *Engine, n int) { e.rtpGuard = n }
