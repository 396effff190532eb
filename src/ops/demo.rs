//! `passport demo`: a full local 2-of-3 DKG and a signing among three simulated
//! members, each with its own home, through the same functions the subcommands call and
//! the same package files they exchange.

use std::path::{Path, PathBuf};

use nostr::Event;
use serde::Serialize;

use super::{dkg, sign, verify, Report};
use crate::ceremony::{Member, Roster};
use crate::error::{Error, OperatorError, Result};
use crate::home::{Home, InitUnlock};
use crate::hsm::{TokenSpec, TokenUri};

/// Number of narrated steps (for progress bars).
pub const STEPS: u64 = 10;

#[derive(Serialize)]
pub struct DemoReport {
    pub group: String,
    pub event: Event,
    pub verified: bool,
    pub roster_fingerprint: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub directory: Option<PathBuf>,
    /// With `--hsm`: each member's attestation, verified.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attestations: Option<Vec<crate::hsm::attest::Verified>>,
}

impl Report for DemoReport {
    fn human(&self) -> String {
        let mut s = format!(
            "demo complete: 2-of-3 group {}\n  signed event {} verified with libsecp256k1",
            self.group,
            self.event.id.to_hex()
        );
        if let Some(a) = &self.attestations {
            for v in a {
                s.push_str(&format!(
                    "\n  {} attested by token {} ({}, {} share)",
                    v.member, v.token, v.assurance, v.shares
                ));
            }
        }
        if let Some(d) = &self.directory {
            s.push_str(&format!("\n  files kept in {}", d.display()));
        }
        s
    }
    fn stdout(&self) -> Option<String> {
        Some(nostr::JsonUtil::as_json(&self.event))
    }
}

const NAMES: [&str; 3] = ["alice", "bob", "carol"];

/// Number of narrated steps with `--hsm`.
pub const HSM_STEPS: u64 = STEPS + 2;

const DEMO_PIN: &str = "123456";
const DEMO_SO_PIN: &str = "87654321";

/// Runs the demo; `step` is called with a line of narration before each step. With
/// `hsm`, each member's keystore is a SoftHSM2 token created in the demo directory.
pub fn run(keep: bool, hsm: bool, step: &mut dyn FnMut(&str)) -> Result<DemoReport> {
    let tmp = tempfile::Builder::new()
        .prefix("passport-demo-")
        .tempdir()
        .map_err(|e| Error::io("temp dir", e))?;
    let root = tmp.path();
    let report = run_in(root, hsm, step)?;
    let directory = if keep { Some(tmp.keep()) } else { None };
    Ok(DemoReport {
        directory,
        ..report
    })
}

/// Creates one SoftHSM2 token per member in `root/softhsm` and passport keys in each.
fn make_tokens(root: &Path, step: &mut dyn FnMut(&str)) -> Result<Vec<TokenSpec>> {
    let module = crate::hsm::token::find_softhsm().ok_or(OperatorError::NoSoftHsm)?;
    step("creating a SoftHSM2 token per member, each with a non-extractable seal key and attestation key");
    let dir = root.join("softhsm");
    crate::fsutil::private_dir(&dir.join("tokens"))?;
    let conf = dir.join("softhsm2.conf");
    let text = format!(
        "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n",
        dir.join("tokens").display()
    );
    crate::fsutil::write_atomic(&conf, text.as_bytes(), false)?;
    // SoftHSM2 reads this when the module is initialized, which happens just below.
    std::env::set_var("SOFTHSM2_CONF", &conf);
    let mut specs = vec![];
    for n in NAMES {
        let info = crate::hsm::token::create_token(&module, n, DEMO_SO_PIN, DEMO_PIN)?;
        let spec = TokenSpec {
            module: module.clone(),
            uri: TokenUri::parse(&info.uri)?,
        };
        super::hsm::init(&spec, &demo_pin(), None, Default::default())?;
        specs.push(spec);
    }
    Ok(specs)
}

fn demo_pin() -> crate::hsm::PinSource {
    Box::new(|| Ok(zeroize::Zeroizing::new(DEMO_PIN.to_owned())))
}

