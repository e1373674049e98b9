package routing

// Holders lists every open interaction with its status and, once connected
// or in wrap-up, the agent who holds it (Agent empty otherwise). Restart
// uses it to bring the conversations in step with what routing stored.
func (e *Engine) Holders() []InteractionInfo {
	out := make([]InteractionInfo, 0, e.nOpen)
	for id, in := range e.inters {
		v := InteractionInfo{ID: id, Channel: in.ch, Status: in.status.String()}
		if in.home != nil {
			v.Queue = in.home.cfg.ID
		}
		if in.owner != nil && (in.status == stConnected || in.status == stWrapUp) {
			v.Agent = in.owner.cfg.ID
		}
		out = append(out, v)
	}
	return out
}
