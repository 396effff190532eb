//! `passport sign commit|request|share|aggregate|event`: threshold signing over files.

use std::collections::BTreeMap;
use std::path::Path;

use nostr::{Event, JsonUtil, Timestamp};
use serde::{Deserialize, Serialize};

use super::{
    collect, delivered_lines, nonce, pick_seat, read_package, read_source, Exchange, Input, Report,
    Want,
};
use crate::ceremony::frost::round1::SigningCommitments;
use crate::ceremony::frost::round2::SignatureShare;
use crate::ceremony::frost::SigningPackage;
use crate::ceremony::{signing, MemberId, Roster};
use crate::envelope::{self, Binding, Draft, Round, Sender};
use crate::error::{Error, Result};
use crate::events::{self, Message};
use crate::group::Group;
use crate::home::Home;

#[derive(Serialize, Deserialize)]
pub struct CommitEntry {
    pub id: String,
    pub commitments: SigningCommitments,
}

/// Public payload of a commitment package: one or more preprocessed commitments.
#[derive(Serialize, Deserialize)]
pub struct CommitPayload {
    pub group: String,
    pub commitments: Vec<CommitEntry>,
    /// How long after the package's `created_at` its commitments may be used (seconds;
    /// absent in packages of older versions: [`nonce::DEFAULT_VALID_FOR`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_for: Option<u64>,
}

impl CommitPayload {
    /// When this package's commitments expire (see [`nonce::package_expires`]).
    pub fn expires_at(&self, ev: &Event) -> u64 {
        nonce::package_expires(ev.created_at.as_secs(), self.valid_for)
    }
}

/// Public payload of a signing request.
#[derive(Serialize, Deserialize)]
pub struct RequestPayload {
    pub group: String,
    pub message: Message,
    pub signing_package: SigningPackage,
    /// Which preprocessed commitment each signer must use, by seat.
    pub commitment_ids: BTreeMap<MemberId, String>,
}

/// Public payload of a signature share package.
#[derive(Serialize, Deserialize)]
pub struct SharePayload {
    pub request: String,
    pub share: SignatureShare,
}

/// What a member is asked to consent to before producing a signature share.
#[derive(Clone, Debug, Serialize)]
pub struct Summary {
    pub group: String,
    pub member: String,
    /// How the coordinator is named in messages (a roster name, or a short npub).
    pub coordinator: String,
    /// The key that signed the request (`None`: this home, signing alone).
    pub coordinator_npub: Option<String>,
    /// The roster seats that key holds, by name (empty: not a roster member).
    pub coordinator_seats: Vec<String>,
    pub signers: Vec<String>,
    /// `None` for a raw message.
    pub kind: Option<u16>,
    pub content: Option<String>,
    pub tags: Vec<Vec<String>>,
    pub created_at: Option<u64>,
    /// What FROST signs, hex: the event id (NIP-01) or the raw 32-byte message.
    pub message: String,
}

/// Asked before a share is produced; `false` refuses.
pub type Consent<'a> = &'a mut dyn FnMut(&Summary) -> bool;

pub fn nonce_name(group: &Group, seat: MemberId, id: &str) -> String {
    format!("nonces/{}.{seat}/{id}", group.id())
}

fn rejected(path: &str) -> impl Fn(envelope::Error) -> Error + '_ {
    move |e| Error::Rejected(format!("{path}: {e}"))
}

#[derive(Serialize)]
pub struct CommitReport {
    pub group: String,
    pub member: String,
    pub count: usize,
    /// Unix time after which the commitments are refused.
    pub expires_at: u64,
    pub package: String,
    #[serde(skip)]
    pub sent: bool,
    /// The commitment package itself (for `sign run`).
    #[serde(skip)]
    pub event: Event,
}

impl Report for CommitReport {
    fn human(&self) -> String {
        format!(
            "{} preprocessed {} commitment(s) for {}, usable until {}{}",
            self.member,
            self.count,
            self.group,
            crate::clock::date(self.expires_at),
            delivered_lines(self.sent, std::slice::from_ref(&self.package))
        )
    }
}

