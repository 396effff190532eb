//! Seed corpora, made at run time from real (deterministic) ceremony data so nothing
//! binary is committed. `scripts/fuzz.sh` runs the `gen_seeds` binary, which calls
//! [`write_all`].

use std::collections::BTreeMap;
use std::path::Path;

use nostr::{EventBuilder, JsonUtil, Keys, Kind, Timestamp};
use passport::ceremony::frost::keys::KeyPackage;
use passport::ceremony::{self, dealer, dkg, signing, Roster};
use passport::envelope::payload::dkg::Agreement;
use passport::envelope::payload::keygen::DealerShare;
use passport::envelope::payload::sign::{CommitEntry, CommitPayload, RequestPayload, SharePayload};
use passport::envelope::{self, Binding, Draft, Round, Sender};
use passport::events::{self, Message};
use passport::group::{Group, Origin};
use passport::ops::sign::RawSignature;
use rand::SeedableRng;
use serde::Serialize;

use crate::{fixture, Structured};

struct Out<'a> {
    root: &'a Path,
    count: usize,
}

impl Out<'_> {
    fn put(&mut self, target: &str, name: &str, bytes: impl AsRef<[u8]>) -> std::io::Result<()> {
        let dir = self.root.join(target);
        std::fs::create_dir_all(&dir)?;
        std::fs::write(dir.join(format!("seed-{name}")), bytes)?;
        self.count += 1;
        Ok(())
    }
}

fn json<T: Serialize>(v: &T) -> String {
    serde_json::to_string(v).expect("seed serializes")
}

