//! Restarting a service that exited, the way the kubelet restarts a container
//! (`restartPolicy: Always`, CrashLoopBackOff): the delay before each restart doubles up
//! to a cap, and goes back to the start once the service has run for twice the cap
//! (the kubelet: 10 s doubling to 5 min, reset after 10 min of running).

use std::time::Duration;

/// What happens when a service exits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum RestartPolicy {
    /// Restart it after the back-off (the kubelet's `Always`).
    #[default]
    Always,
    /// Leave it dead: the gateway answers 503 for routes that need it.
    Never,
}

/// The delays between restarts of one service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Backoff {
    pub(crate) initial: Duration,
    pub(crate) max: Duration,
    /// The delay used for the previous restart, None before the first one or after a reset.
    last: Option<Duration>,
}

impl Backoff {
    pub(crate) fn new(initial: Duration, max: Duration) -> Self {
        Backoff {
            initial,
            max: max.max(initial),
            last: None,
        }
    }

    /// Running this long without exiting resets the back-off (twice the cap, as the kubelet).
    pub(crate) fn reset_after(&self) -> Duration {
        self.max * 2
    }

    /// The delay before restarting a service that exited after running for `ran_for`.
    pub(crate) fn next(&mut self, ran_for: Duration) -> Duration {
        if ran_for >= self.reset_after() {
            self.last = None;
        }
        let delay = match self.last {
            None => self.initial,
            Some(d) => (d * 2).min(self.max),
        };
        self.last = Some(delay);
        delay
    }
}

impl Default for Backoff {
    /// The local mesh's defaults: 1 s doubling to 30 s, reset after 60 s of running.
    fn default() -> Self {
        Backoff::new(Duration::from_secs(1), Duration::from_secs(30))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_up_to_the_cap_and_resets_after_running_twice_the_cap() {
        let s = Duration::from_secs;
        let mut b = Backoff::new(s(10), s(300));
        let crash = s(1);
        let delays: Vec<u64> = (0..7).map(|_| b.next(crash).as_secs()).collect();
        assert_eq!(delays, [10, 20, 40, 80, 160, 300, 300]);
        assert_eq!(b.next(s(599)).as_secs(), 300, "not reset before 10 min");
        assert_eq!(
            b.next(s(600)).as_secs(),
            10,
            "reset after 10 min of running"
        );
    }

    #[test]
    fn a_cap_below_the_start_is_raised_to_it() {
        let mut b = Backoff::new(Duration::from_secs(5), Duration::from_secs(1));
        assert_eq!(b.next(Duration::ZERO), Duration::from_secs(5));
        assert_eq!(b.next(Duration::ZERO), Duration::from_secs(5));
    }
}