/// Round 1: preprocess `count` nonces, usable for the default lifetime.
pub fn commit(
    home: &Home,
    group: &str,
    member: Option<&str>,
    count: usize,
    ex: &mut dyn Exchange,
) -> Result<CommitReport> {
    commit_for(home, group, member, count, nonce::DEFAULT_VALID_FOR, ex)
}

/// Round 1: preprocess `count` nonces usable for `valid_for` seconds; nonces are sealed
/// in the keystore (each with its creation and expiry time, and on a token under its own
/// one-time object), commitments go into one package for the coordinator.
pub fn commit_for(
    home: &Home,
    group: &str,
    member: Option<&str>,
    count: usize,
    valid_for: u64,
    ex: &mut dyn Exchange,
) -> Result<CommitReport> {
    if count == 0 || count > 10_000 {
        return Err(Error::Invalid("--count must be between 1 and 10000".into()));
    }
    if !(nonce::MIN_VALID_FOR..=nonce::MAX_VALID_FOR).contains(&valid_for) {
        return Err(Error::Invalid(format!(
            "a commitment lifetime must be between {} and {}",
            crate::clock::span(nonce::MIN_VALID_FOR),
            crate::clock::span(nonce::MAX_VALID_FOR)
        )));
    }
    let group = home.find_group(group)?;
    let seat = pick_seat(
        &group.roster,
        &home.active_seats(&group)?,
        member,
        "with a share of this group",
    )?;
    let key = home.share(&group, seat)?;
    let keys = home.identity()?;
    let mut entries = vec![];
    let created_at = crate::clock::now();
    let expires_at = created_at.saturating_add(valid_for);
    for _ in 0..count {
        let (nonces, commitments) = signing::commit(&key, &mut rand::rngs::OsRng);
        let id = hex::encode(rand::random::<[u8; 16]>());
        let record = nonce::Record {
            created_at,
            expires_at,
            nonces,
        };
        home.keystore()
            .put_once(&nonce_name(&group, seat, &id), &record.encode()?)?;
        entries.push(CommitEntry { id, commitments });
    }
    let payload = CommitPayload {
        group: group.npub.clone(),
        commitments: entries,
        valid_for: Some(valid_for),
    };
    let ev = envelope::seal(
        keys,
        Draft {
            binding: &Binding::of(&group.roster),
            round: Round::SignCommit,
            from: Some(seat),
            to: None,
            reference: None,
            payload: &payload,
        },
    )?;
    let name = group.roster.name(seat);
    let package = ex.deliver(
        &format!("sign-commit-{name}-{}.json", &ev.id.to_hex()[..8]),
        &ev,
    )?;
    Ok(CommitReport {
        group: group.npub,
        member: name,
        count,
        expires_at,
        package,
        sent: ex.sent(),
        event: ev,
    })
}

/// What to sign.
#[derive(Clone)]
pub enum ToSign {
    /// An event template (JSON bytes).
    Template(Vec<u8>),
    /// A raw 32-byte message, hex.
    Raw(String),
}

pub(crate) fn build_message(group: &Group, what: ToSign) -> Result<Message> {
    match what {
        ToSign::Template(bytes) => {
            let event = events::from_template(&bytes, &group.public_key(), Timestamp::now())
                .map_err(|e| Error::Invalid(e.to_string()))?;
            Ok(Message::Event { event })
        }
        ToSign::Raw(hex) => events::raw_message(&hex).map_err(|e| Error::Invalid(e.to_string())),
    }
}

pub fn read_template(path: &Path) -> Result<ToSign> {
    Ok(ToSign::Template(read_source(path)?))
}

#[derive(Serialize)]
pub struct RequestReport {
    pub group: String,
    pub request: String,
    pub signers: Vec<String>,
    pub package: String,
    #[serde(skip)]
    pub sent: bool,
    #[serde(skip)]
    pub event: Event,
}

impl Report for RequestReport {
    fn human(&self) -> String {
        format!(
            "signing request {} for {} asks {}{}",
            &self.request[..12],
            self.group,
            self.signers.join(", "),
            delivered_lines(self.sent, std::slice::from_ref(&self.package))
        )
    }
}

