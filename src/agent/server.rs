//! The agent process itself (`passport agent`, hidden, started by `passport unlock`):
//! one home, one key, one socket, a deadline.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use age::x25519;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::signal::unix::{signal, SignalKind};
use zeroize::{Zeroize, Zeroizing};

use super::VERSION;
use super::{
    socket_path, Error, Request, Response, Result, StartError, MAX_REQUEST, MAX_RESPONSE, MAX_SECS,
};

/// Connections served at once; more wait in the listen backlog's place (dropped).
const MAX_CLIENTS: usize = 16;
/// The longest one connection may take (a client that stalls is cut off).
const CLIENT_TIMEOUT: Duration = Duration::from_secs(5);
/// How often the deadline (wall clock: a suspended laptop wakes up locked) and the
/// socket file are checked.
const TICK: Duration = Duration::from_millis(500);

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Reads the keystore recipient the home records now (its config may change while the
/// agent runs); `Err` says why there is none.
pub type Recorded = Box<
    dyn Fn() -> std::result::Result<String, Box<dyn std::error::Error + Send + Sync>> + Send + Sync,
>;

/// Why the agent refuses a request (sent as its text: the protocol's `error`).
#[derive(Debug, thiserror::Error)]
enum Refusal {
    #[error("not a request (one JSON object per line)")]
    NotARequest,
    #[error("protocol version {0} is not spoken here (this agent speaks {VERSION})")]
    Version(u32),
    #[error("locked")]
    Locked,
    #[error(
        "the home's recorded keystore key is not the one this agent holds; the agent locked itself"
    )]
    KeyChanged,
    #[error("extend needs secs between 1 and 86400")]
    ExtendSpan,
    #[error("unknown op (status, key, extend, lock)")]
    UnknownOp,
    #[error("this agent serves its own user only")]
    OtherUser,
    #[error("request too long or unterminated")]
    TooLong,
}

struct State {
    recorded: Recorded,
    socket: PathBuf,
    recipient: String,
    identity: Mutex<Zeroizing<String>>,
    until: AtomicU64,
    locked: AtomicBool,
    uid: u32,
    pid: u32,
    /// The socket file this agent published; another in its place means it was replaced.
    inode: (u64, u64),
    stop: tokio::sync::Notify,
}

impl State {
    fn owns_socket(&self) -> bool {
        std::fs::symlink_metadata(&self.socket).is_ok_and(|m| (m.dev(), m.ino()) == self.inode)
    }

    /// Zeroizes the key and removes the socket (if still ours); idempotent.
    fn shut(&self) {
        if self.locked.swap(true, Ordering::SeqCst) {
            return;
        }
        self.identity
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .zeroize();
        if self.owns_socket() {
            let _ = std::fs::remove_file(&self.socket);
        }
    }

    fn answer(&self, line: &[u8]) -> Zeroizing<Vec<u8>> {
        let req: Request = match serde_json::from_slice(line) {
            Ok(r) => r,
            Err(_) => return refusal(Refusal::NotARequest),
        };
        // `lock` is understood at every version, so any passport can lock any agent.
        if req.v != VERSION && req.op != "lock" {
            return refusal(Refusal::Version(req.v));
        }
        if self.locked.load(Ordering::SeqCst) {
            return refusal(Refusal::Locked);
        }
        match req.op.as_str() {
            "status" => self.ok(None),
            "key" => {
                // The key given out must still be the home's (not a home re-created at
                // the same path since): otherwise lock rather than hand it out.
                if (self.recorded)().ok().as_deref() != Some(self.recipient.as_str()) {
                    self.shut();
                    self.stop.notify_one();
                    return refusal(Refusal::KeyChanged);
                }
                let id = self.identity.lock().unwrap_or_else(|e| e.into_inner());
                self.ok(Some(id.as_str()))
            }
            "extend" => match req.secs {
                Some(s @ 1..=MAX_SECS) => {
                    self.until.store(now() + s, Ordering::SeqCst);
                    self.ok(None)
                }
                _ => refusal(Refusal::ExtendSpan),
            },
            "lock" => {
                let answer = self.ok(None);
                self.shut();
                self.stop.notify_one();
                answer
            }
            _ => refusal(Refusal::UnknownOp),
        }
    }

    fn ok(&self, identity: Option<&str>) -> Zeroizing<Vec<u8>> {
        encode(&Response {
            v: VERSION,
            ok: true,
            pid: Some(self.pid),
            until: Some(self.until.load(Ordering::SeqCst)),
            recipient: Some(self.recipient.clone()),
            identity,
            ..Response::default()
        })
    }
}

fn refusal(why: Refusal) -> Zeroizing<Vec<u8>> {
    encode(&Response {
        v: VERSION,
        ok: false,
        error: Some(why.to_string()),
        ..Response::default()
    })
}

