package wrapper

// observeReady tells Config.OnReady (the metrics' time-to-ready histogram)
// how long g took to become ready. Only the loop calls it.
func (s *supervisor) observeReady(g *generation) {
	if s.cfg.OnReady != nil {
		s.cfg.OnReady(g.readyAt.Sub(g.started))
	}
}