/// Coordinator: picks t signers with unused commitments and writes a signing request.
pub fn request(
    home: &Home,
    group: &str,
    what: ToSign,
    signers: &[String],
    ex: &mut dyn Exchange,
) -> Result<RequestReport> {
    let group = home.find_group(group)?;
    let roster = &group.roster;
    let message = build_message(&group, what)?;
    let inputs = ex.inputs(roster)?;
    let legacy = nonce::legacy_used(home, &group)?;
    let now = crate::clock::now();
    // Every commitment package from every member: unused, unexpired entries only.
    let mut available: BTreeMap<MemberId, Vec<CommitEntry>> = BTreeMap::new();
    // Why entries were left out, per member: (already handed out, expired).
    let mut left_out: BTreeMap<MemberId, (usize, Option<u64>)> = BTreeMap::new();
    for input in &inputs {
        if input.meta.round != Round::SignCommit && !input.explicit {
            continue;
        }
        let c = envelope::check(
            roster,
            input.event.clone(),
            input.meta.clone(),
            Round::SignCommit,
            Sender::Member,
        )
        .map_err(rejected(&input.path))?;
        let p: CommitPayload = c.payload(None).map_err(rejected(&input.path))?;
        if p.group != group.npub {
            return Err(Error::Rejected(format!(
                "{}: commitments from {} are for another group",
                input.path, c.sender
            )));
        }
        let from = c.from.expect("member");
        // A member who left at a refresh still has its old share, and its commitments
        // bind the same roster: they are no use to a signature of the group as it is.
        if group.has_left(from) {
            if input.explicit {
                return Err(Error::Rejected(format!(
                    "{}: {} left the group at a refresh and holds no share of it any more",
                    input.path, c.sender
                )));
            }
            continue;
        }
        let expires = p.expires_at(&c.event);
        let list = available.entry(from).or_default();
        let why = left_out.entry(from).or_default();
        for e in p.commitments {
            if legacy.contains(&e.id) || nonce::is_claimed(home, &group, from, &e.id) {
                why.0 += 1;
            } else if now >= expires {
                why.1 = why.1.max(Some(expires));
            } else if !list.iter().any(|x| x.id == e.id) {
                list.push(e);
            }
        }
    }
    let chosen: Vec<MemberId> = if signers.is_empty() {
        roster
            .ids()
            .filter(|id| available.get(id).is_some_and(|l| !l.is_empty()))
            .take(roster.threshold as usize)
            .collect()
    } else {
        signers
            .iter()
            .map(|n| {
                let id = roster.id_by_name(n).ok_or_else(|| {
                    Error::Invalid(format!("{n:?} is not a member of this group"))
                })?;
                if group.has_left(id) {
                    return Err(Error::Invalid(format!(
                        "{n} left the group at a refresh and can no longer sign for it"
                    )));
                }
                Ok(id)
            })
            .collect::<Result<_>>()?
    };
    let lacking: Vec<String> = chosen
        .iter()
        .filter(|id| available.get(id).is_none_or(|l| l.is_empty()))
        .map(|&id| roster.name(id))
        .collect();
    if !lacking.is_empty() || chosen.len() < roster.threshold as usize {
        // Say why a member's commitments were not usable: handed out before, or expired.
        let mut reasons = vec![];
        for (&id, &(used, expired)) in &left_out {
            if available.get(&id).is_some_and(|l| !l.is_empty()) {
                continue;
            }
            let name = roster.name(id);
            if used > 0 {
                reasons.push(format!(
                    "{name}'s {used} commitment(s) given were already handed out by this coordinator in an earlier request (a commitment is never used twice)"
                ));
            }
            if let Some(at) = expired {
                reasons.push(format!(
                    "{name}'s commitments expired at {} (commitments are refused after their lifetime)",
                    crate::clock::date(at)
                ));
            }
        }
        let mut missing = lacking;
        if missing.is_empty() {
            missing.push(format!(
                "{} more member(s)",
                roster.threshold as usize - chosen.len()
            ));
        }
        if !reasons.is_empty() && !ex.sent() {
            // Files named by the operator: waiting will not help, the answer is no.
            return Err(Error::Refused(format!(
                "no usable commitments from {}: {}; ask for fresh ones (`passport sign commit`)",
                missing.join(", "),
                reasons.join("; ")
            )));
        }
        return Err(crate::ceremony::Error::Incomplete {
            what: if reasons.is_empty() {
                "unused signing commitments".into()
            } else {
                format!("unused signing commitments ({})", reasons.join("; "))
            },
            missing,
        }
        .into());
    }
    if chosen.len() != roster.threshold as usize {
        return Err(Error::Invalid(format!(
            "choose exactly {} signers",
            roster.threshold
        )));
    }
    let mut commitments = BTreeMap::new();
    let mut ids = BTreeMap::new();
    for id in &chosen {
        // The newest commitment: the one a waiting signer has just published.
        let e = available[id].last().expect("checked non-empty above");
        commitments.insert(*id, e.commitments);
        ids.insert(*id, e.id.clone());
    }
    let package = signing::signing_package(roster, &commitments, &message.bytes())?;
    let keys = home.identity()?;
    let my_seat = roster.ids_of(&keys.public_key()).first().copied();
    let payload = RequestPayload {
        group: group.npub.clone(),
        message,
        signing_package: package,
        commitment_ids: ids.clone(),
    };
    let ev = envelope::seal(
        keys,
        Draft {
            binding: &Binding::of(roster),
            round: Round::SignRequest,
            from: my_seat,
            to: None,
            reference: None,
            payload: &payload,
        },
    )?;
    // Recorded durably before the request leaves, so no restart hands these out again.
    for (seat, id) in &ids {
        nonce::claim(home, &group, *seat, id, &ev.id.to_hex())?;
    }
    let path = ex.deliver(&format!("sign-request-{}.json", &ev.id.to_hex()[..8]), &ev)?;
    Ok(RequestReport {
        group: group.npub,
        request: ev.id.to_hex(),
        signers: chosen.iter().map(|&i| roster.name(i)).collect(),
        package: path,
        sent: ex.sent(),
        event: ev,
    })
}

