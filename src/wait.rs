//! Waiting for something to become true: one deadline, one interval, one probe. Every wait in
//! breakfix has a deadline, and what a wait looks for is a pure predicate of what the probe
//! read, tested on its own (like kube-rs's `conditions`).

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

/// How long to wait, and how often to look.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Wait {
    pub deadline: Duration,
    pub interval: Duration,
}

/// What one look found.
#[derive(Debug, PartialEq, Eq)]
pub enum Poll<T> {
    /// The answer: the wait is over.
    Ready(T),
    /// Not yet: look again after the interval.
    Pending,
}

impl Wait {
    pub const fn new(deadline: Duration, interval: Duration) -> Wait {
        Wait { deadline, interval }
    }

    /// Looks with `probe` until it answers, fails, or the deadline passes; then the error
    /// `timed_out` makes from the deadline (a named one: what was waited for, on what). The
    /// probe is always asked at least once, and the last look is never later than the
    /// deadline by more than one probe.
    pub async fn until<T, E, F, Fut>(
        &self,
        probe: F,
        timed_out: impl FnOnce(Duration) -> E,
    ) -> Result<T, E>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<Poll<T>, E>>,
    {
        match self.within(probe).await? {
            Some(v) => Ok(v),
            None => Err(timed_out(self.deadline)),
        }
    }

    /// Like [`Wait::until`], for a best-effort wait: `None` when the deadline passed.
    pub async fn within<T, E, F, Fut>(&self, mut probe: F) -> Result<Option<T>, E>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<Poll<T>, E>>,
    {
        let started = Instant::now();
        loop {
            if let Poll::Ready(v) = probe().await? {
                return Ok(Some(v));
            }
            let left = self.deadline.saturating_sub(started.elapsed());
            if left.is_zero() {
                return Ok(None);
            }
            tokio::time::sleep(self.interval.min(left)).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    #[tokio::test(start_paused = true)]
    async fn a_wait_ends_with_the_first_answer() {
        let looks = Cell::new(0);
        let w = Wait::new(Duration::from_secs(10), Duration::from_secs(1));
        let got: Result<u32, String> = w
            .until(
                || {
                    looks.set(looks.get() + 1);
                    let n = looks.get();
                    async move {
                        Ok(if n == 3 {
                            Poll::Ready(n)
                        } else {
                            Poll::Pending
                        })
                    }
                },
                |_| "timed out".to_string(),
            )
            .await;
        assert_eq!(got, Ok(3));
    }

    #[tokio::test(start_paused = true)]
    async fn a_wait_that_never_gets_an_answer_ends_at_its_deadline_with_the_named_error() {
        let started = tokio::time::Instant::now();
        let looks = Cell::new(0);
        let w = Wait::new(Duration::from_secs(5), Duration::from_secs(2));
        let got: Result<(), String> = w
            .until(
                || {
                    looks.set(looks.get() + 1);
                    async { Ok(Poll::Pending) }
                },
                |after| format!("nothing after {after:?}"),
            )
            .await;
        assert_eq!(got, Err("nothing after 5s".to_string()));
        // Looks at 0, 2, 4 and 5 s: the last one at the deadline, not after it.
        assert_eq!(looks.get(), 4);
        assert_eq!(started.elapsed(), Duration::from_secs(5));
    }

    #[tokio::test(start_paused = true)]
    async fn a_failing_probe_ends_the_wait_at_once_with_its_error() {
        let w = Wait::new(Duration::from_secs(60), Duration::from_secs(1));
        let got: Result<Option<()>, &str> = w.within(|| async { Err("refused") }).await;
        assert_eq!(got, Err("refused"));
    }

    #[tokio::test(start_paused = true)]
    async fn a_best_effort_wait_says_none_when_the_deadline_passed() {
        let w = Wait::new(Duration::from_millis(300), Duration::from_millis(100));
        let got: Result<Option<()>, ()> = w.within(|| async { Ok(Poll::Pending) }).await;
        assert_eq!(got, Ok(None));
    }
}
