//! `sign commit`: preprocess nonces, publish their commitments.

use super::*;

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
    let (file, mut report) = make(home, group, member, count, valid_for)?;
    report.package = ex.deliver(&file, &report.event)?;
    report.sent = ex.sent();
    Ok(report)
}

/// [`commit_for`] without delivering: the package and the file name it goes by. A caller
/// that records the package first (`sign run`) delivers it only once that record is
/// saved, so a crash in between cannot leave a delivered commitment it does not know.
pub fn make(
    home: &Home,
    group: &str,
    member: Option<&str>,
    count: usize,
    valid_for: u64,
) -> Result<(String, CommitReport)> {
    if count == 0 || count > 10_000 {
        return Err(SignError::CountRange.into());
    }
    if !(nonce::MIN_VALID_FOR..=nonce::MAX_VALID_FOR).contains(&valid_for) {
        return Err(SignError::LifetimeRange {
            min: nonce::MIN_VALID_FOR,
            max: nonce::MAX_VALID_FOR,
        }
        .into());
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
    let file = format!("sign-commit-{name}-{}.json", &ev.id.to_hex()[..8]);
    Ok((
        file,
        CommitReport {
            group: group.npub,
            member: name,
            count,
            expires_at,
            package: String::new(),
            sent: false,
            event: ev,
        },
    ))
}
