//! `passport demo`: a full local 2-of-3 DKG and a signing among three simulated
//! members, each with its own home, through the same functions the subcommands call and
//! the same package files they exchange.

use std::path::{Path, PathBuf};

use nostr::Event;
use serde::Serialize;

use super::{dkg, sign, verify, Report};
use crate::ceremony::{Member, Roster};
use crate::error::{Error, Result};
use crate::home::{Home, InitUnlock};

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
}

impl Report for DemoReport {
    fn human(&self) -> String {
        let mut s = format!(
            "demo complete: 2-of-3 group {}\n  signed event {} verified with libsecp256k1",
            self.group,
            self.event.id.to_hex()
        );
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

/// Runs the demo; `step` is called with a line of narration before each step.
pub fn run(keep: bool, step: &mut dyn FnMut(&str)) -> Result<DemoReport> {
    let tmp = tempfile::Builder::new()
        .prefix("passport-demo-")
        .tempdir()
        .map_err(|e| Error::io("temp dir", e))?;
    let root = tmp.path();
    let report = run_in(root, step)?;
    let directory = if keep { Some(tmp.keep()) } else { None };
    Ok(DemoReport {
        directory,
        ..report
    })
}

fn run_in(root: &Path, step: &mut dyn FnMut(&str)) -> Result<DemoReport> {
    let exchange = root.join("packages");
    step(
        "creating three operator homes (alice, bob, carol), each with its own age-sealed keystore",
    );
    let homes: Vec<Home> = NAMES
        .iter()
        .map(|n| {
            Home::init(
                &root.join(n),
                InitUnlock::IdentityFile(root.join(format!("{n}.agekey"))),
            )
        })
        .collect::<Result<_>>()?;

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
    let ins = [exchange.clone()];

    step("DKG round 1: each member commits to a secret polynomial");
    for h in &homes {
        dkg::round1(h, &roster_path, None, &exchange)?;
    }
    step("DKG round 2: each member checks the others' proofs and sends encrypted shares");
    for h in &homes {
        dkg::round2(h, &roster_path, None, &ins, &exchange)?;
    }
    step("DKG finish: each member derives its share and signs the group key it computed");
    for h in &homes {
        dkg::finish(h, &roster_path, None, &ins, &exchange)?;
    }
    step("DKG confirm: all three agreement packages match, the group is active");
    let mut group = String::new();
    for h in &homes {
        group = dkg::confirm(h, &roster_path, None, &ins)?
            .group
            .unwrap_or_default();
    }

    step("signing round 1: alice and bob publish nonce commitments");
    let signing = root.join("signing");
    for h in &homes[..2] {
        sign::commit(h, &group, None, 1, &signing)?;
    }
    step("carol coordinates: a signing request for a kind-1 note");
    let template =
        br#"{"kind":1,"content":"hello from a 2-of-3 passport group","tags":[["t","passport"]]}"#;
    let req = sign::request(
        &homes[2],
        &group,
        sign::ToSign::Template(template.to_vec()),
        &[],
        std::slice::from_ref(&signing),
        &signing,
    )?;
    step("signing round 2: alice and bob review the event and send signature shares");
    for h in &homes[..2] {
        sign::share(h, &req.package, None, &mut |_| true, &signing)?;
    }
    step("carol aggregates the shares into one BIP-340 signature");
    let signed = sign::aggregate(
        Some(&homes[2]),
        None,
        &req.package,
        std::slice::from_ref(&signing),
    )?;
    let event = signed.event.expect("event signing yields an event");
    let event_path = root.join("signed-event.json");
    crate::fsutil::write_atomic(
        &event_path,
        nostr::JsonUtil::as_json(&event).as_bytes(),
        false,
    )?;

    step("verifying the signed event independently with libsecp256k1");
    let v = verify::verify(&event_path, Some(&group))?;
    Ok(DemoReport {
        group,
        event,
        verified: v.valid,
        roster_fingerprint: roster.fingerprint(),
        directory: None,
    })
}