/// A checked signing request.
pub struct Request {
    pub group: Group,
    pub event: Event,
    pub payload: RequestPayload,
    pub coordinator: String,
    pub signers: Vec<MemberId>,
}

/// Reads and checks a signing request against the group known to this home (or the
/// given group file): signature, binding, that the message really is what the package
/// signs, and that the signers are members.
pub fn load_request(
    home: Option<&Home>,
    group_file: Option<&Path>,
    path: &Path,
) -> Result<Request> {
    check_request(home, group_file, &read_package(path, None)?)
}

/// Checks a signing request already read (from a file or a transport).
pub fn check_request(
    home: Option<&Home>,
    group_file: Option<&Path>,
    input: &Input,
) -> Result<Request> {
    let r = rejected(&input.path);
    // The group is named inside the (public) payload; look it up, then check everything.
    let peek: RequestPayload = serde_json::from_str(&input.event.content)
        .map_err(|e| Error::Rejected(format!("{}: not a signing request: {e}", input.path)))?;
    let group = match (group_file, home) {
        (Some(f), _) => crate::home::read_group_file(f)?,
        (None, Some(h)) => h.find_group(&peek.group)?,
        (None, None) => {
            return Err(Error::Invalid(
                "give --group-file or a home that knows the group".into(),
            ))
        }
    };
    if group.npub != peek.group {
        return Err(Error::Rejected(format!(
            "{}: the request is for {}, not {}",
            input.path, peek.group, group.npub
        )));
    }
    let c = envelope::check(
        &group.roster,
        input.event.clone(),
        input.meta.clone(),
        Round::SignRequest,
        Sender::Anyone,
    )
    .map_err(&r)?;
    let payload: RequestPayload = c.payload(None).map_err(&r)?;
    if let Message::Event { event } = &payload.message {
        if event.pubkey != group.public_key() {
            return Err(Error::Rejected(format!(
                "{}: the event to sign is not authored by the group key",
                input.path
            )));
        }
    }
    if payload.signing_package.message().as_slice() != payload.message.bytes().as_slice() {
        return Err(Error::Rejected(format!(
            "{}: the signing package signs something other than the event shown; refusing (coordinator {})",
            input.path, c.sender
        )));
    }
    let mut signers = vec![];
    for ident in payload.signing_package.signing_commitments().keys() {
        let id = group.roster.id_of_identifier(ident).ok_or_else(|| {
            Error::Rejected(format!(
                "{}: the request names a signer outside the roster",
                input.path
            ))
        })?;
        if !payload.commitment_ids.contains_key(&id) {
            return Err(Error::Rejected(format!(
                "{}: no commitment id for {}",
                input.path,
                group.roster.name(id)
            )));
        }
        if group.has_left(id) {
            return Err(Error::Rejected(format!(
                "{}: the request names {} as a signer, who left the group at a refresh",
                input.path,
                group.roster.name(id)
            )));
        }
        signers.push(id);
    }
    if signers.len() != group.roster.threshold as usize {
        return Err(Error::Rejected(format!(
            "{}: a request needs exactly {} signers",
            input.path, group.roster.threshold
        )));
    }
    Ok(Request {
        group,
        event: c.event,
        payload,
        coordinator: c.sender,
        signers,
    })
}

