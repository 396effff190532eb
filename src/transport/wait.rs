//! Waiting for packages: a `run` command retries its step while it fails only because
//! packages are missing (or the transport is briefly down), waiting on the transport for
//! news in between, until a deadline.

use std::time::{Duration, Instant};

use super::{Error, Exchange, Result};

/// Progress of a `run` command: who has answered a step, who is awaited.
pub struct Waiting<'a> {
    pub step: &'a str,
    pub expected: usize,
    pub missing: &'a [String],
}

/// Called while a `run` command waits; the CLI draws a progress bar from it.
pub type Progress<'a> = &'a mut dyn FnMut(&Waiting<'_>);

/// A `--via` transport a `run` command waits on between attempts (a connected
/// [`Via`](super::Via), or a [`Lazy`](super::Lazy) one that a refresh or repair step
/// connects).
pub trait Waits: Exchange {
    /// Waits up to `max` for new packages; returns how many arrived.
    fn wait_news(&mut self, max: Duration) -> Result<usize>;
}

/// What a failed attempt of a step means for [`until_complete`].
pub enum Retry {
    /// Packages from these members have not arrived yet.
    Missing(Vec<String>),
    /// The transport is down for now (a server restarting, a relay dropping).
    Outage(String),
    /// A real failure: give up with it.
    Stop,
}

/// Errors of a step, as [`until_complete`] reads them.
pub trait Retryable {
    fn retry(&self) -> Retry;
}

/// Retries `f` while it fails only because packages are missing, waiting on the transport
/// for news in between, until `deadline`. The timeout names who did not answer.
pub fn until_complete<T, E, V>(
    via: &mut V,
    deadline: Instant,
    step: &str,
    expected: usize,
    progress: Progress<'_>,
    mut f: impl FnMut(&mut V) -> std::result::Result<T, E>,
) -> std::result::Result<T, E>
where
    E: Retryable + From<Error>,
    V: Waits + ?Sized,
{
    let mut missing: Vec<String> = vec![];
    loop {
        let result = f(via);
        let outage = match result.as_ref().map_err(|e| e.retry()) {
            Err(Retry::Missing(m)) => {
                missing = m;
                None
            }
            // The server restarting or a relay dropping: keep the state and try again.
            Err(Retry::Outage(e)) => Some(e),
            _ => {
                progress(&Waiting {
                    step,
                    expected,
                    missing: &[],
                });
                return result;
            }
        };
        progress(&Waiting {
            step,
            expected,
            missing: &missing,
        });
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(match outage {
                Some(detail) => Error::OutageTimeout {
                    step: step.to_owned(),
                    detail,
                },
                None => Error::Timeout {
                    step: step.to_owned(),
                    missing,
                },
            }
            .into());
        }
        match outage {
            Some(_) => std::thread::sleep(left.min(Duration::from_millis(500))),
            None => match via.wait_news(left) {
                Ok(_) => {}
                Err(e) if e.is_outage() => std::thread::sleep(left.min(Duration::from_millis(500))),
                Err(e) => return Err(e.into()),
            },
        }
    }
}
