package wrapper

// zedr-run's own watchdog, under a service manager that asks for one
// (systemd's WatchdogSec=, which sets WATCHDOG_USEC): the loop sends
// WATCHDOG=1 every half of Config.OuterWatchdog, as sd_watchdog_enabled(3)
// advises. The ping is a timer event that the loop itself handles, so a
// loop that stops handling events stops pinging and the service manager
// notices a frozen supervisor, not only a dead one.

// watchdogPing is the timer event of the next WATCHDOG=1 to the service
// manager.
type watchdogPing struct{}

func (watchdogPing) isEvent() {}

// armOuterWatchdog schedules the next ping, when the service manager wants
// them.
func (s *supervisor) armOuterWatchdog() {
	if s.cfg.OuterWatchdog > 0 && s.outer.Addr() != "" {
		s.after(s.cfg.OuterWatchdog/2, watchdogPing{})
	}
}

// onWatchdogPing tells the service manager the loop is alive, and
// schedules the next ping.
func (s *supervisor) onWatchdogPing() {
	s.tell("WATCHDOG=1")
	s.armOuterWatchdog()
}