fn summary(req: &Request, seat: MemberId) -> Summary {
    summary_of(
        &req.group,
        &req.payload.message,
        (&req.coordinator, Some(&req.event.pubkey)),
        &req.signers,
        seat,
    )
}

fn summary_of(
    group: &Group,
    message: &Message,
    (coordinator, key): (&str, Option<&nostr::PublicKey>),
    signers: &[MemberId],
    seat: MemberId,
) -> Summary {
    let roster = &group.roster;
    let coordinator_seats = key
        .map(|k| {
            roster
                .ids_of(k)
                .into_iter()
                .map(|i| roster.name(i))
                .collect()
        })
        .unwrap_or_default();
    let (kind, content, tags, created_at) = match message {
        Message::Event { event } => (
            Some(event.kind.as_u16()),
            Some(event.content.clone()),
            event.tags.iter().map(|t| t.as_slice().to_vec()).collect(),
            Some(event.created_at.as_secs()),
        ),
        Message::Raw { .. } => (None, None, vec![], None),
    };
    Summary {
        group: group.npub.clone(),
        member: roster.name(seat),
        coordinator: coordinator.to_owned(),
        coordinator_npub: key.map(|k| nostr::ToBech32::to_bech32(k).expect("bech32")),
        coordinator_seats,
        signers: signers.iter().map(|&i| roster.name(i)).collect(),
        kind,
        content,
        tags,
        created_at,
        message: hex::encode(message.bytes()),
    }
}

#[derive(Serialize)]
pub struct ShareReport {
    pub group: String,
    pub member: String,
    pub request: String,
    pub package: String,
    #[serde(skip)]
    pub sent: bool,
}

impl Report for ShareReport {
    fn human(&self) -> String {
        format!(
            "{} signed request {}{}",
            self.member,
            &self.request[..12],
            delivered_lines(self.sent, std::slice::from_ref(&self.package))
        )
    }
}

/// Round 2 for one seat: check the request, ask consent, consume the nonce durably,
/// then write the signature share.
pub fn share(
    home: &Home,
    request: &Input,
    member: Option<&str>,
    consent: Consent<'_>,
    ex: &mut dyn Exchange,
) -> Result<ShareReport> {
    let req = check_request(Some(home), None, request)?;
    let group = &req.group;
    let mine: Vec<MemberId> = home
        .active_seats(group)?
        .into_iter()
        .filter(|s| req.signers.contains(s))
        .collect();
    let seat = pick_seat(&group.roster, &mine, member, "among this request's signers")?;
    let share = make_share(home, &req, seat, consent)?;
    let keys = home.identity()?;
    let payload = SharePayload {
        request: req.event.id.to_hex(),
        share,
    };
    let ev = envelope::seal(
        keys,
        Draft {
            binding: &Binding::of(&group.roster),
            round: Round::SignShare,
            from: Some(seat),
            to: None,
            reference: Some(req.event.id.to_hex()),
            payload: &payload,
        },
    )?;
    let mname = group.roster.name(seat);
    let path = ex.deliver(
        &format!("sign-share-{mname}-{}.json", &req.event.id.to_hex()[..8]),
        &ev,
    )?;
    Ok(ShareReport {
        group: group.npub.clone(),
        member: mname,
        request: req.event.id.to_hex(),
        package: path,
        sent: ex.sent(),
    })
}

