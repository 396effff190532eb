//! `sign run --via` and the `--via` forms of the single signing steps: finding requests
//! among fetched packages, and driving every signing round in one resumable command.
//!
//! Two roles run the same command: the coordinator (given what to sign) commits its own
//! seats, waits for t commitments, publishes the request, signs its own part and
//! aggregates; a signer (given nothing to sign) publishes a commitment, waits for a
//! request that uses it, asks consent and answers. Progress is saved after each step.

use std::time::{Duration, Instant};

use nostr::Event;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::sign::{self, Consent, Signed, ToSign};
use super::{until_complete, Exchange, Input, Progress, Report};
use crate::ceremony::{self, MemberId};
use crate::envelope::payload::sign::CommitPayload;
use crate::envelope::Round;
use crate::error::{Result, SignError};
use crate::group::Group;
use crate::home::Home;
use crate::transport::Via;

/// How long a `sign run` commitment stays usable.
const LIFETIME: u64 = super::nonce::DEFAULT_VALID_FOR;

/// Finds a signing request among fetched packages by event id (or a unique prefix).
pub fn find_request(inputs: Vec<Input>, id: &str) -> Result<Input> {
    let id = id.trim().to_ascii_lowercase();
    if id.len() < 8 || !id.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(SignError::RequestId { id }.into());
    }
    let mut found: Vec<Input> = inputs
        .into_iter()
        .filter(|i| i.meta.round == Round::SignRequest && i.event.id.to_hex().starts_with(&id))
        .collect();
    match found.len() {
        0 => Err(SignError::RequestNotYet { id }.into()),
        1 => Ok(found.remove(0)),
        count => Err(SignError::RequestIdAmbiguous { count, id }.into()),
    }
}

/// The newest request, for one of this home's seats, whose nonce this home still holds
/// (i.e. not answered yet).
pub fn pending_request(home: &Home, group: &Group, inputs: Vec<Input>) -> Result<Option<Input>> {
    let seats = home.active_seats(group)?;
    let mut best: Option<Input> = None;
    for input in inputs {
        if input.meta.round != Round::SignRequest
            || input.meta.binding.ceremony != group.roster.ceremony_id
        {
            continue;
        }
        let Ok(req) = sign::check_request(Some(home), None, &input) else {
            continue;
        };
        let open = seats.iter().any(|s| {
            req.payload
                .commitment_ids
                .get(s)
                .is_some_and(|id| home.keystore().exists(&sign::nonce_name(group, *s, id)))
        });
        if open
            && best
                .as_ref()
                .is_none_or(|b| b.event.created_at <= input.event.created_at)
        {
            best = Some(input);
        }
    }
    Ok(best)
}

/// Saved progress of a coordinator's run, keyed by what it signs.
#[derive(Serialize, Deserialize, Default)]
struct CoordinatorState {
    commits: Vec<Event>,
    request: Option<Event>,
}

/// Saved progress of a signer's run.
#[derive(Serialize, Deserialize, Default)]
struct SignerState {
    commit: Option<Event>,
}

/// What `sign run` did.
#[derive(Serialize)]
pub struct RunReport {
    pub group: String,
    pub role: &'static str,
    pub via: String,
    pub request: Option<String>,
    pub signed_by_me: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<Signed>,
    /// A signer the coordinator did not pick: the members whose shares made the signature.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub completed_without_me: Option<Vec<String>>,
}

impl Report for RunReport {
    fn human(&self) -> String {
        if let Some(others) = &self.completed_without_me {
            return format!(
                "request {} for {} was signed by {} without this member; nothing to do (the unused commitment stays for a later request)",
                self.request.as_deref().map_or("", |r| &r[..12.min(r.len())]),
                self.group,
                others.join(", ")
            );
        }
        match &self.result {
            Some(r) => format!(
                "signed for {} via {} by {}",
                self.group,
                self.via,
                r.signers.join(", ")
            ),
            None => format!(
                "{} answered request {} for {} via {}",
                self.signed_by_me.join(", "),
                self.request
                    .as_deref()
                    .map_or("", |r| &r[..12.min(r.len())]),
                self.group,
                self.via
            ),
        }
    }

    fn stdout(&self) -> Option<String> {
        self.result.as_ref().and_then(|r| r.stdout())
    }
}

