package sip

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the SIP edge's collectors (the package doc says what each
// means).
type Metrics struct {
	Requests      *prometheus.CounterVec
	RequestsSent  *prometheus.CounterVec // requests we send (outbound.go)
	CallsActive   *prometheus.GaugeVec
	Panics        prometheus.Counter
	Announcements prometheus.Counter
	MenuChoices   *prometheus.CounterVec
	VoiceMessages prometheus.Counter
	RTPLoss       prometheus.Histogram
	RTPJitter     prometheus.Histogram
}

// Buckets of the RTP leg histograms.
var (
	lossBuckets   = []float64{0, .001, .005, .01, .02, .05, .1, .2, .5, 1}
	jitterBuckets = []float64{.001, .002, .005, .01, .02, .03, .05, .1, .2}
)

// NewMetrics registers the collectors on reg (nil: not registered, as in
// tests that do not look).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Requests: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "cc", Subsystem: "sip", Name: "requests_total",
			Help: "SIP requests received, by method (INVITE, ACK, BYE, CANCEL, OPTIONS, REGISTER, other) and outcome (the class of our final answer: 2xx..6xx; dropped: not answered on purpose; none: no answer due, such as ACK)."},
			[]string{"method", "outcome"}),
		RequestsSent: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "cc", Subsystem: "sip", Name: "requests_sent_total",
			Help: "SIP requests we sent for the calls we place (click-to-call), by method (INVITE, BYE) and outcome: the class of the INVITE's final answer (2xx..6xx), cancelled (ring timeout or we hung up first), failed (not sent), timeout (no answer came); BYE: sent."},
			[]string{"method", "outcome"}),
		CallsActive: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "cc", Subsystem: "sip", Name: "calls_active",
			Help: "SIP calls with an open dialog (early or confirmed), by direction (inbound: from a trunk; outbound: placed by click-to-call)."},
			[]string{"direction"}),
		Panics: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "cc", Subsystem: "sip", Name: "handler_panics_total",
			Help: "SIP request handlers that panicked (answered 500, logged)."}),
		Announcements: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "cc", Subsystem: "sip", Name: "announcements_total",
			Help: "Position and estimated-wait announcements played to callers waiting in a queue."}),
		MenuChoices: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "cc", Subsystem: "sip", Name: "menu_choices_total",
			Help: "Callers through a number's menu, by how the queue was chosen (key: a key of the menu; timeout: no key, the number's queue)."},
			[]string{"how"}),
		VoiceMessages: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "cc", Subsystem: "sip", Name: "voice_messages_total",
			Help: "Voice messages callers left instead of waiting (stored with the left messages)."}),
		RTPLoss: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "cc", Subsystem: "rtp", Name: "leg_loss_ratio",
			Help: "Share of the RTP packets a phone leg expected that never came, observed when the leg ends.", Buckets: lossBuckets}),
		RTPJitter: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "cc", Subsystem: "rtp", Name: "leg_jitter_seconds",
			Help: "Interarrival jitter (RFC 3550) of a phone leg's received RTP, observed when the leg ends.", Buckets: jitterBuckets}),
	}
	m.CallsActive.WithLabelValues("inbound")
	m.CallsActive.WithLabelValues("outbound")
	if reg != nil {
		reg.MustRegister(m.Requests, m.RequestsSent, m.CallsActive, m.Panics, m.Announcements, m.MenuChoices, m.VoiceMessages, m.RTPLoss, m.RTPJitter)
	}
	return m
}
