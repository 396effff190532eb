//! Co-signers over relays: `passport cosign --via ws://r1,ws://r2` agents with no HTTP
//! path to serve, and `passport serve --relay r1,r2 --cosigners` bridging the group
//! ceremony between its relays and its store. Each relay is a process of its own (this
//! test binary re-run as one), so one can be killed with SIGKILL mid-run; the
//! `nostr-connect` client signs and encrypts through them, checked with libsecp256k1.

use crate::util;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nostr::nips::nip46::NostrConnectURI;
use nostr::{EventBuilder, JsonUtil, Keys, Kind, NostrSigner, PublicKey};
use nostr_connect::prelude::NostrConnect;
use serde_json::Value;
use util::*;

/// Set in the environment of the child that runs [`relay_child`].
const RELAY_CHILD: &str = "PASSPORT_TEST_RELAY_CHILD";

/// Not a test: the body of a relay process (see [`RelayProc`]). Ignored, and a no-op
/// unless run as that child.
#[test]
#[ignore]
fn relay_child() {
    if std::env::var_os(RELAY_CHILD).is_none() {
        return;
    }
    let relay = start_relay();
    println!("RELAY_URL {}", relay.url);
    // Runs until killed.
    loop {
        std::thread::park();
    }
}

/// A process whose stdout lines arrive on a channel and whose stderr is collected.
struct Proc {
    child: Child,
    lines: Receiver<String>,
    stderr: Arc<Mutex<String>>,
}

impl Proc {
    fn spawn(mut cmd: Command) -> Proc {
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (tx, lines) = channel();
        let out = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for l in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(l).is_err() {
                    break;
                }
            }
        });
        let stderr = Arc::new(Mutex::new(String::new()));
        let (err, sink) = (child.stderr.take().unwrap(), Arc::clone(&stderr));
        std::thread::spawn(move || {
            for l in BufReader::new(err).lines().map_while(Result::ok) {
                eprintln!("  | {l}");
                let mut s = sink.lock().unwrap();
                s.push_str(&l);
                s.push('\n');
            }
        });
        Proc {
            child,
            lines,
            stderr,
        }
    }

    fn line(&self, within: Duration) -> String {
        self.lines
            .recv_timeout(within)
            .unwrap_or_else(|_| panic!("no output line; stderr:\n{}", self.stderr()))
    }

    fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// The outcome lines printed so far and within `within`, until `done` holds.
    fn outcomes_until(&self, within: Duration, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
        let deadline = Instant::now() + within;
        let mut got = vec![];
        while !done(&got) {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) => got.extend(
                    serde_json::from_str::<Value>(&l)
                        .ok()
                        .filter(|v| v.get("outcome").is_some()),
                ),
                Err(_) => break,
            }
        }
        got
    }

    fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// A relay in a process of its own: SIGKILL really kills it, every connection with it.
struct RelayProc {
    proc: Proc,
    url: String,
}

fn relay_process() -> RelayProc {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args([
        "cosign_relays::relay_child",
        "--exact",
        "--ignored",
        "--nocapture",
    ])
    .env(RELAY_CHILD, "1");
    let proc = Proc::spawn(cmd);
    let deadline = Instant::now() + Duration::from_secs(30);
    let url = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let l = proc.line(left);
        if let Some(u) = l.strip_prefix("RELAY_URL ") {
            break u.trim().to_owned();
        }
    };
    RelayProc { proc, url }
}

struct Net {
    _dir: tempfile::TempDir,
    relays: Vec<RelayProc>,
    members: Vec<Member>,
    group: String,
    serve: Proc,
    /// serve's HTTP address, for an agent that uses it instead of relays.
    url: String,
    uri: String,
    /// The bunker's transport key (hex), the agents' coordinator.
    bunker: String,
}