fn state_dir(group: &Group) -> String {
    format!("sign/{}/run", group.id())
}

fn what_key(what: &ToSign) -> String {
    let mut h = Sha256::new();
    match what {
        ToSign::Template(b) => {
            h.update(b"template\0");
            h.update(b);
        }
        ToSign::Raw(m) => {
            h.update(b"raw\0");
            h.update(m.trim().to_ascii_lowercase().as_bytes());
        }
    }
    hex::encode(&h.finalize()[..16])
}

/// Options of one `sign run`.
pub struct RunOptions<'a> {
    pub group: &'a str,
    pub member: Option<&'a str>,
    pub signers: &'a [String],
    pub timeout: Duration,
}

/// Coordinator: commit own seats, request, sign own part, aggregate.
pub fn coordinate(
    home: &Home,
    what: ToSign,
    opts: &RunOptions<'_>,
    via: &mut Via,
    consent: Consent<'_>,
    progress: Progress<'_>,
) -> Result<RunReport> {
    let group = home.find_group(opts.group)?;
    let deadline = Instant::now() + opts.timeout;
    let rel = format!("{}/{}.json", state_dir(&group), what_key(&what));
    let mut st: CoordinatorState = home.read_state(&rel)?.unwrap_or_default();
    let my_seats = home.active_seats(&group)?;
    if st.request.is_none() {
        if st.commits.is_empty() {
            // Recorded before delivered: a run killed in between re-sends the same ones.
            for &seat in &my_seats {
                let name = Some(group.roster.name(seat));
                let (_, r) = sign::make(home, opts.group, name.as_deref(), 1, LIFETIME)?;
                st.commits.push(r.event);
            }
            home.write_state(&rel, &st)?;
            for ev in &st.commits {
                via.publish(ev)?;
            }
        } else {
            // A restarted run: make sure the commitments it made were delivered.
            for ev in &st.commits {
                via.publish(ev)?;
            }
        }
        let t = group.roster.threshold as usize;
        let r = until_complete(via, deadline, "commitments", t, progress, |v| {
            sign::request(home, opts.group, what.clone(), opts.signers, v)
        })?;
        st.request = Some(r.event);
        home.write_state(&rel, &st)?;
    }
    let request_ev = st.request.clone().expect("set above");
    via.publish(&request_ev)?;
    let request = super::input_of(&request_ev, "the saved signing request")?;
    let signed_by_me = answer(home, &group, &request, opts.member, consent, via)?;
    let req = sign::check_request(Some(home), None, &request)?;
    let t = req.signers.len();
    let signed = until_complete(via, deadline, "signature shares", t, progress, |v| {
        sign::aggregate(Some(home), None, &request, v)
    })?;
    home.remove_state(&rel)?;
    Ok(RunReport {
        group: group.npub.clone(),
        role: "coordinator",
        via: via.endpoint().describe(),
        request: Some(request_ev.id.to_hex()),
        signed_by_me,
        result: Some(signed),
        completed_without_me: None,
    })
}

/// Answers a request for every seat of this home it names whose nonce is unused.
fn answer(
    home: &Home,
    group: &Group,
    request: &Input,
    member: Option<&str>,
    consent: Consent<'_>,
    ex: &mut dyn Exchange,
) -> Result<Vec<String>> {
    let req = sign::check_request(Some(home), None, request)?;
    let mut done = vec![];
    for &seat in &req.signers {
        let name = group.roster.name(seat);
        if member.is_some_and(|m| m != name) || !home.active_seats(group)?.contains(&seat) {
            continue;
        }
        let nonce = sign::nonce_name(group, seat, &req.payload.commitment_ids[&seat]);
        if !home.keystore().exists(&nonce) {
            // Answered before this run was restarted; the share is on the transport.
            continue;
        }
        sign::share(home, request, Some(&name), consent, ex)?;
        done.push(name);
    }
    Ok(done)
}

