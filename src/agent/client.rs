//! Talking to a home's session agent. "No agent" (no socket, or a dead one, which is
//! removed) is `Ok(None)`, so callers fall back to the passphrase; an agent that answers
//! but cannot be trusted (another user's, another key, garbage) is an error.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use age::x25519;
use zeroize::Zeroizing;

use super::{Error, Misread, Request, Response, Result, Status, MAX_RESPONSE, VERSION};

/// How long one exchange may take; the agent answers at once.
const TIMEOUT: Duration = Duration::from_secs(3);

/// Connects to the agent at `socket`: `None` when none is listening (a stale socket file
/// is removed on the way).
fn connect(socket: &Path) -> Result<Option<UnixStream>> {
    let io = |e| Error::Io {
        path: socket.into(),
        source: e,
    };
    let before = match std::fs::symlink_metadata(socket) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io(e)),
    };
    let stream = match UnixStream::connect(socket) {
        Ok(s) => s,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
            // Nobody listens: an agent killed without cleaning up. Remove that very
            // file (not one a new agent has just put in its place).
            if before.file_type().is_socket() {
                if let Ok(now) = std::fs::symlink_metadata(socket) {
                    if (now.dev(), now.ino()) == (before.dev(), before.ino()) {
                        let _ = std::fs::remove_file(socket);
                    }
                }
            }
            return Ok(None);
        }
        Err(e) => return Err(io(e)),
    };
    check_peer(&stream, socket)?;
    stream.set_read_timeout(Some(TIMEOUT)).map_err(io)?;
    stream.set_write_timeout(Some(TIMEOUT)).map_err(io)?;
    Ok(Some(stream))
}

/// The process on the other end must run as this user.
fn check_peer(stream: &UnixStream, socket: &Path) -> Result<()> {
    let me = rustix::process::getuid().as_raw();
    #[cfg(target_os = "linux")]
    let peer = rustix::net::sockopt::socket_peercred(stream)
        .map_err(|e| Error::Io {
            path: socket.into(),
            source: e.into(),
        })?
        .uid
        .as_raw();
    // Elsewhere: the socket file's owner (the directory is the owner's alone).
    #[cfg(not(target_os = "linux"))]
    let peer = {
        let _ = stream;
        std::fs::symlink_metadata(socket)
            .map_err(|e| Error::Io {
                path: socket.into(),
                source: e,
            })?
            .uid()
    };
    if peer != me {
        return Err(Error::Foreign {
            path: socket.into(),
            uid: peer,
        });
    }
    Ok(())
}

/// One request, one answer line (read into a buffer zeroized on drop). `None` when no
/// agent is there or it hung up without answering (it was just locking).
fn exchange(socket: &Path, req: &Request) -> Result<Option<Zeroizing<Vec<u8>>>> {
    let Some(mut stream) = connect(socket)? else {
        return Ok(None);
    };
    let mut line = serde_json::to_vec(req).expect("requests serialize");
    line.push(b'\n');
    if stream.write_all(&line).is_err() {
        return Ok(None);
    }
    let mut buf = Zeroizing::new(Vec::with_capacity(MAX_RESPONSE + 1));
    let read = BufReader::new((&stream).take(MAX_RESPONSE as u64 + 1)).read_until(b'\n', &mut buf);
    match read {
        Ok(0) => Ok(None),
        Ok(_) if buf.last() != Some(&b'\n') => Err(Error::Protocol(if buf.len() > MAX_RESPONSE {
            Misread::TooLong
        } else {
            Misread::Unterminated
        })),
        Ok(_) => Ok(Some(buf)),
        // A hung or vanishing agent is no agent: the caller falls back to the passphrase.
        Err(_) => Ok(None),
    }
}

fn parse(buf: &[u8]) -> Result<Response<'_>> {
    parse_as(buf, true)
}

/// With `strict`, only this protocol version is accepted (`lock` takes any).
fn parse_as(buf: &[u8], strict: bool) -> Result<Response<'_>> {
    // Not serde's message: it may quote the answer, and a key answer holds the key.
    let r: Response = serde_json::from_slice(buf).map_err(|_| Error::Protocol(Misread::NotJson))?;
    if strict && r.v != VERSION {
        return Err(Error::Protocol(Misread::Version(r.v)));
    }
    if !r.ok {
        return Err(Error::Refusal {
            reason: r.error.unwrap_or_else(|| "no reason given".into()),
        });
    }
    Ok(r)
}

fn status_of(r: &Response) -> Result<Status> {
    match (r.pid, r.until) {
        (Some(pid), Some(until)) => Ok(Status { pid, until }),
        _ => Err(Error::Protocol(Misread::NoStatus)),
    }
}

/// The agent's keystore identity, checked against `recipient` (the home's recorded
/// keystore key); `None` when no agent answers.
pub fn identity(socket: &Path, recipient: &x25519::Recipient) -> Result<Option<x25519::Identity>> {
    let Some(buf) = exchange(socket, &Request::new("key", None))? else {
        return Ok(None);
    };
    let r = parse(&buf)?;
    let text = r.identity.ok_or(Error::Protocol(Misread::NoKey))?;
    let id =
        x25519::Identity::from_str(text).map_err(|_| Error::Protocol(Misread::NotAnIdentity))?;
    if id.to_public().to_string() != recipient.to_string() {
        return Err(Error::WrongKey);
    }
    Ok(Some(id))
}

/// Whether an agent answers, and until when.
pub fn status(socket: &Path) -> Result<Option<Status>> {
    match exchange(socket, &Request::new("status", None))? {
        Some(buf) => status_of(&parse(&buf)?).map(Some),
        None => Ok(None),
    }
}

/// Moves the running agent's deadline to `secs` from now.
pub fn extend(socket: &Path, secs: u64) -> Result<Option<Status>> {
    match exchange(socket, &Request::new("extend", Some(secs)))? {
        Some(buf) => status_of(&parse(&buf)?).map(Some),
        None => Ok(None),
    }
}

/// Tells the agent to zeroize its key and exit; the pid it had, or `None` if none
/// answered (then its socket is removed: an agent that hangs notices that and exits).
pub fn lock(socket: &Path) -> Result<Option<u32>> {
    match exchange(socket, &Request::new("lock", None))? {
        Some(buf) => Ok(Some(parse_as(&buf, false)?.pid.unwrap_or(0))),
        None => {
            if std::fs::symlink_metadata(socket).is_ok_and(|m| m.file_type().is_socket()) {
                let _ = std::fs::remove_file(socket);
            }
            Ok(None)
        }
    }
}
