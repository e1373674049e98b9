package app

import (
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/contactd/contactd/signaling/sip"
)

// sipHardening fills the SIP edge's hooks left unset in h: flood control
// per source address (trunks' sources exempt), request validation, the
// registrar of the agents' phones (sip_username, sip_password) and the
// device lookup for INVITE admission. It registers cc_sip_dropped_total and
// cc_sip_registrations, and routes sipgo's own logs through the safe log
// handler (sanitized, rate-limited; unparseable messages counted).
func (a *App) sipHardening(trunks []sip.Trunk, h sip.Hooks) sip.Hooks {
	drops := sip.NewDrops(a.reg)
	sip.InstallSipgoLogger(a.log.With("component", "sipgo").Handler(), drops)

	var limits []sip.FloodLimit
	for _, t := range trunks {
		for _, p := range t.Sources {
			limits = append(limits, sip.FloodLimit{Prefix: p}) // rate 0: exempt
		}
	}
	guard := sip.NewFloodGuard(sip.FloodConfig{Rate: float64(a.cfg.SIPFloodRate), Burst: a.cfg.SIPFloodBurst,
		Limits: limits, Drops: drops})

	var accounts []sip.Account
	for _, ag := range a.cfg.Agents {
		if ag.SIPUsername != "" {
			accounts = append(accounts, sip.Account{Agent: ag.ID, Username: ag.SIPUsername, Password: ag.SIPPassword})
		}
	}
	realm := a.cfg.SIPDomain
	var domains []string
	if realm != "" {
		domains = []string{realm}
	} else {
		realm = "contactd"
	}
	reg := sip.NewRegistrar(sip.RegistrarConfig{Realm: realm, Domains: domains, DropBlocked: a.cfg.SIPDropUnknown, Drops: drops}, accounts)
	a.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "cc", Subsystem: "sip", Name: "registrations",
		Help: "Registered contacts of agents' SIP phones (not expired)."}, func() float64 { return float64(reg.Live()) }))
	v := &sip.Validator{Allow: "INVITE, ACK, BYE, CANCEL, OPTIONS, REGISTER", Drops: drops}

	if h.WrapPacketConn == nil {
		h.WrapPacketConn = guard.PacketConn
	}
	if h.WrapListener == nil {
		h.WrapListener = guard.Listener
	}
	if h.Check == nil {
		h.Check = v.Check
	}
	if h.Register == nil {
		h.Register = reg.Serve
	}
	if h.Devices == nil {
		h.Devices = reg
	}
	a.sipReg = reg
	return h
}

// sipLogger is the SIP edge's logger: values from the wire (Call-IDs,
// errors quoting messages) sanitized and cut, warnings rate-limited.
func (a *App) sipLogger() *slog.Logger {
	return slog.New(sip.NewSafeLogHandler(a.log.With("component", "sip").Handler(), nil, nil))
}