/// Signer: publish a commitment, wait for a request that uses it, consent, answer.
pub fn serve_one(
    home: &Home,
    opts: &RunOptions<'_>,
    via: &mut Via,
    consent: Consent<'_>,
    progress: Progress<'_>,
) -> Result<RunReport> {
    let group = home.find_group(opts.group)?;
    let deadline = Instant::now() + opts.timeout;
    let seat: MemberId = super::pick_seat(
        &group.roster,
        &home.active_seats(&group)?,
        opts.member,
        "with a share of this group",
    )?;
    let name = group.roster.name(seat);
    let rel = format!("{}/signer-{seat}.json", state_dir(&group));
    let mut st: SignerState = home.read_state(&rel)?.unwrap_or_default();
    // A saved commitment is re-published only while it is unused and not expired.
    let now = crate::clock::now();
    let still_open = st.commit.as_ref().is_some_and(|ev| {
        serde_json::from_str::<CommitPayload>(&ev.content).is_ok_and(|p| {
            now < p.expires_at(ev)
                && p.commitments.iter().any(|c| {
                    home.keystore()
                        .exists(&sign::nonce_name(&group, seat, &c.id))
                })
        })
    });
    match &st.commit {
        Some(ev) if still_open => {
            via.publish(ev)?;
        }
        _ => {
            // Recorded before delivered: a run killed in between re-sends the same one.
            let (_, r) = sign::make(home, opts.group, Some(&name), 1, LIFETIME)?;
            st.commit = Some(r.event);
            home.write_state(&rel, &st)?;
            via.publish(st.commit.as_ref().expect("just set"))?;
        }
    }
    let since = st
        .commit
        .as_ref()
        .map(|e| e.created_at.as_secs())
        .unwrap_or(0);
    let waited = until_complete(
        via,
        deadline,
        "a signing request",
        1,
        progress,
        |v| -> Result<_> {
            let inputs = Exchange::inputs(v, &group.roster)?;
            if let Some(done) = completed_without(home, &group, seat, since, &inputs) {
                return Ok(Waited::Without(done));
            }
            pending_request(home, &group, inputs)?
                .map(|r| Waited::Request(Box::new(r)))
                .ok_or_else(|| {
                    ceremony::Error::Incomplete {
                        what: "a signing request".into(),
                        missing: vec!["a coordinator's request".into()],
                    }
                    .into()
                })
        },
    )?;
    let request = match waited {
        Waited::Request(r) => *r,
        Waited::Without((id, signers)) => {
            // Not an error: the coordinator needed only t of the members. The unused
            // commitment stays for a later request (or expires).
            return Ok(RunReport {
                group: group.npub.clone(),
                role: "signer",
                via: via.endpoint().describe(),
                request: Some(id),
                signed_by_me: vec![],
                result: None,
                completed_without_me: Some(signers),
            });
        }
    };
    let signed_by_me = answer(home, &group, &request, Some(&name), consent, via)?;
    home.remove_state(&rel)?;
    Ok(RunReport {
        group: group.npub.clone(),
        role: "signer",
        via: via.endpoint().describe(),
        request: Some(request.event.id.to_hex()),
        signed_by_me,
        result: None,
        completed_without_me: None,
    })
}

enum Waited {
    Request(Box<Input>),
    /// A request made after this seat's commitment, without it, that has every share.
    Without((String, Vec<String>)),
}

/// A request of this group made at or after `since` that does not use `seat`, and for
/// which every signer it names has sent a share: the signature exists without this seat.
fn completed_without(
    home: &Home,
    group: &Group,
    seat: MemberId,
    since: u64,
    inputs: &[Input],
) -> Option<(String, Vec<String>)> {
    for input in inputs {
        if input.meta.round != Round::SignRequest
            || input.meta.binding.ceremony != group.roster.ceremony_id
            || input.event.created_at.as_secs() < since
        {
            continue;
        }
        let Ok(req) = sign::check_request(Some(home), None, input) else {
            continue;
        };
        if req.signers.contains(&seat) {
            continue;
        }
        let id = input.event.id.to_hex();
        let shared = |s: &MemberId| {
            inputs.iter().any(|i| {
                i.meta.round == Round::SignShare
                    && i.meta.member == Some(*s)
                    && i.meta.reference.as_deref() == Some(id.as_str())
            })
        };
        if req.signers.iter().all(shared) {
            let names = req.signers.iter().map(|s| group.roster.name(*s)).collect();
            return Some((id, names));
        }
    }
    None
}
