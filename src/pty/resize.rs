//! Coalescing of SIGWINCH bursts into one resize of the PTY.
//!
//! A drag-resize sends dozens of SIGWINCH a second; resizing the PTY on each
//! makes the child redraw dozens of times for sizes that are already stale.
//! We wait for a short quiet spell and send only the final size, with a cap
//! so a long drag still updates now and then.

use std::time::{Duration, Instant};

/// Quiet time after the last signal before the size is applied.
pub(crate) const QUIET: Duration = Duration::from_millis(40);
/// Longest a pending resize waits during a continuous burst.
pub(crate) const MAX_DELAY: Duration = Duration::from_millis(250);

/// Pure debounce state: fed signal times, says when to apply a resize.
#[derive(Debug)]
pub(crate) struct Debounce {
    quiet: Duration,
    max_delay: Duration,
    /// (first signal of the pending burst, latest signal)
    pending: Option<(Instant, Instant)>,
}

impl Debounce {
    pub(crate) fn new(quiet: Duration, max_delay: Duration) -> Self {
        Debounce {
            quiet,
            max_delay,
            pending: None,
        }
    }

    /// Records a SIGWINCH seen at `now`.
    pub(crate) fn signal(&mut self, now: Instant) {
        self.pending = Some(match self.pending {
            Some((first, _)) => (first, now),
            None => (now, now),
        });
    }

    /// When the pending resize falls due, if one is pending.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        self.pending
            .map(|(first, last)| (last + self.quiet).min(first + self.max_delay))
    }

    /// Whether a resize is due at `now`; clears the pending burst if so.
    pub(crate) fn take_due(&mut self, now: Instant) -> bool {
        match self.deadline() {
            Some(deadline) if now >= deadline => {
                self.pending = None;
                true
            }
            _ => false,
        }
    }
}

/// A terminal size in character cells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Size {
    pub(crate) rows: u16,
    pub(crate) cols: u16,
}

/// The size to apply, if it differs from the one last applied: a burst
/// that ends where it started costs the child no redraw at all.
pub(crate) fn changed(last: Size, now: Option<Size>) -> Option<Size> {
    now.filter(|size| *size != last && size.rows > 0 && size.cols > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn nothing_pending_nothing_due() {
        let mut d = Debounce::new(ms(40), ms(250));
        let t0 = Instant::now();
        assert_eq!(d.deadline(), None);
        assert!(!d.take_due(t0 + ms(1000)));
    }

    #[test]
    fn single_signal_fires_after_quiet() {
        let mut d = Debounce::new(ms(40), ms(250));
        let t0 = Instant::now();
        d.signal(t0);
        assert!(!d.take_due(t0 + ms(39)));
        assert!(d.take_due(t0 + ms(40)));
        // Fired once, then idle again.
        assert!(!d.take_due(t0 + ms(100)));
    }

    #[test]
    fn burst_coalesces_into_one_resize() {
        let mut d = Debounce::new(ms(40), ms(250));
        let t0 = Instant::now();
        let mut fired = 0;
        // 20 signals 5 ms apart, checking between each.
        for i in 0..20 {
            let now = t0 + ms(i * 5);
            if d.take_due(now) {
                fired += 1;
            }
            d.signal(now);
        }
        assert_eq!(fired, 0);
        assert_eq!(d.deadline(), Some(t0 + ms(95 + 40)));
        assert!(d.take_due(t0 + ms(135)));
    }

    #[test]
    fn endless_burst_still_fires_at_the_cap() {
        let mut d = Debounce::new(ms(40), ms(250));
        let t0 = Instant::now();
        let mut fired_at = Vec::new();
        for i in 0..120 {
            let now = t0 + ms(i * 5);
            if d.take_due(now) {
                fired_at.push(i * 5);
            }
            d.signal(now);
        }
        assert_eq!(fired_at, vec![250, 500]);
    }

    #[test]
    fn only_a_real_change_is_applied() {
        let last = Size { rows: 24, cols: 80 };
        assert_eq!(changed(last, Some(last)), None);
        assert_eq!(changed(last, None), None);
        assert_eq!(changed(last, Some(Size { rows: 0, cols: 80 })), None);
        let new = Size {
            rows: 40,
            cols: 120,
        };
        assert_eq!(changed(last, Some(new)), Some(new));
    }
}