/// A dealer 2-of-3 group (alice, bob, carol) whose dealer home serves the bunker on two
/// relay processes.
fn net() -> Net {
    let relays = vec![relay_process(), relay_process()];
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let dealer = make_member(root, "dealer");
    let members: Vec<Member> = ["alice", "bob", "carol"]
        .iter()
        .map(|n| make_member(root, n))
        .collect();
    let refs: Vec<&Member> = members.iter().collect();
    let roster = write_roster(root, "roster.json", 2, &refs, Some(&dealer.npub));
    let dealt = root.join("dealt");
    let mut c = passport(&dealer.home);
    c.args(["keygen", "deal", "--roster"])
        .arg(&roster)
        .arg("--out")
        .arg(&dealt);
    let group = json_ok(c)["group"].as_str().unwrap().to_owned();
    for m in &members {
        let mut c = passport(&m.home);
        c.args(["keygen", "import", "--roster"])
            .arg(&roster)
            .arg(util::pkg(&dealt, &format!("dealer-share-{}", m.name)));
        json_ok(c);
    }
    let mut cmd = spawn_cmd(&dealer.home);
    let both = format!("{},{}", relays[0].url, relays[1].url);
    cmd.args([
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--relay",
        &both,
        "--cosigners",
        "--cosigner-timeout",
        "3",
        "--request-timeout",
        "15",
    ]);
    let serve = Proc::spawn(cmd);
    let first = serve.line(Duration::from_secs(30));
    let url = first
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected ready line {first:?}"))
        .to_owned();
    let uri = serve.line(Duration::from_secs(30));
    assert!(uri.starts_with("bunker://"), "{uri}");
    let bunker = NostrConnectURI::parse(&uri)
        .unwrap()
        .remote_signer_public_key()
        .unwrap()
        .to_hex();
    Net {
        _dir: dir,
        relays,
        members,
        group,
        serve,
        url,
        uri,
        bunker,
    }
}

impl Net {
    fn via(&self) -> String {
        self.relays
            .iter()
            .map(|r| r.url.as_str())
            .collect::<Vec<_>>()
            .join(",")
    }

    fn cosign_cmd(&self, name: &str, via: &str, extra: &[&str]) -> Command {
        let m = self.members.iter().find(|m| m.name == name).unwrap();
        let mut cmd = spawn_cmd(&m.home);
        cmd.args(["cosign", "--json", "--via", via, "--group", &self.group])
            .args(["--yes"])
            .args(extra);
        cmd
    }

    /// `passport cosign` for `name` over both relays, once its commitments are out.
    fn cosign(&self, name: &str) -> Proc {
        let cmd = self.cosign_cmd(name, &self.via(), &["--coordinator", &self.bunker]);
        let p = Proc::spawn(cmd);
        let ready: Value = serde_json::from_str(&p.line(Duration::from_secs(30))).unwrap();
        assert_eq!(ready["ready"], true, "{ready}");
        assert_eq!(ready["member"], name);
        assert_eq!(ready["commitments"], 4);
        p
    }

