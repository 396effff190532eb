//! `sign share`: a member checks a request, asks, and answers with its signature share.

use super::*;

/// A checked signing request.
pub struct Request {
    pub group: Group,
    pub event: Event,
    pub payload: RequestPayload,
    pub coordinator: String,
    pub signers: Vec<MemberId>,
}

/// Checks a signing request already read (from a file or a transport) against the
/// group known to this home (or the given group, from a group file): signature, binding,
/// that the message really is what the package signs, and that the signers are members.
pub fn check_request(home: Option<&Home>, group: Option<&Group>, input: &Input) -> Result<Request> {
    let r = rejected(&input.path);
    // Another round's package (a commitment or a share where the request belongs).
    if input.meta.round != Round::SignRequest {
        return Err(SignError::NotARequestRound {
            path: input.path.clone(),
            got: input.meta.round.describe(),
        }
        .into());
    }
    // The group is named inside the (public) payload; look it up, then check everything.
    let peek: RequestPayload =
        serde_json::from_str(&input.event.content).map_err(|source| SignError::NotARequest {
            path: input.path.clone(),
            source,
        })?;
    let group = match (group, home) {
        (Some(g), _) => g.clone(),
        (None, Some(h)) => h.find_group(&peek.group)?,
        (None, None) => return Err(SignError::NoGroupSource.into()),
    };
    if group.npub != peek.group {
        return Err(SignError::RequestForOtherGroup {
            path: input.path.clone(),
            requested: peek.group,
            npub: group.npub,
        }
        .into());
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
            return Err(SignError::EventNotByGroup {
                path: input.path.clone(),
            }
            .into());
        }
    }
    if payload.signing_package.message().as_slice() != payload.message.bytes().as_slice() {
        return Err(SignError::PackageMismatch {
            path: input.path.clone(),
            coordinator: c.sender,
        }
        .into());
    }
    let mut signers = vec![];
    for ident in payload.signing_package.signing_commitments().keys() {
        let id =
            group
                .roster
                .id_of_identifier(ident)
                .ok_or_else(|| SignError::SignerOutsideRoster {
                    path: input.path.clone(),
                })?;
        if !payload.commitment_ids.contains_key(&id) {
            return Err(SignError::NoCommitmentId {
                path: input.path.clone(),
                member: group.roster.name(id),
            }
            .into());
        }
        if group.has_left(id) {
            return Err(SignError::RequestNamesLeaver {
                path: input.path.clone(),
                member: group.roster.name(id),
            }
            .into());
        }
        signers.push(id);
    }
    if signers.len() != group.roster.threshold as usize {
        return Err(SignError::RequestSignerCount {
            path: input.path.clone(),
            threshold: group.roster.threshold,
        }
        .into());
    }
    Ok(Request {
        group,
        event: c.event,
        payload,
        coordinator: c.sender,
        signers,
    })
}

pub(super) fn summary(req: &Request, seat: MemberId) -> Summary {
    summary_of(
        &req.group,
        &req.payload.message,
        (&req.coordinator, Some(&req.event.pubkey)),
        &req.signers,
        seat,
    )
}

pub(super) fn summary_of(
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
    let commit_id =
        req.payload
            .commitment_ids
            .get(&seat)
            .ok_or_else(|| SignError::NoCommitmentFor {
                member: group.roster.name(seat),
            })?;
    let name = nonce_name(group, seat, commit_id);
    let mname = group.roster.name(seat);
    // Keystore errors name internal paths (nonces/<group>.<seat>/<id>); say what the
    // operator knows instead: whose commitment, which id, which group.
    let (member, id, npub) = (mname.clone(), commit_id.clone(), group.npub.clone());
    let once = home.keystore().get_once(&name).map_err(|e| match e {
        crate::keystore::Error::NonceConsumed(_) => {
            SignError::CommitmentUsed { member, id, npub }.into()
        }
        crate::keystore::Error::Missing(_) => {
            SignError::CommitmentUnknown { member, id, npub }.into()
        }
        crate::keystore::Error::OnceGone(_) => {
            SignError::CommitmentGone { member, id, npub }.into()
        }
        other => Error::from(other),
    })?;
    let record = nonce::Record::decode(&name, &once)?;
    let expected = req
        .payload
        .signing_package
        .signing_commitments()
        .get(&Roster::identifier(seat));
    if expected != Some(record.nonces.commitments()) {
        return Err(SignError::CommitmentMismatch {
            member: mname,
            id: commit_id.clone(),
        }
        .into());
    }
    if let Err(e) = record.check_fresh(commit_id, &mname, crate::clock::now()) {
        // Expired for good: burn it so it is not kept around.
        let _ = home.keystore().consume(&name);
        return Err(e);
    }
    let key = home.share(group, seat)?;
    if !consent(&summary(req, seat)) {
        return Err(SignError::Declined.into());
    }
    // Durably burn the nonce (and, on a token, destroy its one-time object) before any
    // share exists.
    home.keystore().consume(&name)?;
    let share = signing::sign(&req.payload.signing_package, &record.nonces, &key)?;
    drop(record);
    Ok(share)
}
