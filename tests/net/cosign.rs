//! Co-signers: `passport serve --relay … --cosigners` on a dealer's home (the group file,
//! no shares) answers NIP-46 through `passport cosign --via` agents, each a real process
//! with its own home and share. Driven by the `nostr-connect` client through a loopback
//! relay; every signature is checked with libsecp256k1.

use crate::util;

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nostr::nips::nip46::NostrConnectURI;
use nostr::{EventBuilder, JsonUtil, Keys, Kind, NostrSigner, PublicKey};
use nostr_connect::prelude::NostrConnect;
use serde_json::Value;
use util::*;

/// A process whose stdout lines arrive on a channel and whose stderr is collected.
struct Proc {
    child: Child,
    lines: Receiver<String>,
    stderr: Arc<Mutex<String>>,
}

impl Proc {
    fn spawn(mut cmd: std::process::Command) -> Proc {
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

    /// JSON lines printed so far (without waiting).
    fn json_lines(&self) -> Vec<Value> {
        self.lines
            .try_iter()
            .filter_map(|l| serde_json::from_str(&l).ok())
            .collect()
    }

    fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
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

struct Net {
    _dir: tempfile::TempDir,
    relay: TestRelay,
    members: Vec<Member>,
    dealer: Member,
    group: String,
    serve: Proc,
    url: String,
    uri: String,
}

/// A dealer 2-of-3 group (alice, bob, carol); the dealer's home serves the bunker.
fn net() -> Net {
    net_with("3")
}

/// [`net`] with this `--cosigner-timeout`.
fn net_with(cosigner_timeout: &str) -> Net {
    net_env(cosigner_timeout, &[])
}

/// [`net_with`], with extra environment for the serve process.
fn net_env(cosigner_timeout: &str, env: &[(&str, String)]) -> Net {
    let relay = start_relay();
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
    let (serve, url, uri) = start_serve(
        &dealer.home,
        &relay.url,
        "127.0.0.1:0",
        cosigner_timeout,
        env,
    );
    Net {
        _dir: dir,
        relay,
        members,
        dealer,
        group,
        serve,
        url,
        uri,
    }
}

/// `passport serve` with the co-signer bunker on `home`; its process, URL and bunker URI.
fn start_serve(
    home: &std::path::Path,
    relay: &str,
    listen: &str,
    cosigner_timeout: &str,
    env: &[(&str, String)],
) -> (Proc, String, String) {
    let mut cmd = spawn_cmd(home);
    cmd.args([
        "serve",
        "--listen",
        listen,
        "--relay",
        relay,
        "--cosigners",
        "--cosigner-timeout",
        cosigner_timeout,
        "--request-timeout",
        "15",
    ]);
    cmd.envs(env.iter().map(|(k, v)| (k, v)));
    let serve = Proc::spawn(cmd);
    let first = serve.line(Duration::from_secs(30));
    let url = first
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected ready line {first:?}"))
        .to_owned();
    let uri = serve.line(Duration::from_secs(30));
    assert!(uri.starts_with("bunker://"), "{uri}");
    (serve, url, uri)
}

impl Net {
    fn member(&self, name: &str) -> &Member {
        self.members.iter().find(|m| m.name == name).unwrap()
    }

    /// Starts `passport cosign` for `name` and waits until its commitments are published.
    fn cosign(&self, name: &str, extra: &[&str]) -> Proc {
        let p = self.cosign_start(name, extra);
        Self::ready(&p, name);
        p
    }

    fn cosign_start(&self, name: &str, extra: &[&str]) -> Proc {
        let mut cmd = spawn_cmd(&self.member(name).home);
        cmd.args([
            "cosign",
            "--json",
            "--via",
            &self.url,
            "--group",
            &self.group,
        ])
        .args(["--yes"])
        .args(extra);
        Proc::spawn(cmd)
    }

    fn ready(p: &Proc, name: &str) {
        let ready: Value = serde_json::from_str(&p.line(Duration::from_secs(30))).unwrap();
        assert_eq!(ready["ready"], true, "{ready}");
        assert_eq!(ready["member"], name);
        assert_eq!(ready["commitments"], 4);
    }

    fn client(&self) -> NostrConnect {
        let uri = NostrConnectURI::parse(&self.uri).unwrap();
        NostrConnect::new(uri, Keys::generate(), Duration::from_secs(40), None).unwrap()
    }

    fn group_pk(&self) -> PublicKey {
        PublicKey::parse(&self.group).unwrap()
    }
}

fn note(pk: PublicKey, kind: u16, text: &str) -> nostr::UnsignedEvent {
    EventBuilder::new(Kind::from(kind), text).build(pk)
}

fn check_signed(ev: &nostr::Event, pk: PublicKey) {
    assert_eq!(ev.pubkey, pk);
    verify_event_independently(&serde_json::from_str(&ev.as_json()).unwrap());
}

/// The requests an agent reports having handled.
/// The agent's outcome lines, waiting (up to 10 s) until `done` holds: an agent prints
/// its line after posting its answer, so the line may trail the bunker's reply.
fn handled_until(p: &Proc, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut got = vec![];
    loop {
        got.extend(
            p.json_lines()
                .into_iter()
                .filter(|v| v.get("outcome").is_some()),
        );
        if done(&got) || Instant::now() >= deadline {
            return got;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A process's stderr once it contains `needle` (waiting up to 10 s: the reader thread
/// may trail what the process has already written).
fn logged(p: &Proc, needle: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let log = p.stderr();
        if log.contains(needle) || Instant::now() >= deadline {
            return log;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// True once the agent has printed an outcome line matching `pred` (within 10 s).
fn saw(p: &Proc, pred: impl Fn(&Value) -> bool) -> bool {
    handled_until(p, |h| h.iter().any(&pred)).iter().any(pred)
}

#[test]
fn two_cosigners_sign_and_serve_nip44_and_nip04() {
    let n = net();
    let alice = n.cosign("alice", &[]);
    let bob = n.cosign("bob", &[]);
    let pk = n.group_pk();
    n.relay.rt.block_on(async {
        let nc = n.client();
        assert_eq!(nc.get_public_key().await.unwrap(), pk);

        let started = Instant::now();
        let ev = nc
            .sign_event(note(pk, 1, "signed by two co-signers"))
            .await
            .unwrap();
        eprintln!(
            "sign_event through two co-signers took {:?}",
            started.elapsed()
        );
        check_signed(&ev, pk);

        let third = Keys::generate();
        let started = Instant::now();
        let ct = nc
            .nip44_encrypt(&third.public_key(), "to the third party")
            .await
            .unwrap();
        eprintln!(
            "nip44_encrypt through two co-signers took {:?}",
            started.elapsed()
        );
        let pt = nostr::nips::nip44::decrypt(third.secret_key(), &pk, &ct).unwrap();
        assert_eq!(pt, "to the third party");
        let ct = nostr::nips::nip44::encrypt(
            third.secret_key(),
            &pk,
            "to the group",
            nostr::nips::nip44::Version::default(),
        )
        .unwrap();
        assert_eq!(
            nc.nip44_decrypt(&third.public_key(), &ct).await.unwrap(),
            "to the group"
        );
        let ct = nc
            .nip04_encrypt(&third.public_key(), "legacy")
            .await
            .unwrap();
        assert_eq!(
            nostr::nips::nip04::decrypt(third.secret_key(), &pk, &ct).unwrap(),
            "legacy"
        );
        let ct = nostr::nips::nip04::encrypt(third.secret_key(), &pk, "legacy back").unwrap();
        assert_eq!(
            nc.nip04_decrypt(&third.public_key(), &ct).await.unwrap(),
            "legacy back"
        );
        nc.shutdown().await;
    });
    // Both agents answered all five requests; nothing secret in their reports.
    for p in [&alice, &bob] {
        let h = handled_until(p, |h| h.len() >= 5);
        let methods: Vec<&str> = h.iter().map(|v| v["method"].as_str().unwrap()).collect();
        assert_eq!(
            methods,
            [
                "sign_event",
                "nip44_encrypt",
                "nip44_decrypt",
                "nip04_encrypt",
                "nip04_decrypt"
            ],
            "{h:?}"
        );
        assert!(h.iter().all(|v| v["outcome"] == "answered"), "{h:?}");
    }
    assert!(logged(&alice, "answered sign_event (kind 1)").contains("answered sign_event (kind 1)"));

    // SIGTERM: the agent stops cleanly within a few seconds and reports what it did.
    let mut alice = alice;
    let pid = alice.child.id().to_string();
    assert!(std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let last: Value = serde_json::from_str(&alice.line(Duration::from_secs(10))).unwrap();
    assert_eq!(last["answered"], 5, "{last}");
    assert_eq!(last["refused"], 0, "{last}");
    let status = alice.child.wait().unwrap();
    assert!(status.success(), "{status:?}");
}

#[test]
fn cosigner_policy_refusal_is_named_then_another_cosigner_is_used() {
    let n = net();
    let alice = n.cosign("alice", &["--kinds", "1"]);
    let _bob = n.cosign("bob", &[]);
    let pk = n.group_pk();
    let nc = n.relay.rt.block_on(async {
        let nc = n.client();
        // Only alice and bob: alice refuses kind 7, and nobody else can stand in.
        let started = Instant::now();
        let err = nc
            .sign_event(note(pk, 7, "+"))
            .await
            .expect_err("alice refuses kind 7")
            .to_string();
        assert!(err.contains("alice refused"), "{err}");
        assert!(err.contains("does not allow kind 7"), "{err}");
        assert!(started.elapsed() < Duration::from_secs(15), "{err}");
        // Kind 1 is within alice's policy.
        let ev = nc.sign_event(note(pk, 1, "fine")).await.unwrap();
        check_signed(&ev, pk);
        nc
    });
    let refused: Vec<Value> = handled_until(&alice, |h| {
        h.iter().any(|v| v["outcome"] == "refused") && h.iter().any(|v| v["outcome"] == "answered")
    })
    .into_iter()
    .filter(|v| v["outcome"] == "refused")
    .collect();
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert_eq!(refused[0]["kind"], 7);

    // With carol too, the bunker fails over to her and the kind-7 event is signed.
    let carol = n.cosign("carol", &[]);
    n.relay.rt.block_on(async {
        let ev = nc.sign_event(note(pk, 7, "+")).await.unwrap();
        assert_eq!(ev.kind, Kind::from(7));
        check_signed(&ev, pk);
        nc.shutdown().await;
    });
    assert!(saw(&carol, |v| v["method"] == "sign_event"
        && v["outcome"] == "answered"));
}

#[test]
fn the_bunker_never_picks_an_expired_commitment() {
    // Serve's clock is 25 h ahead: every commitment the co-signers publish (valid 24 h)
    // has expired as far as the bunker is concerned, so none may be handed out.
    let later = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 25 * 3600;
    let n = net_env("3", &[("PASSPORT_NOW_FOR_TESTING", later.to_string())]);
    let alice = n.cosign("alice", &[]);
    let bob = n.cosign("bob", &[]);
    let pk = n.group_pk();
    n.relay.rt.block_on(async {
        let nc = n.client();
        let err = nc
            .sign_event(note(pk, 1, "stale"))
            .await
            .expect_err("no unexpired commitments")
            .to_string();
        assert!(err.contains("only 0 others are available"), "{err}");
        nc.shutdown().await;
    });
    drop((alice, bob));
}

#[test]
fn killed_cosigner_fails_over_or_is_named() {
    let n = net();
    let _alice = n.cosign("alice", &[]);
    let mut bob = n.cosign("bob", &[]);
    let pk = n.group_pk();
    // Bob dies after publishing his commitments, before any request.
    bob.kill9();
    let nc = n.relay.rt.block_on(async {
        let nc = n.client();
        let started = Instant::now();
        let err = nc
            .sign_event(note(pk, 1, "needs bob"))
            .await
            .expect_err("only alice is left")
            .to_string();
        assert!(err.contains("bob did not answer within 3 s"), "{err}");
        assert!(err.contains("only 1 other is available"), "{err}");
        assert!(started.elapsed() < Duration::from_secs(15), "{err}");
        nc
    });

    // With carol running, the next request goes to alice and carol.
    let carol = n.cosign("carol", &[]);
    n.relay.rt.block_on(async {
        let started = Instant::now();
        let ev = nc.sign_event(note(pk, 1, "without bob")).await.unwrap();
        eprintln!("sign_event with bob dead took {:?}", started.elapsed());
        check_signed(&ev, pk);
        let third = Keys::generate();
        let ct = nc.nip44_encrypt(&third.public_key(), "hi").await.unwrap();
        assert_eq!(
            nostr::nips::nip44::decrypt(third.secret_key(), &pk, &ct).unwrap(),
            "hi"
        );
        nc.shutdown().await;
    });
    assert!(saw(&carol, |v| v["method"] == "sign_event"));
}

/// Sends SIGSTOP (or SIGCONT) to a co-signer: connected, commitments published, silent.
fn signal(p: &Proc, sig: &str) {
    let pid = p.child.id().to_string();
    assert!(std::process::Command::new("kill")
        .args([sig, &pid])
        .status()
        .unwrap()
        .success());
}

#[test]
fn a_cosigner_hung_mid_request_costs_no_timeout() {
    // Giving up on a silent co-signer takes 60 s, past the 15 s request timeout: the
    // request can only be signed if the bunker signs around bob instead of waiting.
    let n = net_with("60");
    let alice = n.cosign("alice", &[]);
    let mut bob = n.cosign("bob", &[]);
    let pk = n.group_pk();
    signal(&bob, "-STOP");
    let nc = Arc::new(n.client());
    let rt = &n.relay.rt;
    rt.block_on(async { assert_eq!(nc.get_public_key().await.unwrap(), pk) });
    // Only alice and bob have commitments, so the first session is theirs.
    let started = Instant::now();
    let signing = rt.spawn({
        let nc = Arc::clone(&nc);
        async move { nc.sign_event(note(pk, 1, "bob hangs")).await }
    });
    // Carol comes online once alice has answered that session: a second session with
    // alice and carol signs, while bob's stays open.
    assert!(saw(&alice, |v| v["method"] == "sign_event"
        && v["outcome"] == "answered"));
    let carol = n.cosign("carol", &[]);
    let ev = rt.block_on(signing).unwrap().expect("signed without bob");
    eprintln!("sign_event with bob hung took {:?}", started.elapsed());
    check_signed(&ev, pk);
    assert!(saw(&carol, |v| v["method"] == "sign_event"
        && v["outcome"] == "answered"));
    let needle = "sign_event: bob has not answered";
    let log = logged(&n.serve, needle);
    assert!(log.contains(needle), "{log}");
    bob.kill9();
    if let Ok(nc) = Arc::try_unwrap(nc) {
        rt.block_on(nc.shutdown());
    }
}

#[test]
fn one_hung_cosigner_of_three_stalls_nothing() {
    // All three ready, then bob hangs. Concurrent requests, signing and ECDH, all finish
    // within the request timeout though giving up on bob would take 60 s; no commitment
    // is handed out twice (a co-signer would refuse a used one).
    let n = net_with("60");
    let alice = n.cosign("alice", &[]);
    let mut bob = n.cosign("bob", &[]);
    let carol = n.cosign("carol", &[]);
    let pk = n.group_pk();
    signal(&bob, "-STOP");
    n.relay.rt.block_on(async {
        let nc = Arc::new(n.client());
        let texts: Vec<String> = (0..6).map(|i| format!("note {i}")).collect();
        let tasks: Vec<_> = texts
            .iter()
            .map(|t| {
                let (nc, t) = (Arc::clone(&nc), t.clone());
                tokio::spawn(async move { nc.sign_event(note(pk, 1, &t)).await })
            })
            .collect();
        for (task, text) in tasks.into_iter().zip(&texts) {
            let ev = task
                .await
                .unwrap()
                .unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(&ev.content, text);
            check_signed(&ev, pk);
        }
        let third = Keys::generate();
        let ct = nc.nip44_encrypt(&third.public_key(), "hi").await.unwrap();
        assert_eq!(
            nostr::nips::nip44::decrypt(third.secret_key(), &pk, &ct).unwrap(),
            "hi"
        );
        if let Ok(nc) = Arc::try_unwrap(nc) {
            nc.shutdown().await;
        }
    });
    for p in [&alice, &carol] {
        let refused: Vec<Value> = p
            .json_lines()
            .into_iter()
            .filter(|v| v["outcome"] == "refused")
            .collect();
        assert!(refused.is_empty(), "{refused:?}");
    }
    bob.kill9();
}

#[test]
fn cheating_cosigner_is_named_and_bypassed_when_signing() {
    let n = net();
    let _bob = n.cosign("bob", &[]);
    let _carol = n.cosign("carol", &[]);
    let alice = n.cosign("alice", &["--corrupt-shares-for-testing"]);
    let pk = n.group_pk();
    let needle = "alice sent an invalid signature share; asking another co-signer";
    // Bob and carol may sign a request alone (alice unasked, or judged only after the
    // signature): every request signs, and within a few alice's share is judged.
    n.relay.rt.block_on(async {
        let nc = n.client();
        for i in 0..8 {
            let ev = nc
                .sign_event(note(pk, 1, &format!("despite alice {i}")))
                .await
                .unwrap();
            check_signed(&ev, pk);
            if n.serve.stderr().contains(needle) {
                break;
            }
        }
        nc.shutdown().await;
    });
    assert!(saw(&alice, |v| v["method"] == "sign_event"));
    let log = logged(&n.serve, needle);
    assert!(log.contains(needle), "{log}");
}

#[test]
fn cheating_cosigner_is_named_by_its_dleq_proof() {
    let n = net();
    let alice = n.cosign("alice", &["--corrupt-shares-for-testing"]);
    let _bob = n.cosign("bob", &[]);
    let pk = n.group_pk();
    let nc = n.relay.rt.block_on(async {
        let nc = n.client();
        // Alice and bob only: the bad point is named, and no one can replace alice.
        let err = nc
            .nip44_encrypt(&Keys::generate().public_key(), "x")
            .await
            .expect_err("alice cheats")
            .to_string();
        assert!(err.contains("alice sent an invalid ECDH share"), "{err}");
        nc
    });
    let _carol = n.cosign("carol", &[]);
    n.relay.rt.block_on(async {
        let third = Keys::generate();
        let ct = nc.nip44_encrypt(&third.public_key(), "ok").await.unwrap();
        assert_eq!(
            nostr::nips::nip44::decrypt(third.secret_key(), &pk, &ct).unwrap(),
            "ok"
        );
        nc.shutdown().await;
    });
    assert!(saw(&alice, |v| v["method"] == "nip44_encrypt"));
}

#[test]
fn a_restarted_bunker_never_hands_out_a_used_commitment() {
    // Each co-signer keeps 4 commitments; the bunker records the ones it put in a
    // request. After a kill -9 and a restart on the same database, it must not offer
    // them again: a co-signer would refuse a used one (and say so on its stdout).
    let mut n = net_with("5");
    let alice = n.cosign("alice", &[]);
    let carol = n.cosign("carol", &[]);
    let pk = n.group_pk();
    n.relay.rt.block_on(async {
        let nc = n.client();
        for i in 0..3 {
            check_signed(
                &nc.sign_event(note(pk, 1, &format!("before {i}")))
                    .await
                    .unwrap(),
                pk,
            );
        }
        nc.shutdown().await;
    });
    n.serve.kill9();
    let listen = n.url.trim_start_matches("http://").to_owned();
    let (serve, url, uri) = start_serve(&n.dealer.home, &n.relay.url, &listen, "5", &[]);
    assert_eq!(url, n.url);
    (n.serve, n.uri) = (serve, uri);
    n.relay.rt.block_on(async {
        let nc = n.client();
        for i in 0..3 {
            let ev = nc
                .sign_event(note(pk, 1, &format!("after {i}")))
                .await
                .unwrap();
            check_signed(&ev, pk);
        }
        nc.shutdown().await;
    });
    for p in [&alice, &carol] {
        let handled = handled_until(p, |h| h.len() >= 6);
        let refused: Vec<&Value> = handled
            .iter()
            .filter(|v| v["outcome"] == "refused")
            .collect();
        assert!(refused.is_empty(), "{refused:?}");
        assert_eq!(handled.len(), 6, "{handled:?}");
    }
}

#[test]
fn a_cosigner_that_asks_its_operator_is_signed_around_when_no_one_answers() {
    // Alice asks her operator before signing kind 7. She has no terminal, so she refuses
    // (and says why on stderr): with only bob beside her the client hears why; with
    // carol too, the bunker signs around her. Kind 1 is not asked about: alice answers
    // it as with --yes.
    let n = net_with("60");
    let alice = n.cosign("alice", &["--ask-kinds", "7"]);
    let _bob = n.cosign("bob", &[]);
    let pk = n.group_pk();
    let nc = n.relay.rt.block_on(async {
        let nc = n.client();
        let err = nc
            .sign_event(note(pk, 7, "asked"))
            .await
            .expect_err("alice's operator cannot be asked")
            .to_string();
        assert!(
            err.contains("alice refused: alice's operator declined"),
            "{err}"
        );
        nc
    });
    let log = logged(&alice, "no terminal to ask on");
    assert!(
        log.contains("needs the operator's approval (--ask)"),
        "{log}"
    );
    let mut carol = n.cosign("carol", &[]);
    n.relay.rt.block_on(async {
        let ev = nc.sign_event(note(pk, 7, "around alice")).await.unwrap();
        check_signed(&ev, pk);
    });
    assert!(saw(&carol, |v| v["kind"] == 7 && v["outcome"] == "answered"));
    // With carol gone, alice must be in the session.
    carol.kill9();
    n.relay.rt.block_on(async {
        let ev = nc.sign_event(note(pk, 1, "not asked")).await.unwrap();
        check_signed(&ev, pk);
        nc.shutdown().await;
    });
    assert!(saw(&alice, |v| v["kind"] == 1 && v["outcome"] == "answered"));
}

#[test]
fn healthy_cosigners_sign_each_request_once() {
    // ROAST alone would start a second session whenever one co-signer answered before
    // its partner (it is ready again, with the idle third): nearly twice the work. The
    // hedge leaves a live session alone for a while, so three healthy co-signers sign
    // each request once, t answers, unless one is far slower than usual.
    let n = net();
    let agents = [
        n.cosign("alice", &[]),
        n.cosign("bob", &[]),
        n.cosign("carol", &[]),
    ];
    let pk = n.group_pk();
    let requests = 8;
    n.relay.rt.block_on(async {
        let nc = n.client();
        for i in 0..requests {
            let ev = nc
                .sign_event(note(pk, 1, &format!("once {i}")))
                .await
                .unwrap();
            check_signed(&ev, pk);
        }
        // Asked of every online co-signer: an agent that answered it has handled every
        // sign-request before it (an agent answers in order).
        let third = Keys::generate();
        nc.nip44_encrypt(&third.public_key(), "barrier")
            .await
            .unwrap();
        nc.shutdown().await;
    });
    let mut signed = 0;
    for a in &agents {
        let lines = handled_until(a, |h| h.iter().any(|v| v["method"] == "nip44_encrypt"));
        assert!(
            lines.iter().any(|v| v["method"] == "nip44_encrypt"),
            "an agent never answered the nip44 request: {lines:?}"
        );
        signed += lines
            .iter()
            .filter(|v| v["method"] == "sign_event" && v["outcome"] == "answered")
            .count();
    }
    // t = 2 answers a request; plain ROAST measured ~3.8 (bench-bunker, 200 requests).
    assert!(
        signed >= 2 * requests,
        "{signed} answers to {requests} requests"
    );
    assert!(
        signed < 3 * requests,
        "{signed} answers to {requests} requests"
    );
}