fn run_in(root: &Path, hsm: bool, step: &mut dyn FnMut(&str)) -> Result<DemoReport> {
    let exchange = root.join("packages");
    let homes: Vec<Home> = if hsm {
        let specs = make_tokens(root, step)?;
        step("creating three operator homes (alice, bob, carol), each sealing its secrets in its own token");
        NAMES
            .iter()
            .zip(specs)
            .map(|(n, spec)| Home::init(&root.join(n), InitUnlock::Pkcs11(spec, demo_pin())))
            .collect::<Result<_, crate::home::Error>>()?
    } else {
        step("creating three operator homes (alice, bob, carol), each with its own age-sealed keystore");
        NAMES
            .iter()
            .map(|n| {
                Home::init(
                    &root.join(n),
                    InitUnlock::IdentityFile(root.join(format!("{n}.agekey"))),
                )
            })
            .collect::<Result<_, crate::home::Error>>()?
    };

    step("writing a 2-of-3 DKG roster and comparing its fingerprint");
    let members = NAMES
        .iter()
        .zip(&homes)
        .map(|(n, h)| Member {
            name: (*n).into(),
            npub: h.public_key(),
        })
        .collect();
    let roster = Roster::new("passport demo", 2, members, None, &mut rand::rngs::OsRng)?;
    let roster_path = root.join("roster.json");
    crate::fsutil::write_atomic(&roster_path, roster.to_json_pretty().as_bytes(), false)?;
    let mut files = super::Files::new(std::slice::from_ref(&exchange), &exchange);

    step("DKG round 1: each member commits to a secret polynomial");
    for h in &homes {
        dkg::round1(h, &roster, None, &mut files)?;
    }
    step("DKG round 2: each member checks the others' proofs and sends encrypted shares");
    for h in &homes {
        dkg::round2(h, &roster, None, &mut files)?;
    }
    step("DKG finish: each member derives its share and signs the group key it computed");
    for h in &homes {
        dkg::finish(h, &roster, None, &mut files)?;
    }
    step("DKG confirm: all three agreement packages match, the group is active");
    let mut group = String::new();
    for h in &homes {
        group = dkg::confirm(h, &roster, None, &mut files)?
            .group
            .unwrap_or_default();
    }

    step("signing round 1: alice and bob publish nonce commitments");
    let signing = root.join("signing");
    let mut files = super::Files::new(std::slice::from_ref(&signing), &signing);
    for h in &homes[..2] {
        sign::commit(h, &group, None, 1, &mut files)?;
    }
    step("carol coordinates: a signing request for a kind-1 note");
    let template =
        br#"{"kind":1,"content":"hello from a 2-of-3 passport group","tags":[["t","passport"]]}"#;
    let req = sign::request(
        &homes[2],
        &group,
        sign::ToSign::Template(template.to_vec()),
        &[],
        &mut files,
    )?;
    let request = super::read_package(Path::new(&req.package), None)?;
    step("signing round 2: alice and bob review the event and send signature shares");
    for h in &homes[..2] {
        sign::share(h, &request, None, &mut |_| true, &mut files)?;
    }
    step("carol aggregates the shares into one BIP-340 signature");
    let signed = sign::aggregate(Some(&homes[2]), None, &request, &mut files)?;
    let event = signed.event.expect("event signing yields an event");
    let event_path = root.join("signed-event.json");
    crate::fsutil::write_atomic(
        &event_path,
        nostr::JsonUtil::as_json(&event).as_bytes(),
        false,
    )?;

    step("verifying the signed event independently with libsecp256k1");
    let v = verify::verify(&event_path, Some(&group))?;
    let attestations = if hsm {
        step("each token attests to the share it seals; the statements are verified");
        let mut out = vec![];
        for h in &homes {
            let challenge = hex::encode(rand::random::<[u8; 16]>());
            let statement = super::hsm::attest(h, &challenge)?;
            let bytes = serde_json::to_vec(&statement).expect("statement");
            let member = nostr::ToBech32::to_bech32(&h.public_key()).expect("bech32");
            out.push(crate::hsm::attest::verify(
                &bytes,
                &challenge,
                Some(&group),
                Some(&member),
            )?);
        }
        Some(out)
    } else {
        None
    };
    Ok(DemoReport {
        group,
        event,
        verified: v.valid,
        roster_fingerprint: roster.fingerprint(),
        directory: None,
        attestations,
    })
}

/// For `demo bunker`: a 2-of-3 group dealt by a `bunker` home that keeps two seats
/// (so it can answer alone) and gives the third to an `offsite` home. Returns the
/// bunker home and the group.
pub fn bunker_group(
    root: &Path,
    step: &mut dyn FnMut(&str),
) -> Result<(Home, crate::group::Group)> {
    step("creating two homes: the bunker's and an offsite member's");
    let bunker = Home::init(
        &root.join("bunker"),
        InitUnlock::IdentityFile(root.join("bunker.agekey")),
    )?;
    let offsite = Home::init(
        &root.join("offsite"),
        InitUnlock::IdentityFile(root.join("offsite.agekey")),
    )?;
    step("dealing a 2-of-3 key: two shares stay with the bunker, one goes offsite");
    let members = vec![
        Member {
            name: "bunker-a".into(),
            npub: bunker.public_key(),
        },
        Member {
            name: "bunker-b".into(),
            npub: bunker.public_key(),
        },
        Member {
            name: "offsite".into(),
            npub: offsite.public_key(),
        },
    ];
    let roster = Roster::new(
        "passport demo bunker",
        2,
        members,
        Some(bunker.public_key()),
        &mut rand::rngs::OsRng,
    )?;
    let roster_path = root.join("roster.json");
    crate::fsutil::write_atomic(&roster_path, roster.to_json_pretty().as_bytes(), false)?;
    let dealt = root.join("dealt");
    let mut files = super::Files::out(&dealt);
    let r = super::keygen::deal(&bunker, &roster, None, &dealt, &mut files)?;
    for (home, seat) in [
        (&bunker, "bunker-a"),
        (&bunker, "bunker-b"),
        (&offsite, "offsite"),
    ] {
        let input = super::read_package(
            &dealt.join(format!(
                "dealer-share-{seat}-{}.json",
                super::short_id(&roster.ceremony_id)
            )),
            Some(&roster),
        )?;
        super::keygen::import(home, &roster, &input)?;
    }
    let group = bunker.find_group(&r.group)?;
    Ok((bunker, group))
}