    fn client(&self) -> NostrConnect {
        let uri = NostrConnectURI::parse(&self.uri).unwrap();
        NostrConnect::new(uri, Keys::generate(), Duration::from_secs(40), None).unwrap()
    }
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn note(pk: PublicKey, text: &str) -> nostr::UnsignedEvent {
    EventBuilder::new(Kind::TextNote, text).build(pk)
}

fn check_signed(ev: &nostr::Event, pk: PublicKey) {
    assert_eq!(ev.pubkey, pk);
    verify_event_independently(&serde_json::from_str(&ev.as_json()).unwrap());
}

/// Sign, NIP-44 encrypt and decrypt through the co-signers; returns how long signing took.
async fn sign_and_encrypt(nc: &NostrConnect, pk: PublicKey, text: &str) -> Duration {
    let started = Instant::now();
    let ev = nc.sign_event(note(pk, text)).await.unwrap();
    let took = started.elapsed();
    check_signed(&ev, pk);
    assert_eq!(ev.content, text);
    let third = Keys::generate();
    let ct = nc.nip44_encrypt(&third.public_key(), text).await.unwrap();
    assert_eq!(
        nostr::nips::nip44::decrypt(third.secret_key(), &pk, &ct).unwrap(),
        text
    );
    let back = nostr::nips::nip44::encrypt(
        third.secret_key(),
        &pk,
        "back to the group",
        nostr::nips::nip44::Version::default(),
    )
    .unwrap();
    assert_eq!(
        nc.nip44_decrypt(&third.public_key(), &back).await.unwrap(),
        "back to the group"
    );
    took
}

#[test]
fn cosigners_over_two_relays_keep_signing_when_one_relay_dies() {
    let mut n = net();
    let alice = n.cosign("alice");
    let bob = n.cosign("bob");
    let pk = PublicKey::parse(&n.group).unwrap();
    let rt = rt();
    let nc = rt.block_on(async {
        let nc = n.client();
        assert_eq!(nc.get_public_key().await.unwrap(), pk);
        let took = sign_and_encrypt(&nc, pk, "signed over two relays").await;
        eprintln!("sign_event through relay co-signers took {took:?}");
        nc
    });
    for p in [&alice, &bob] {
        let h = p.outcomes_until(Duration::from_secs(10), |h| h.len() >= 3);
        let methods: Vec<&str> = h.iter().map(|v| v["method"].as_str().unwrap()).collect();
        assert_eq!(
            methods,
            ["sign_event", "nip44_encrypt", "nip44_decrypt"],
            "{h:?}"
        );
        assert!(h.iter().all(|v| v["outcome"] == "answered"), "{h:?}");
    }

    // The first relay dies (SIGKILL): signing and ECDH go on through the second.
    let dead = n.relays[0].url.clone();
    n.relays[0].proc.kill9();
    rt.block_on(async {
        // The first request can take ~10 s here: the rust-nostr client waits for every
        // relay's OK (the dead one's times out) before it reads the reply.
        let took = sign_and_encrypt(&nc, pk, "signed with one relay dead").await;
        eprintln!("sign_event with one relay dead took {took:?}");
        let took = sign_and_encrypt(&nc, pk, "and again").await;
        assert!(took < Duration::from_secs(10), "{took:?}");
    });
    for p in [&alice, &bob] {
        let h = p.outcomes_until(Duration::from_secs(10), |h| h.len() >= 6);
        assert_eq!(h.len(), 6, "two more rounds of three: {h:?}");
        assert!(h.iter().all(|v| v["outcome"] == "answered"), "{h:?}");
    }

    // An agent given only the dead relay says so and stops.
    let out = n
        .cosign_cmd("carol", &dead, &["--coordinator", &n.bunker])
        .output()
        .unwrap();
    assert!(!out.status.success());
    // With --json the error is the JSON object on stdout.
    let err = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(err.contains("cannot connect to any relay"), "{err}");
    assert!(err.contains(dead.trim_end_matches('/')), "{err}");
    // Over relays the coordinator must be named: anyone can publish a request there.
    let out = n.cosign_cmd("carol", &n.via(), &[]).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stdout);
    assert!(err.contains("needs --coordinator"), "{err}");

    // Mixed: bob dies, carol comes over HTTP; alice (relays) and carol sign together.
    let mut bob = bob;
    bob.kill9();
    let carol = Proc::spawn(n.cosign_cmd("carol", &n.url, &[]));
    let ready: Value = serde_json::from_str(&carol.line(Duration::from_secs(30))).unwrap();
    assert_eq!(ready["ready"], true, "{ready}");
    rt.block_on(async {
        let ev = nc.sign_event(note(pk, "relay and HTTP")).await.unwrap();
        check_signed(&ev, pk);
    });
    for p in [&alice, &carol] {
        let h = p.outcomes_until(Duration::from_secs(10), |h| !h.is_empty());
        assert_eq!(h[0]["method"], "sign_event", "{h:?}");
        assert_eq!(h[0]["outcome"], "answered", "{h:?}");
    }

    // Bob comes back with the dead relay first in --via: named, and he co-signs anyway.
    let mut carol = carol;
    carol.kill9();
    let via = format!("{dead},{}", n.relays[1].url);
    let bob = Proc::spawn(n.cosign_cmd("bob", &via, &["--coordinator", &n.bunker]));
    let ready: Value = serde_json::from_str(&bob.line(Duration::from_secs(30))).unwrap();
    assert_eq!(ready["ready"], true, "{ready}");
    // Said on stderr before the ready line; the reader thread may trail it.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !bob.stderr().contains("is unreachable") && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let said = bob.stderr();
    assert!(said.contains("is unreachable"), "{said}");
    rt.block_on(async {
        let ev = nc.sign_event(note(pk, "bob is back")).await.unwrap();
        check_signed(&ev, pk);
        nc.shutdown().await;
    });
    let h = bob.outcomes_until(Duration::from_secs(10), |h| !h.is_empty());
    assert_eq!(
        h.first().map(|v| &v["outcome"]),
        Some(&"answered".into()),
        "{h:?}"
    );
    drop((alice, bob));
    let log = n.serve.stderr();
    assert!(log.contains("co-signers may also come over"), "{log}");
}