/// Round 2 for `seat` of a checked request: checks that the commitment is this home's,
/// asks consent, burns the nonce durably, then computes the signature share. Nothing is
/// sent; the caller seals and delivers it.
pub fn make_share(
    home: &Home,
    req: &Request,
    seat: MemberId,
    consent: Consent<'_>,
) -> Result<SignatureShare> {
    let group = &req.group;
    let commit_id = req.payload.commitment_ids.get(&seat).ok_or_else(|| {
        Error::Rejected(format!(
            "the request names no commitment for {}",
            group.roster.name(seat)
        ))
    })?;
    let name = nonce_name(group, seat, commit_id);
    let mname = group.roster.name(seat);
    // Keystore errors name internal paths (nonces/<group>.<seat>/<id>); say what the
    // operator knows instead: whose commitment, which id, which group.
    let what = || format!("{mname}'s commitment {commit_id} for {}", group.npub);
    let once = home.keystore().get_once(&name).map_err(|e| match e {
        crate::keystore::Error::NonceConsumed(_) => Error::Refused(format!(
            "{} was already used; a commitment is never used twice. Ask for fresh commitments (`passport sign commit`)",
            what()
        )),
        crate::keystore::Error::Missing(_) => Error::NotFound(format!(
            "this home holds no {}: it was made by another home, or discarded (`sign commit --discard-all`)",
            what()
        )),
        crate::keystore::Error::OnceGone(_) => Error::Refused(format!(
            "{} was already used or discarded by another copy of this home (a restored snapshot or a copied directory): its one-time object on the token is gone. Nothing was signed; ask for fresh commitments (`passport sign commit`)",
            what()
        )),
        other => other.into(),
    })?;
    let record = nonce::Record::decode(&name, &once)?;
    let expected = req
        .payload
        .signing_package
        .signing_commitments()
        .get(&Roster::identifier(seat));
    if expected != Some(record.nonces.commitments()) {
        return Err(Error::Rejected(format!(
            "the request's commitment for {mname} is not the one this home made under id {commit_id}; refusing"
        )));
    }
    if let Err(e) = record.check_fresh(commit_id, &mname, crate::clock::now()) {
        // Expired for good: burn it so it is not kept around.
        let _ = home.keystore().consume(&name);
        return Err(e);
    }
    let key = home.share(group, seat)?;
    if !consent(&summary(req, seat)) {
        return Err(Error::Refused("signing declined; no nonce was used".into()));
    }
    // Durably burn the nonce (and, on a token, destroy its one-time object) before any
    // share exists.
    home.keystore().consume(&name)?;
    let share = signing::sign(&req.payload.signing_package, &record.nonces, &key)?;
    drop(record);
    Ok(share)
}

/// The result of a signing: a signed event, or a raw signature.
#[derive(Serialize)]
pub struct Signed {
    pub group: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event: Option<Event>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub raw: Option<RawSignature>,
    pub signers: Vec<String>,
}

#[derive(Clone, Serialize, Deserialize)]
pub struct RawSignature {
    pub pubkey: String,
    pub message: String,
    pub signature: String,
}

impl Report for Signed {
    fn human(&self) -> String {
        format!(
            "signed by {} for {}; signature verified (libsecp256k1)",
            self.signers.join(", "),
            self.group
        )
    }
    fn stdout(&self) -> Option<String> {
        match (&self.event, &self.raw) {
            (Some(e), _) => Some(e.as_json()),
            (_, Some(r)) => Some(serde_json::to_string(r).expect("raw")),
            _ => None,
        }
    }
}

