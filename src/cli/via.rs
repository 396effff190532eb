//! `--via` plumbing for round commands: choosing files or a transport, and the progress
//! bar of the `run` commands.

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Args;
use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressStyle};

use crate::ceremony::Roster;
use crate::error::{OperatorError, Result};
use crate::home::Home;
use crate::ops::{Exchange, Files, Waiting};
use crate::transport::{Bounds, Endpoint, Via};

/// `--in`: the package files and directories a step reads (files flow only).
#[derive(Debug, Args, Clone)]
pub struct PackagesIn {
    /// Package files or directories to read (repeatable).
    #[arg(
        long = "in",
        short = 'i',
        value_name = "PATH",
        default_value = ".",
        conflicts_with = "via"
    )]
    pub inputs: Vec<PathBuf>,
}

/// `--out`: the directory a step writes its packages into (files flow only).
#[derive(Debug, Args, Clone)]
pub struct PackagesOut {
    /// Directory to write packages into.
    #[arg(long, short = 'o', default_value = ".", conflicts_with = "via")]
    pub out: PathBuf,
}

// Read where a path list or a directory is wanted, like the fields they replace.
impl std::ops::Deref for PackagesIn {
    type Target = Vec<PathBuf>;
    fn deref(&self) -> &Vec<PathBuf> {
        &self.inputs
    }
}

impl std::ops::Deref for PackagesOut {
    type Target = PathBuf;
    fn deref(&self) -> &PathBuf {
        &self.out
    }
}

#[derive(Debug, Args, Clone, Default)]
pub struct ViaArgs {
    /// Send and fetch packages through `passport serve` (http[s]://HOST[:PORT]) or Nostr
    /// relays (ws[s]://…, repeatable or comma-separated) instead of files.
    #[arg(long, value_name = "URL", env = "PASSPORT_VIA", value_delimiter = ',')]
    pub via: Vec<String>,
    /// Give up on a `--via` server or relay that takes longer than this for one operation
    /// (registering, sending a package, one fetch; on top of any long-poll wait)
    /// [default: 60].
    #[arg(long, value_name = "SECS", env = "PASSPORT_VIA_TIMEOUT")]
    pub via_timeout: Option<u64>,
    /// Overwrite a package file that already exists with other content (without it,
    /// such a file is refused: it is another attempt's or another ceremony's package).
    #[arg(long)]
    pub force: bool,
}

impl ViaArgs {
    pub fn endpoint(&self) -> Result<Option<Endpoint>> {
        if self.via.is_empty() {
            Ok(None)
        } else {
            Ok(Some(Endpoint::parse(&self.via)?))
        }
    }

    /// The transport's bounds: the defaults with `--via-timeout`.
    pub fn bounds(&self) -> Result<Bounds> {
        let mut b = Bounds::default();
        if let Some(secs) = self.via_timeout {
            if secs == 0 {
                return Err(OperatorError::ViaTimeoutZero.into());
            }
            b.deadline = Duration::from_secs(secs);
        }
        Ok(b)
    }

    /// Connects for `roster` as this home's identity.
    pub fn connect(&self, home: &Home, roster: &Roster) -> Result<Option<Via>> {
        match self.endpoint()? {
            None => Ok(None),
            Some(e) => {
                let via = Via::connect_bounded(&e, home.identity()?, roster, self.bounds()?)?;
                warn_unreachable(&via);
                Ok(Some(via))
            }
        }
    }

    /// The transport when `--via` was given, else the files.
    pub fn exchange(
        &self,
        home: &Home,
        roster: &Roster,
        inputs: &[PathBuf],
        out: &Path,
    ) -> Result<Box<dyn Exchange>> {
        Ok(match self.connect(home, roster)? {
            Some(v) => Box::new(v),
            None => Box::new(Files::new(inputs, out).force(self.force)),
        })
    }
}