/// One answer line, in a buffer large enough never to reallocate (and leave copies).
fn encode(r: &Response) -> Zeroizing<Vec<u8>> {
    let mut buf = Zeroizing::new(Vec::with_capacity(MAX_RESPONSE));
    serde_json::to_writer(&mut *buf, r).expect("responses serialize");
    buf.push(b'\n');
    buf
}

/// Keeps the key out of core dumps and away from same-uid debuggers, and out of the
/// terminal's session (so closing it does not matter; `lock` or the deadline do).
fn harden() {
    let _ = rustix::process::setsid();
    #[cfg(target_os = "linux")]
    let _ = rustix::process::set_dumpable_behavior(rustix::process::DumpableBehavior::NotDumpable);
    let none = rustix::process::Rlimit {
        current: Some(0),
        maximum: Some(0),
    };
    let _ = rustix::process::setrlimit(rustix::process::Resource::Core, none);
}

/// Runs the agent for the home at `root` (absolute) holding `identity` for `secs`:
/// returns once it locked (deadline, `lock`, signal, socket gone).
pub fn serve(
    root: &Path,
    secs: u64,
    mut identity: Zeroizing<String>,
    recorded: Recorded,
) -> Result<()> {
    harden();
    // In place (no copy): the line ends with a newline.
    while identity.ends_with(char::is_whitespace) {
        identity.pop();
    }
    if !(1..=MAX_SECS).contains(&secs) {
        return Err(Error::Start(StartError::Span));
    }
    let recipient = x25519::Identity::from_str(&identity)
        .map_err(|_| Error::Start(StartError::NotAnIdentity))?
        .to_public()
        .to_string();
    if recorded().map_err(Error::Unrecorded)? != recipient {
        return Err(Error::WrongKey);
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Start(StartError::Runtime(e)))?;
    rt.block_on(run(root, secs, recipient, identity, recorded))
}

async fn run(
    root: &Path,
    secs: u64,
    recipient: String,
    identity: Zeroizing<String>,
    recorded: Recorded,
) -> Result<()> {
    let socket = socket_path(root);
    let pid = std::process::id();
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |e| Error::Io { path, source: e }
    };
    // Bound under a private name, made 0600, then renamed into place: a client never
    // meets a half-made socket, and an older agent's socket is replaced atomically.
    let tmp = root.join(format!(".agent.sock.{pid}"));
    let _ = std::fs::remove_file(&tmp);
    let listener = UnixListener::bind(&tmp).map_err(io(&tmp))?;
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600)).map_err(io(&tmp))?;
    std::fs::rename(&tmp, &socket).map_err(io(&socket))?;
    let m = std::fs::symlink_metadata(&socket).map_err(io(&socket))?;
    let state = Arc::new(State {
        recorded,
        socket,
        recipient,
        identity: Mutex::new(identity),
        until: AtomicU64::new(now() + secs),
        locked: AtomicBool::new(false),
        uid: rustix::process::getuid().as_raw(),
        pid,
        inode: (m.dev(), m.ino()),
        stop: tokio::sync::Notify::new(),
    });
    let sig = |k| signal(k).map_err(|e| Error::Start(StartError::Signals(e)));
    let (mut term, mut int, mut hup) = (
        sig(SignalKind::terminate())?,
        sig(SignalKind::interrupt())?,
        sig(SignalKind::hangup())?,
    );
    let permits = Arc::new(tokio::sync::Semaphore::new(MAX_CLIENTS));
    let mut tick = tokio::time::interval(TICK);
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    // Over the limit the connection is simply closed.
                    if let Ok(permit) = permits.clone().try_acquire_owned() {
                        let st = state.clone();
                        tokio::spawn(async move {
                            let _ = tokio::time::timeout(CLIENT_TIMEOUT, handle(&st, stream)).await;
                            drop(permit);
                        });
                    }
                }
                // Out of descriptors and the like: do not spin.
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            },
            _ = tick.tick() => {
                if now() >= state.until.load(Ordering::SeqCst) || !state.owns_socket() {
                    break;
                }
            }
            _ = term.recv() => break,
            _ = int.recv() => break,
            _ = hup.recv() => break,
            _ = state.stop.notified() => break,
        }
    }
    state.shut();
    Ok(())
}

async fn handle(st: &State, mut stream: UnixStream) {
    let same_user = stream.peer_cred().is_ok_and(|c| c.uid() == st.uid);
    let (r, mut w) = stream.split();
    let answer = if !same_user {
        refusal(Refusal::OtherUser)
    } else {
        let mut line = Vec::with_capacity(MAX_REQUEST + 1);
        let read = BufReader::new(r.take(MAX_REQUEST as u64 + 1))
            .read_until(b'\n', &mut line)
            .await;
        match read {
            Ok(0) | Err(_) => return,
            Ok(_) if line.last() != Some(&b'\n') => refusal(Refusal::TooLong),
            Ok(_) => st.answer(&line),
        }
    };
    let _ = w.write_all(&answer).await;
    let _ = w.shutdown().await;
}