pub(crate) fn finalize(
    group: &Group,
    message: &Message,
    sig: &[u8; 64],
    signers: Vec<String>,
) -> Result<Signed> {
    match message {
        Message::Event { event } => {
            let event = events::finish(event.clone(), sig).map_err(|e| {
                Error::Rejected(format!(
                    "aggregate signature failed libsecp256k1 verification: {e}"
                ))
            })?;
            Ok(Signed {
                group: group.npub.clone(),
                event: Some(event),
                raw: None,
                signers,
            })
        }
        Message::Raw { hex: m } => {
            events::verify_raw(
                &group.public_key(),
                &hex::decode(m).unwrap_or_default(),
                sig,
            )
            .map_err(|e| {
                Error::Rejected(format!(
                    "aggregate signature failed libsecp256k1 verification: {e}"
                ))
            })?;
            let raw = RawSignature {
                pubkey: group.public_key().to_hex(),
                message: m.clone(),
                signature: hex::encode(sig),
            };
            Ok(Signed {
                group: group.npub.clone(),
                event: None,
                raw: Some(raw),
                signers,
            })
        }
    }
}

/// Coordinator: verify every share, aggregate, verify the result with libsecp256k1.
pub fn aggregate(
    home: Option<&Home>,
    group_file: Option<&Path>,
    request: &Input,
    ex: &mut dyn Exchange,
) -> Result<Signed> {
    let req = check_request(home, group_file, request)?;
    let roster = &req.group.roster;
    let inputs = ex.inputs(roster)?;
    let rid = req.event.id.to_hex();
    let got = collect(
        roster,
        &inputs,
        Want {
            round: Round::SignShare,
            for_me: None,
            reference: Some(&rid),
            also: &[Round::SignRequest, Round::SignCommit],
        },
    )?;
    let mut shares = BTreeMap::new();
    for (&from, c) in &got {
        if !req.signers.contains(&from) {
            return Err(Error::Rejected(format!(
                "{} sent a share but was not asked to sign this request",
                c.sender
            )));
        }
        let p: SharePayload = c
            .payload(None)
            .map_err(|e| Error::Rejected(e.to_string()))?;
        if p.request != rid {
            return Err(Error::Rejected(format!(
                "{}'s share names another request",
                c.sender
            )));
        }
        shares.insert(from, p.share);
    }
    let sig = signing::aggregate(
        roster,
        &req.payload.signing_package,
        &shares,
        &req.group.public_key_package,
    )?;
    finalize(
        &req.group,
        &req.payload.message,
        &sig,
        req.signers.iter().map(|&i| roster.name(i)).collect(),
    )
}

/// One-shot signing when this home holds at least t active shares (the CI case). Nonces
/// live only in memory for this call.
pub fn sign_local(home: &Home, group: &str, what: ToSign, consent: Consent<'_>) -> Result<Signed> {
    let group = home.find_group(group)?;
    let roster = &group.roster;
    let seats = home.active_seats(&group)?;
    if seats.len() < roster.threshold as usize {
        return Err(Error::Invalid(format!(
            "this home holds {} share(s) of {}; signing alone needs {} (use the sign commit/request/share/aggregate rounds)",
            seats.len(),
            group.npub,
            roster.threshold
        )));
    }
    let message = build_message(&group, what)?;
    let chosen: Vec<MemberId> = seats.into_iter().take(roster.threshold as usize).collect();
    let mut keys = BTreeMap::new();
    let mut nonces = BTreeMap::new();
    let mut commitments = BTreeMap::new();
    for &s in &chosen {
        let key = home.share(&group, s)?;
        let (n, c) = signing::commit(&key, &mut rand::rngs::OsRng);
        keys.insert(s, key);
        nonces.insert(s, n);
        commitments.insert(s, c);
    }
    let package = signing::signing_package(roster, &commitments, &message.bytes())?;
    if !consent(&summary_of(
        &group,
        &message,
        ("this home", None),
        &chosen,
        chosen[0],
    )) {
        return Err(Error::Refused("signing declined".into()));
    }
    let mut shares = BTreeMap::new();
    for s in &chosen {
        shares.insert(*s, signing::sign(&package, &nonces[s], &keys[s])?);
    }
    let sig = signing::aggregate(roster, &package, &shares, &group.public_key_package)?;
    finalize(
        &group,
        &message,
        &sig,
        chosen.iter().map(|&i| roster.name(i)).collect(),
    )
}
