//! `sign request`: a coordinator picks t signers with unused commitments.

use super::*;

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
                .map_err(SignError::Message)?;
            Ok(Message::Event { event })
        }
        ToSign::Raw(hex) => Ok(events::raw_message(&hex).map_err(SignError::Message)?),
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
    let bound = envelope::Bound::new(roster);
    for input in &inputs {
        if input.meta.round != Round::SignCommit && !input.explicit {
            continue;
        }
        let c = bound
            .check(
                input.event.clone(),
                input.meta.clone(),
                Round::SignCommit,
                Sender::Member,
            )
            .map_err(rejected(&input.path))?;
        let p: CommitPayload = c.payload(None).map_err(rejected(&input.path))?;
        if p.group != group.npub {
            return Err(SignError::CommitsForOtherGroup {
                path: input.path.clone(),
                sender: c.sender,
            }
            .into());
        }
        let from = c.from.expect("member");
        // A member who left at a refresh still has its old share, and its commitments
        // bind the same roster: they are no use to a signature of the group as it is.
        if group.has_left(from) {
            if input.explicit {
                return Err(SignError::CommitsFromLeaver {
                    path: input.path.clone(),
                    sender: c.sender,
                }
                .into());
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
                let id = roster
                    .id_by_name(n)
                    .ok_or_else(|| SignError::NotMember { name: n.clone() })?;
                if group.has_left(id) {
                    return Err(SignError::SignerLeft { name: n.clone() }.into());
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
            return Err(SignError::NoUsableCommitments { missing, reasons }.into());
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
        return Err(SignError::SignerCount {
            threshold: roster.threshold,
        }
        .into());
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
