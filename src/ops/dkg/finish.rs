//! `dkg finish` (derive the share and group key, sign the agreement) and `dkg confirm`
//! (every member agreed on the same key: the group becomes active).

use super::*;
use crate::envelope::payload::frost_wire::Round1;

/// Finish: derive this seat's share and the group key, then sign the agreement package.
pub fn finish(
    home: &Home,
    roster: &Roster,
    member: Option<&str>,
    ex: &mut dyn Exchange,
) -> Result<StepReport> {
    let (place, mut st) = load_state(home, roster, member)?;
    let file = format!(
        "dkg-agree-{}-{}.json",
        roster.name(st.seat),
        crate::ops::short_id(&roster.ceremony_id)
    );
    if st.stage >= Stage::Finished {
        let agreement = st.agreement.as_ref().expect("finished has agreement");
        let d = rounds::deliver_one(ex, (&file, agreement), true)?;
        // The group's status now (a confirmed or refreshed group is not "pending").
        let status = match st.group.as_deref().map(|g| home.find_group(g)) {
            Some(Ok(g)) => home.group_state(&g)?.map(|s| s.status),
            _ => None,
        };
        return Ok(report(
            "finish",
            &st,
            d,
            Some(status.unwrap_or(Status::Pending)),
        ));
    }
    if st.stage < Stage::Round2 {
        return Err(DkgError::OutOfOrder {
            before: "round2",
            step: "finish",
        }
        .into());
    }
    let inputs = ex.inputs(roster)?;
    received_round1(&st, &inputs)?; // equivocation check on anything present
    let keys = home.identity()?;
    let got2 = collect(
        roster,
        &inputs,
        Want {
            round: Round::Dkg2,
            for_me: Some((keys, st.seat)),
            reference: None,
            also: &[Round::Dkg1],
        },
    )?;
    let mut r2 = BTreeMap::new();
    for (&from, c) in &got2 {
        let p: round2::Package = c.payload(Some(keys))?;
        r2.insert(from, p);
    }
    let r1: BTreeMap<MemberId, round1::Package> =
        rounds::saved_payloads::<Round1>(roster, &st.sent.round1_received)?
            .into_iter()
            .map(|(k, p)| (k, p.0))
            .collect();
    let secret: round2::SecretPackage = place.secret(2)?;
    let (key, public) = dkg::part3(roster, st.seat, &secret, &r1, &r2)?;
    let group = Group::new(roster.clone(), public, Origin::Dkg);
    let hash = ceremony::public_package_hash(&group.public_key_package)?;
    let agreement = Agreement {
        group: group.npub.clone(),
        public_key_package_hash: hex::encode(hash),
    };
    let ev = envelope::seal(
        keys,
        Draft {
            binding: &Binding::of(roster),
            round: Round::DkgAgree,
            from: Some(st.seat),
            to: None,
            reference: None,
            payload: &agreement,
        },
    )?;
    home.save_group(&group)?;
    let mut gs = home.group_state(&group)?.unwrap_or(GroupState {
        status: Status::Pending,
        seats: Default::default(),
    });
    // Overwrite: a crash after this point and a re-run must be able to finish.
    home.store_share(&group, st.seat, &key, true)?;
    gs.seats.insert(st.seat);
    home.save_group_state(&group, &gs)?;
    st.stage = Stage::Finished;
    st.agreement = Some(ev);
    st.group = Some(group.npub.clone());
    place.save(&st)?;
    place.forget(2)?;
    let d = rounds::deliver_one(ex, (&file, st.agreement.as_ref().expect("set")), false)?;
    Ok(report("finish", &st, d, Some(gs.status)))
}

/// Confirm: all n agreement packages present and equal → the group becomes active.
pub fn confirm(
    home: &Home,
    roster: &Roster,
    member: Option<&str>,
    ex: &mut dyn Exchange,
) -> Result<StepReport> {
    let (place, mut st) = load_state(home, roster, member)?;
    if st.stage < Stage::Finished {
        return Err(DkgError::OutOfOrder {
            before: "finish",
            step: "confirm",
        }
        .into());
    }
    let group = home.find_group(st.group.as_deref().expect("finished has group"))?;
    if st.stage == Stage::Confirmed {
        let d = rounds::deliver(ex, &[], true)?;
        return Ok(report("confirm", &st, d, Some(Status::Active)));
    }
    let inputs = ex.inputs(roster)?;
    let got = collect(
        roster,
        &inputs,
        Want {
            round: Round::DkgAgree,
            for_me: None,
            reference: None,
            also: &[Round::Dkg1, Round::Dkg2],
        },
    )?;
    let mine = ceremony::public_package_hash(&group.public_key_package)?;
    let mut reported = BTreeMap::new();
    reported.insert(st.seat, mine);
    for (&from, c) in &got {
        let a: Agreement = c.payload(None)?;
        let mut h = [0u8; 32];
        match hex::decode(&a.public_key_package_hash) {
            Ok(b) if b.len() == 32 => h.copy_from_slice(&b),
            _ => {
                return Err(DkgError::NoAgreementHash {
                    sender: c.sender.clone(),
                }
                .into())
            }
        }
        reported.insert(from, h);
    }
    dkg::check_agreement(roster, &mine, &reported)?;
    let mut gs = home.group_state(&group)?.expect("finish wrote state");
    gs.status = Status::Active;
    home.save_group_state(&group, &gs)?;
    st.stage = Stage::Confirmed;
    place.save(&st)?;
    let d = rounds::deliver(ex, &[], false)?;
    Ok(report("confirm", &st, d, Some(Status::Active)))
}
