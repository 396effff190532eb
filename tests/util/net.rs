//! Loopback servers: a real Nostr relay, `passport serve`, and NIP-98 requests to it.

use std::path::Path;

use serde_json::Value;

use super::{spawn_cmd, Member};

/// A real Nostr relay (nostr-relay-builder's in-memory relay) on a loopback port, kept
/// alive by the returned runtime.
pub struct TestRelay {
    pub url: String,
    pub rt: tokio::runtime::Runtime,
    /// Held only so the relay runs as long as this does.
    _relay: nostr_relay_builder::LocalRelay,
}

pub fn start_relay() -> TestRelay {
    start_relay_limited(10_000)
}

/// [`start_relay`] that accepts at most `notes_per_minute` events per connection (a
/// relay that refuses with `OK false` beyond it).
pub fn start_relay_limited(notes_per_minute: u32) -> TestRelay {
    use nostr_relay_builder::prelude::*;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let relay = LocalRelay::new(RelayBuilder::default().rate_limit(RateLimit {
        max_reqs: 500,
        notes_per_minute,
    }));
    let url = rt
        .block_on(super::relay::listen(relay.clone(), 0))
        .expect("the test relay binds a loopback port");
    TestRelay {
        url,
        rt,
        _relay: relay,
    }
}

/// A `passport serve` process on a loopback port; killed (SIGKILL) when dropped.
pub struct Serve {
    pub url: String,
    pub child: std::process::Child,
}

impl Serve {
    /// Starts `passport serve` with `home` on `listen` (e.g. `127.0.0.1:0`) and waits for
    /// its ready line.
    pub fn start(home: &Path, listen: &str) -> Serve {
        Serve::start_with(home, listen, &[]).0
    }

    /// With extra `serve` arguments; also returns the further stdout lines printed at
    /// startup (`count` of them, e.g. the bunker URI).
    pub fn start_with(home: &Path, listen: &str, extra: &[&str]) -> (Serve, Vec<String>) {
        use std::io::BufRead;
        let mut child = spawn_cmd(home)
            .args(["serve", "--listen", listen])
            .args(extra)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::inherit())
            .spawn()
            .unwrap();
        let mut reader = std::io::BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        let url = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected ready line {line:?}"))
            .to_owned();
        let mut more = vec![];
        if extra.contains(&"--relay") {
            let mut l = String::new();
            reader.read_line(&mut l).unwrap();
            more.push(l.trim().to_owned());
        }
        (Serve { url, child }, more)
    }

    /// SIGKILL, no chance to clean up.
    pub fn kill9(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    pub fn addr(&self) -> &str {
        self.url.trim_start_matches("http://")
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A member's identity keys, read from its home with its age identity file.
pub fn member_keys(m: &Member) -> nostr::Keys {
    use passport::home::{Home, OpenUnlock};
    let id_file = m.home.parent().unwrap().join(format!("{}.agekey", m.name));
    let home = Home::open(
        &m.home,
        OpenUnlock {
            identity_file: Some(id_file),
            ..OpenUnlock::none()
        },
    )
    .unwrap();
    home.identity().unwrap().clone()
}

/// A NIP-98 signed GET against `passport serve`, parsed as JSON.
pub fn serve_get(keys: &nostr::Keys, url: &str) -> Value {
    use base64::Engine;
    use nostr::nips::nip98::{HttpData, HttpMethod};
    use nostr::{EventBuilder, JsonUtil, Url};
    let ev = EventBuilder::http_auth(HttpData::new(Url::parse(url).unwrap(), HttpMethod::GET))
        .sign_with_keys(keys)
        .unwrap();
    let auth = format!(
        "Nostr {}",
        base64::engine::general_purpose::STANDARD.encode(ev.as_json())
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let r = http_client()
            .get(url)
            .header("authorization", auth)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "GET {url}: {}", r.status());
        r.json().await.unwrap()
    })
}

/// A reqwest client (rustls with the ring provider, as passport uses).
pub fn http_client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

/// A spawned child that is killed (SIGKILL) and reaped when dropped, so a failing
/// assertion never leaves a server running.
pub struct KillOnDrop(pub std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Subscribes `c` to `filter` and returns once every relay of `c` has answered the REQ
/// with EOSE. NIP-46 events are ephemeral: a reply a relay takes before it has the
/// subscription reaches no one, and the bunker answers each request id only once, so a
/// test that sends before this would lose a reply on a busy machine.
pub async fn subscribe_confirmed(c: &nostr_sdk::Client, filter: nostr::Filter) {
    use nostr_sdk::{RelayMessage, RelayPoolNotification};
    let mut news = c.notifications();
    let mut waiting: std::collections::HashSet<_> = c.relays().await.into_keys().collect();
    let id = c.subscribe(filter, None).await.unwrap().val;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    while !waiting.is_empty() {
        match tokio::time::timeout_at(deadline, news.recv()).await {
            Ok(Ok(RelayPoolNotification::Message {
                relay_url,
                message: RelayMessage::EndOfStoredEvents(sub),
            })) if *sub == id => {
                waiting.remove(&relay_url);
            }
            Ok(Ok(_)) | Ok(Err(tokio::sync::broadcast::error::RecvError::Lagged(_))) => {}
            _ => panic!("no EOSE within 30 s for subscription {id} from {waiting:?}"),
        }
    }
}