/// One dead relay of several: say so, and carry on with the others.
pub(super) fn warn_unreachable(via: &Via) {
    for (url, why) in via.unreachable() {
        eprintln!("passport: warning: relay {url} is unreachable ({why}); using the others");
    }
}

impl ViaArgs {
    /// For rounds whose roster is derived inside the round (refresh, repair): the
    /// transport connects when the round binds it.
    pub fn lazy(&self, home: &Home, inputs: &[PathBuf], out: &Path) -> Result<Box<dyn Exchange>> {
        Ok(match self.endpoint()? {
            Some(e) => Box::new(
                crate::transport::Lazy::new(e, home.identity()?.clone(), self.bounds()?)
                    .on_connect(warn_unreachable),
            ),
            None => Box::new(Files::new(inputs, out).force(self.force)),
        })
    }
}

#[derive(Debug, Args, Clone)]
pub struct RunArgs {
    #[command(flatten)]
    pub via: ViaArgs,
    /// Give up after this many seconds without completing, naming who did not answer.
    #[arg(long, value_name = "SECS", default_value_t = 600)]
    pub timeout: u64,
}

impl RunArgs {
    pub fn timeout(&self) -> Duration {
        Duration::from_secs(self.timeout)
    }
}

/// Progress on stderr: who has answered the current step, who is awaited. A bar on a
/// terminal (drawn from the first report on, so it never shows an empty `0/0`); one
/// line per change otherwise (CI, systemd, `2> log`); nothing with `--json`.
pub fn progress(json: bool) -> impl FnMut(&Waiting<'_>) {
    let terminal = std::io::stderr().is_terminal();
    let bar = ProgressBar::hidden();
    bar.set_style(
        ProgressStyle::with_template("{spinner} {prefix}: {pos}/{len} {wide_msg} [{elapsed}]")
            .expect("static template"),
    );
    let bar = ClearOnDrop(bar);
    let mut current = String::new();
    let mut last_line = String::new();
    move |w: &Waiting<'_>| {
        if json {
            return;
        }
        let done = w.expected - w.missing.len().min(w.expected);
        let msg = if w.missing.is_empty() {
            // The step's own work follows (at n = 100, a DKG's part 3 takes seconds).
            "all in; working on them".to_owned()
        } else {
            format!("waiting for {}", w.missing.join(", "))
        };
        if !terminal {
            let line = format!("passport: {}: {done}/{} {msg}", w.step, w.expected);
            if line != last_line {
                eprintln!("{line}");
                last_line = line;
            }
            return;
        }
        let bar = &bar.0;
        let first = current.is_empty();
        if w.step != current {
            current = w.step.to_owned();
            bar.set_prefix(current.clone());
            bar.set_length(w.expected as u64);
        }
        bar.set_position(done as u64);
        bar.set_message(msg);
        // Drawn only once it has its step and counts: never a bare `⠁ : 0/0` frame.
        if first {
            bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
            bar.enable_steady_tick(Duration::from_millis(200));
        }
    }
}

/// Shows that a long step is under way until dropped: a spinner with the time so far on
/// a terminal, one line otherwise, nothing with `--json`. For work with no counts to
/// report (one FROST call over a large ceremony).
pub fn busy(json: bool, what: &str) -> impl Drop {
    let bar = ProgressBar::hidden();
    if !json {
        if std::io::stderr().is_terminal() {
            bar.set_style(
                ProgressStyle::with_template("{spinner} {wide_msg} [{elapsed}]")
                    .expect("static template"),
            );
            bar.set_message(what.to_owned());
            bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
            bar.enable_steady_tick(Duration::from_millis(200));
        } else {
            eprintln!("passport: {what}");
        }
    }
    ClearOnDrop(bar)
}

/// Clears the bar when the command is done with it, so the report prints cleanly.
struct ClearOnDrop(ProgressBar);

impl Drop for ClearOnDrop {
    fn drop(&mut self) {
        self.0.finish_and_clear();
    }
}
