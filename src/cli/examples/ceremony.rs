//! Creating and maintaining a group's key: roster, dealer, DKG, refresh, repair.

use super::Example;

pub(super) fn examples(path: &str) -> &'static [Example] {
    match path {
        "roster new" => &[
            (
                "passport roster new -t 2 -m alice=npub1… -m bob=npub1… -m carol=npub1… --purpose 'relay ops' -o roster.json",
                "A 2-of-3 roster for a distributed key generation (dkg).",
            ),
            (
                "passport roster new -t 2 -m alice=npub1… -m bob=npub1… -m carol=npub1… --dealer self -o roster.json",
                "A trusted-dealer roster naming this home as the dealer (keygen deal).",
            ),
            (
                "passport roster new -t 2 -m ci=npub1… -m ci-b=npub1… -m offsite=npub1… --dealer self --allow-shared-seats -o roster.json",
                "The CI layout: one npub on two seats, so the CI home signs alone.",
            ),
        ],
        "roster show" => &[(
            "passport roster show roster.json",
            "Every seat, its npub and the fingerprint to compare out of band.",
        )],
        "keygen deal" => &[
            (
                "passport keygen deal --roster roster.json --out dealt/",
                "Deal a new key: one encrypted share package per member, and the group file.",
            ),
            (
                "passport keygen deal --roster roster.json --split nsec.txt --out dealt/",
                "Split an existing nsec (read from a file, never argv); the npub stays the same.",
            ),
        ],
        "keygen import" => &[(
            "passport keygen import --roster roster.json dealt/dealer-share-alice-1f2e3d4c.json",
            "Check the share package addressed to this home and store the share.",
        )],
        "dkg round1" => &[(
            "passport dkg round1 --roster roster.json --out x/",
            "Commit and write this member's broadcast package into x/.",
        )],
        "dkg round2" => &[(
            "passport dkg round2 --roster roster.json --in x/ --out x/",
            "Check everyone's round-1 packages; write one encrypted package per member.",
        )],
        "dkg finish" => &[(
            "passport dkg finish --roster roster.json --in x/ --out x/",
            "Derive this member's share and the group key; write the agreement package.",
        )],
        "dkg confirm" => &[(
            "passport dkg confirm --roster roster.json --in x/",
            "Check all n agreement packages; the group becomes active when they agree.",
        )],
        "dkg run" => &[
            (
                "passport dkg run --roster roster.json --via http://coordinator:7707",
                "Every round through a passport serve, waiting for the others; prints the group npub.",
            ),
            (
                "passport dkg run --roster roster.json --via wss://relay.example --timeout 3600",
                "The same over a Nostr relay, waiting up to an hour; run it again to resume.",
            ),
        ],
        "refresh round1" => &[
            (
                "passport refresh round1 --group npub1… --refresh-id 0123456789abcdef0123456789abcdef --out r/",
                "Start a refresh under an id all members agreed on (openssl rand -hex 16).",
            ),
            (
                "passport refresh round1 --group npub1… --refresh-id 0123456789abcdef0123456789abcdef --without carol --out r/",
                "Start a refresh in which carol leaves the group: she gets no new share.",
            ),
        ],
        "refresh round2" => &[(
            "passport refresh round2 --group npub1… --refresh-id 0123456789abcdef0123456789abcdef --in r/ --out r/",
            "Check the round-1 packages; write one encrypted package per member.",
        )],
        "refresh finish" => &[(
            "passport refresh finish --group npub1… --refresh-id 0123456789abcdef0123456789abcdef --in r/",
            "Replace this seat's share and group file; earlier backups of the share are stale.",
        )],
        "refresh run" => &[
            (
                "passport refresh run --group npub1… --refresh-id 0123456789abcdef0123456789abcdef --via http://coordinator:7707",
                "Every refresh step through a passport serve, waiting for the other members.",
            ),
            (
                "passport refresh run --group npub1… --refresh-id 0123456789abcdef0123456789abcdef --via wss://relay.example --timeout 3600",
                "The same over a Nostr relay, waiting up to an hour; run it again to resume.",
            ),
        ],
        "repair step1" => &[(
            "passport repair step1 --group npub1… --lost carol --helpers alice,bob --out p/",
            "A helper writes one encrypted delta per helper for carol's lost share.",
        )],
        "repair step2" => &[(
            "passport repair step2 --group npub1… --lost carol --helpers alice,bob --in p/ --out p/",
            "A helper sums the deltas it received into a sigma encrypted to carol.",
        )],
        "repair finish" => &[
            (
                "passport repair finish --group-file group.json --helpers alice,bob --in p/",
                "carol combines the sigmas, checks the share against the group, stores it.",
            ),
            (
                "passport repair finish --group npub1… --helpers alice,bob --in p/",
                "The same when carol's home still has the group file.",
            ),
        ],
        "repair run" => &[
            (
                "passport repair run --group npub1… --lost carol --helpers alice,bob --via http://coordinator:7707",
                "A helper's part (step1, wait for the deltas, step2), or carol's if this is her home.",
            ),
            (
                "passport repair run --group-file group.json --lost carol --helpers alice,bob --via wss://relay.example",
                "carol, whose home lost the group file too, waits for the sigmas and finishes.",
            ),
        ],
        _ => &[],
    }
}