/// Writes seeds for every target under `root/<target>/`. Returns how many.
pub fn write_all(root: &Path) -> std::io::Result<usize> {
    let fx = fixture();
    let mut out = Out { root, count: 0 };
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x7061_7373);

    // Rosters.
    let roster = &fx.roster;
    let mut dkg_roster = roster.clone();
    dkg_roster.dealer = None;
    dkg_roster.ceremony_id = "ffeeddccbbaa99887766554433221100".into();
    let mut hex_roster = serde_json::to_value(roster).expect("roster");
    hex_roster["members"][0]["npub"] = fx.alice.public_key().to_hex().into();
    for (name, r) in [
        ("dealer", roster.to_json_pretty()),
        ("dkg", json(&dkg_roster)),
        ("hex-npub", hex_roster.to_string()),
    ] {
        Roster::from_json(r.as_bytes()).expect("roster seed parses");
        out.put("roster_json", name, &r)?;
        out.put("inspect", &format!("roster-{name}"), &r)?;
    }

    // A dealt group.
    let dealt = dealer::deal(roster, None, &mut rng).expect("deal");
    let group = Group::new(roster.clone(), dealt.public.clone(), Origin::Dealer);
    out.put("group_json", "dealer", group.to_json_pretty())?;
    out.put("inspect", "group", group.to_json_pretty())?;
    let key_packages: BTreeMap<u16, KeyPackage> = dealt
        .shares
        .iter()
        .map(|(&seat, s)| {
            (
                seat,
                KeyPackage::try_from(s.clone()).expect("dealt share verifies"),
            )
        })
        .collect();

    // A DKG group (round-1 and round-2 packages for payload seeds).
    let mut secrets = BTreeMap::new();
    let mut r1 = BTreeMap::new();
    for seat in dkg_roster.ids() {
        let (s, p) = dkg::part1(&dkg_roster, seat, &mut rng).expect("dkg part1");
        secrets.insert(seat, s);
        r1.insert(seat, p);
    }
    let mut r2_secrets = BTreeMap::new();
    let mut r2_out = BTreeMap::new();
    for seat in dkg_roster.ids() {
        let others = r1
            .iter()
            .filter(|(&k, _)| k != seat)
            .map(|(&k, v)| (k, v.clone()))
            .collect();
        let (s, pkgs) = dkg::part2(
            &dkg_roster,
            seat,
            secrets.remove(&seat).expect("secret"),
            &others,
        )
        .expect("dkg part2");
        r2_secrets.insert(seat, s);
        r2_out.insert(seat, pkgs);
    }
    let r2_for_1: BTreeMap<_, _> = r2_out
        .iter()
        .filter(|(&k, _)| k != 1)
        .map(|(&k, m)| (k, m[&1].clone()))
        .collect();
    let r1_others: BTreeMap<_, _> = r1
        .iter()
        .filter(|(&k, _)| k != 1)
        .map(|(&k, v)| (k, v.clone()))
        .collect();
    let (_, dkg_public) =
        dkg::part3(&dkg_roster, 1, &r2_secrets[&1], &r1_others, &r2_for_1).expect("dkg part3");
    let dkg_group = Group::new(dkg_roster.clone(), dkg_public.clone(), Origin::Dkg);
    out.put("group_json", "dkg", dkg_group.to_json_pretty())?;
    for g in [&group, &dkg_group] {
        Group::from_json(g.to_json_pretty().as_bytes()).expect("group seed parses");
    }

    // Messages and signing.
    let template = br#"{"kind":1,"content":"hello from the group","tags":[["t","fuzz"],["p","0000000000000000000000000000000000000000000000000000000000000001"]],"created_at":1700000000}"#;
    let event = events::from_template(
        template,
        &group.public_key(),
        Timestamp::from(1_700_000_000),
    )
    .expect("template");
    let msg = Message::Event { event };
    let raw_hex = "ab".repeat(32);
    for (name, t) in [
        ("full", template.as_slice()),
        ("minimal", br#"{"kind":1}"#.as_slice()),
        (
            "with-pubkey",
            format!(
                r#"{{"kind":30023,"content":"x","tags":[["d","a"]],"pubkey":"{}"}}"#,
                fx.group_key.to_hex()
            )
            .as_bytes(),
        ),
        (
            "resign",
            br#"{"kind":1,"content":"","tags":[],"created_at":1,"id":"00","sig":"00"}"#.as_slice(),
        ),
        ("raw", raw_hex.as_bytes()),
        ("raw-ws", format!(" {raw_hex}\n").as_bytes()),
    ] {
        out.put("event_template", name, t)?;
    }

    let mut commitments = BTreeMap::new();
    let mut nonces = BTreeMap::new();
    let mut entries = BTreeMap::new();
    for (&seat, kp) in &key_packages {
        let (n, c) = signing::commit(kp, &mut rng);
        let id = format!("{:032x}", seat);
        entries.insert(
            seat,
            CommitEntry {
                id: id.clone(),
                commitments: c,
            },
        );
        nonces.insert(seat, n);
        commitments.insert(seat, c);
    }
    let chosen: BTreeMap<u16, _> = commitments.iter().take(2).map(|(&k, &v)| (k, v)).collect();
    let package = signing::signing_package(roster, &chosen, &msg.bytes()).expect("signing package");
    let share = signing::sign(&package, &nonces[&1], &key_packages[&1]).expect("sign");

    let commit = CommitPayload {
        group: group.npub.clone(),
        commitments: vec![entries.remove(&1).expect("entry")],
        valid_for: None,
    };
    let request = RequestPayload {
        group: group.npub.clone(),
        message: msg.clone(),
        signing_package: package.clone(),
        commitment_ids: chosen.keys().map(|&k| (k, format!("{k:032x}"))).collect(),
    };
    let raw_request = RequestPayload {
        group: group.npub.clone(),
        message: events::raw_message(&raw_hex).expect("raw"),
        signing_package: signing::signing_package(roster, &chosen, &[0xab; 32]).expect("package"),
        commitment_ids: request.commitment_ids.clone(),
    };
    let share_payload = SharePayload {
        request: "11".repeat(32),
        share,
    };
    let agreement = Agreement {
        group: dkg_group.npub.clone(),
        public_key_package_hash: hex::encode(
            ceremony::public_package_hash(&dkg_public).expect("hash"),
        ),
    };
    let dealer_share = DealerShare {
        group: group.clone(),
        share: dealt.shares[&2].clone(),
    };
    let r2_pkg = r2_out[&2][&1].clone();

    let payloads: Vec<(&str, Round, String)> = vec![
        ("sign-commit", Round::SignCommit, json(&commit)),
        ("sign-request", Round::SignRequest, json(&request)),
        ("sign-request-raw", Round::SignRequest, json(&raw_request)),
        ("sign-share", Round::SignShare, json(&share_payload)),
        ("dkg-agree", Round::DkgAgree, json(&agreement)),
        ("dealer-share", Round::DealerShare, json(&dealer_share)),
        ("dkg-1", Round::Dkg1, json(&r1[&1])),
        ("dkg-2", Round::Dkg2, json(&r2_pkg)),
    ];

    // Packages: real sealed events, and their structured forms.
    let binding = Binding::of(roster);
    let dealer_pk = fx.dealer.public_key();
    for (name, round, payload) in &payloads {
        out.put("payloads", name, payload)?;
        let value: serde_json::Value = serde_json::from_str(payload).expect("payload json");
        let (keys, from, to): (&Keys, _, _) = match round {
            Round::DealerShare => (&fx.dealer, None, Some((fx.bob.public_key(), 2))),
            Round::Dkg2 => (&fx.alice, Some(1), Some((fx.bob.public_key(), 2))),
            Round::SignRequest => (&fx.outsider, None, None),
            _ => (&fx.alice, Some(1), None),
        };
        let reference = (*round == Round::SignShare).then(|| "22".repeat(32));
        let ev = envelope::seal(
            keys,
            Draft {
                binding: &binding,
                round: *round,
                from,
                to,
                reference,
                payload: &value,
            },
        )
        .expect("seal");
        let plain = round.confidential().then_some(payload.as_str());
        let structured = Structured::of_event(fx, &ev, plain);
        // Seeds that stop at the first check would be worth little: make sure both forms
        // get through parse and check and decrypt for the recipient.
        for json in [
            ev.as_json().into_bytes(),
            structured.seal_json(fx).expect("structured seals"),
        ] {
            let (e, meta) = envelope::parse(&json).expect("seed parses");
            let sender = match round {
                Round::DealerShare => Sender::Key(&dealer_pk, "the dealer"),
                Round::SignRequest => Sender::Anyone,
                _ => Sender::Member,
            };
            let c = envelope::check(roster, e, meta, *round, sender).expect("seed passes check");
            let _: serde_json::Value = c
                .payload(Some(&fx.bob))
                .expect("seed payload decrypts and parses");
        }
        out.put("envelope_parse", name, ev.as_json())?;
        out.put("inspect", &format!("package-{name}"), ev.as_json())?;
        out.put(
            "envelope_parse",
            &format!("{name}-structured"),
            structured.encode(),
        )?;
    }
    // A package for another roster, and one signed by a non-member.
    let other = Binding {
        ceremony: CEREMONY_OTHER.into(),
        roster_hash: "33".repeat(32),
    };
    let ev = envelope::seal(
        &fx.outsider,
        Draft {
            binding: &other,
            round: Round::Dkg1,
            from: Some(9),
            to: None,
            reference: None,
            payload: &serde_json::json!({}),
        },
    )
    .expect("seal");
    out.put("envelope_parse", "foreign", ev.as_json())?;
    out.put(
        "envelope_parse",
        "foreign-structured",
        Structured::of_event(fx, &ev, None).encode(),
    )?;

    // Other files inspect/verify read.
    let kind1 = EventBuilder::new(Kind::TextNote, "hello")
        .sign_with_keys(&fx.alice)
        .expect("sign");
    out.put("inspect", "event", kind1.as_json())?;
    let sig = nostr::secp256k1::SECP256K1.sign_schnorr_no_aux_rand(
        &nostr::secp256k1::Message::from_digest([0xab; 32]),
        &fx.alice.secret_key().keypair(nostr::secp256k1::SECP256K1),
    );
    let raw = RawSignature {
        pubkey: fx.alice.public_key().to_hex(),
        message: raw_hex.clone(),
        signature: hex::encode(sig.serialize()),
    };
    out.put("inspect", "raw-signature", json(&raw))?;
    out.put(
        "inspect",
        "home-config",
        format!(r#"{{"version":1,"npub":"{}","keystore":{{"unlock":"passphrase","recipient":"age1xyz"}}}}"#, fx.alice.public_key().to_hex()),
    )?;
    out.put("inspect", "age", "age-encryption.org/v1\n-> X25519 abc\n")?;
    out.put("inspect", "tombstone", "passport-consumed\n")?;
    Ok(out.count)
}

const CEREMONY_OTHER: &str = "0123456789abcdef0123456789abcdef";

/// Entry point of the `gen_seeds` binary: writes seeds under `$PASSPORT_FUZZ_SEEDS`
/// and exits the process (it runs from libFuzzer's init hook, before any fuzzing).
pub fn main_from_env() {
    let code = match std::env::var_os("PASSPORT_FUZZ_SEEDS") {
        Some(root) => match write_all(Path::new(&root)) {
            Ok(n) => {
                eprintln!(
                    "gen_seeds: wrote {n} seed files under {}",
                    root.to_string_lossy()
                );
                0
            }
            Err(e) => {
                eprintln!("gen_seeds: {e}");
                1
            }
        },
        None => {
            eprintln!("gen_seeds is not a fuzz target; set PASSPORT_FUZZ_SEEDS=DIR (scripts/fuzz.sh does)");
            0
        }
    };
    std::process::exit(code);
}
