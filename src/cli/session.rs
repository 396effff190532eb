//! `passport unlock` and `passport lock`: a session agent that keeps a passphrase home's
//! keystore key unlocked for a while (see [`crate::agent`]), and the hidden
//! `passport agent` process that `unlock` starts.

use std::fs::{File, TryLockError};
use std::io::{BufRead, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use age::secrecy::ExposeSecret;
use clap::Args;
use serde::Serialize;
use zeroize::Zeroizing;

use super::{prompt, Cli, Output};
use crate::agent::{self, client, StartError, Status};
use crate::clock;
use crate::error::{Error, OperatorError, Result};
use crate::home::KeystoreConfig;
use crate::keystore::file::{open_identity, Unlock};
use crate::ops::Report;

/// How long `unlock` waits for a new agent to answer on its socket: it answers within
/// milliseconds, but a machine busy compiling has been seen to take over 10 s to start
/// a process.
const START_WAIT: Duration = Duration::from_secs(30);
/// How long `unlock`/`lock` wait for another `unlock`/`lock` of the same home.
const SERIAL_WAIT: Duration = Duration::from_secs(10);

#[derive(Debug, Args)]
pub struct UnlockArgs {
    /// How long the home stays unlocked: 90s, 15m, 2h or 1h30m (at most 24h). With an
    /// agent already running, its deadline moves to this long from now.
    #[arg(long = "for", value_name = "DURATION", default_value = agent::DEFAULT_FOR,
          value_parser = agent::parse_span)]
    duration: u64,
}

#[derive(Debug, Args)]
pub struct AgentArgs {
    /// Seconds until the agent locks itself.
    #[arg(long)]
    secs: u64,
}

#[derive(Serialize)]
struct UnlockReport {
    home: PathBuf,
    /// `started` (a new agent) or `extended` (the running one got a new deadline).
    agent: &'static str,
    pid: u32,
    /// When the home locks again (RFC 3339, UTC) and the same as unix seconds.
    until: String,
    until_unix: u64,
    #[serde(rename = "for")]
    span: String,
    /// The running agent's deadline before an extension.
    #[serde(skip_serializing_if = "Option::is_none")]
    previous_until: Option<String>,
    socket: PathBuf,
}

impl Report for UnlockReport {
    fn human(&self) -> String {
        match &self.previous_until {
            None => format!(
                "unlocked {} until {} ({}): the session agent (pid {}) holds the keystore key, so commands in this home ask no passphrase until then; `passport lock` locks it now",
                self.home.display(), self.until, self.span, self.pid
            ),
            Some(before) => format!(
                "extended the running session agent of {} (pid {}): it now locks at {} ({} from now; was {}). No passphrase was needed",
                self.home.display(), self.pid, self.until, self.span, before
            ),
        }
    }
}

#[derive(Serialize)]
struct LockReport {
    home: PathBuf,
    was_running: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pid: Option<u32>,
    /// A socket left by an agent that died without cleaning up was removed.
    stale_socket_removed: bool,
}

impl Report for LockReport {
    fn human(&self) -> String {
        match (self.pid, self.stale_socket_removed) {
            (Some(pid), _) => format!(
                "locked {}: the session agent (pid {pid}) forgot the keystore key and exited",
                self.home.display()
            ),
            (None, true) => format!(
                "no session agent was running for {} (removed the socket a dead one left)",
                self.home.display()
            ),
            (None, false) => format!(
                "no session agent was running for {}; nothing to lock",
                self.home.display()
            ),
        }
    }
}

fn from_agent(e: agent::Error) -> Error {
    use agent::Error as A;
    match e {
        A::WrongKey => crate::keystore::Error::Locked(e.to_string()).into(),
        A::Io { path, source } => Error::io(path, source),
        A::Start(_) => Error::Io {
            path: "passport unlock".into(),
            source: std::io::Error::other(e.to_string()),
        },
        // Another user's agent (refused); one that refuses or is not understood.
        e => OperatorError::Agent(e).into(),
    }
}

/// The keystore key's recipient of a passphrase home. The other kinds are a usage error
/// (exit 2), like `passwd` there: the command does not apply to such a home, and there
/// is nothing a refusal (exit 5) would protect.
fn passphrase_recipient(cfg: &KeystoreConfig) -> Result<age::x25519::Recipient> {
    let recipient = match cfg {
        KeystoreConfig::Passphrase { recipient } => recipient,
        KeystoreConfig::IdentityFile { .. } => return Err(OperatorError::UnlockIdentityFile.into()),
        KeystoreConfig::Pkcs11 { .. } => return Err(OperatorError::UnlockPkcs11.into()),
    };
    recipient.parse().map_err(|e: &str| Error::Malformed {
        path: "config.json".into(),
        what: "home config",
        detail: e.into(),
    })
}

/// One `unlock`/`lock` per home at a time (a lock on the home directory itself). Not
/// the home lock: that is held for as long as `sign run` or `cosign` run, and the
/// agent changes no ceremony state.
fn one_at_a_time(root: &Path) -> Result<File> {
    let dir = File::open(root).map_err(|e| Error::io(root, e))?;
    let start = Instant::now();
    loop {
        match dir.try_lock() {
            Ok(()) => return Ok(dir),
            Err(TryLockError::WouldBlock) if start.elapsed() < SERIAL_WAIT => {
                std::thread::sleep(Duration::from_millis(50))
            }
            Err(TryLockError::WouldBlock) => {
                return Err(OperatorError::UnlockBusy { root: root.into() }.into())
            }
            Err(TryLockError::Error(e)) => return Err(Error::io(root, e)),
        }
    }
}

pub fn unlock(cli: &Cli, a: &UnlockArgs, out: &Output) -> Result<()> {
    let home = cli.open_home()?;
    let recipient = passphrase_recipient(&home.config.keystore)?;
    let root = std::path::absolute(&home.root).map_err(|e| Error::io(&home.root, e))?;
    if let Some(mode) = crate::keystore::exposed(&root).filter(|m| m & 0o022 != 0) {
        return Err(OperatorError::HomeWritable { root, mode }.into());
    }
    let _one = one_at_a_time(&root)?;
    let socket = agent::socket_path(&root);
    // sockaddr_un holds 108 bytes, the agent's temporary name a few more than agent.sock.
    if socket.as_os_str().len() > 90 {
        return Err(Error::io(
            &socket,
            std::io::Error::other(
                "the home's path is too long for a unix socket; use a home with a shorter path",
            ),
        ));
    }
    let report = |agent, s: Status, previous_until| UnlockReport {
        home: root.clone(),
        agent,
        pid: s.pid,
        until: clock::date(s.until),
        until_unix: s.until,
        span: clock::span(a.duration),
        previous_until,
        socket: socket.clone(),
    };
    // An agent that holds this home's key is given the new deadline: it already holds
    // what a passphrase would unlock, so none is asked.
    if let Some(before) = client::status(&socket).map_err(from_agent)? {
        if client::identity(&socket, &recipient)
            .map_err(from_agent)?
            .is_some()
        {
            if let Some(s) = client::extend(&socket, a.duration).map_err(from_agent)? {
                return out.report(&report("extended", s, Some(clock::date(before.until))));
            }
        }
    }
    let id = open_identity(
        Unlock::Passphrase {
            master: root.join("keystore/master.age"),
            passphrase: prompt::passphrase_source(cli.passphrase_file.clone()),
        },
        &recipient,
    )?;
    let exe = std::env::current_exe().map_err(|e| Error::io("the passport executable", e))?;
    // No environment (the passphrase may be in it) and no argv secret: the key goes
    // down a pipe to the agent's stdin.
    let mut child = Command::new(exe)
        .arg("--home")
        .arg(&root)
        .arg("agent")
        .arg("--secs")
        .arg(a.duration.to_string())
        .env_clear()
        .current_dir("/")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| Error::io("the passport executable", e))?;
    let mut line = Zeroizing::new(String::with_capacity(128));
    line.push_str(id.to_string().expose_secret());
    line.push('\n');
    drop(id);
    let sent = child
        .stdin
        .take()
        .expect("piped")
        .write_all(line.as_bytes());
    drop(line);
    if let Err(e) = sent {
        let _ = child.kill();
        let _ = child.wait();
        return Err(from_agent(agent::Error::Start(StartError::Handover(e))));
    }
    let s = wait_ready(&mut child, &socket).map_err(from_agent)?;
    out.report(&report("started", s, None))
}

/// Waits until the new agent answers on its socket (or exits, saying why).
fn wait_ready(child: &mut Child, socket: &Path) -> agent::Result<Status> {
    let start = Instant::now();
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            let mut why = String::new();
            if let Some(o) = child.stdout.take() {
                let _ = o.take(4096).read_to_string(&mut why);
            }
            return Err(agent::Error::Start(StartError::Exited {
                why: why.trim().to_owned(),
                status,
            }));
        }
        if let Ok(Some(s)) = client::status(socket) {
            if s.pid == child.id() {
                return Ok(s);
            }
        }
        if start.elapsed() > START_WAIT {
            let _ = child.kill();
            let _ = child.wait();
            return Err(agent::Error::Start(StartError::NoAnswer {
                socket: socket.into(),
                secs: START_WAIT.as_secs(),
            }));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

pub fn lock(cli: &Cli, out: &Output) -> Result<()> {
    let root = cli.home_path();
    if !root.join("config.json").exists() {
        return Err(Error::NoHome(root));
    }
    let _one = one_at_a_time(&root)?;
    let socket = agent::socket_path(&root);
    let existed = socket.symlink_metadata().is_ok();
    let pid = client::lock(&socket).map_err(from_agent)?;
    out.report(&LockReport {
        stale_socket_removed: pid.is_none() && existed && socket.symlink_metadata().is_err(),
        home: root,
        was_running: pid.is_some(),
        pid,
    })
}

/// The hidden agent process: the key arrives on stdin; startup errors go to stdout,
/// which `unlock` reads when the agent exits early.
pub fn agent(cli: &Cli, a: &AgentArgs) -> Result<()> {
    use std::io::IsTerminal;
    if std::io::stdin().is_terminal() {
        return Err(OperatorError::AgentByHand.into());
    }
    let mut line = Zeroizing::new(String::with_capacity(256));
    let _ = std::io::stdin().lock().take(255).read_line(&mut line);
    let root = cli.home_path();
    let at = root.clone();
    let recorded: agent::server::Recorded =
        Box::new(move || crate::home::passphrase_recipient(&at).map_err(|e| e.into()));
    let result = agent::server::serve(&root, a.secs, line, recorded);
    if let Err(e) = &result {
        let _ = writeln!(std::io::stdout(), "{e}");
    }
    result.map_err(from_agent)
}
