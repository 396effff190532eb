//! Signing and reading what was signed: sign, groups, verify, inspect.

use super::Example;

pub(super) fn examples(path: &str) -> &'static [Example] {
    match path {
        "sign commit" => &[
            (
                "passport sign commit --group npub1… --count 10 --out s/",
                "Preprocess ten nonces and write the commitment package for the coordinator.",
            ),
            (
                "passport sign commit --discard-all",
                "Burn every outstanding nonce, e.g. after restoring this home from a copy.",
            ),
        ],
        "sign request" => &[
            (
                "passport sign request --group npub1… --event note.json --in s/ --out s/",
                "The coordinator builds a signing request from a template and t commitments.",
            ),
            (
                "passport sign request --group npub1… --message 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08 --signers alice,bob --in s/ --out s/",
                "A raw 32-byte message instead, signed by alice and bob.",
            ),
        ],
        "sign share" => &[
            (
                "passport sign share --request s/sign-request-1f2e3d4c.json --out s/",
                "Review the request, confirm, and write this member's signature share.",
            ),
            (
                "passport sign share --group npub1… --via wss://relay.example --yes",
                "Answer the newest request waiting for this home on a relay, without asking.",
            ),
        ],
        "sign aggregate" => &[
            (
                "passport sign aggregate --request s/sign-request-1f2e3d4c.json --in s/",
                "Combine t signature shares; the signed event goes to stdout.",
            ),
            (
                "passport sign aggregate --request s/sign-request-1f2e3d4c.json --in s/ --group-file group.json -o event.json",
                "The same without a home, from the group file, into event.json.",
            ),
        ],
        "sign event" => &[
            (
                "passport sign event --group npub1… --event note.json --yes",
                "All rounds in memory in a home holding t shares (the CI layout).",
            ),
            (
                "passport sign event --group npub1… --event - -o event.json --yes",
                "The template from stdin, the signed event into event.json.",
            ),
        ],
        "sign run" => &[
            (
                "passport sign run --group npub1… --via wss://relay.example",
                "A signer: commit, wait for a request that uses it, review it, answer.",
            ),
            (
                "passport sign run --group npub1… --event note.json --via wss://relay.example -o event.json",
                "The coordinator: commit its own seats, request, collect t shares, aggregate.",
            ),
        ],
        "group list" => &[(
            "passport group list",
            "The groups this home knows, with the seats it holds in each.",
        )],
        "group import" => &[(
            "passport group import group.json",
            "Import a public group file, e.g. to coordinate signing without a share.",
        )],
        "group retire" => &[(
            "passport group retire npub1…",
            "After recover-nsec: destroy this home's shares and nonces of that group (asks you to type \"destroy my shares\").",
        )],
        "group show" => &[(
            "passport group show npub1…",
            "Print the public group file of one group.",
        )],
        "verify" => &[
            (
                "passport verify event.json --expect npub1…",
                "Check a signed event with libsecp256k1, and that the group npub signed it.",
            ),
            (
                "passport verify - --expect npub1…",
                "The same for an event on stdin.",
            ),
        ],
        "inspect" => &[
            (
                "passport inspect x/dkg-1-alice-1f2e3d4c.json",
                "Describe a package (or any passport file) without revealing secrets.",
            ),
            (
                "passport inspect alice.age",
                "Whose share a backup holds, from the signed manifest beside it.",
            ),
            (
                "passport inspect --roster roster.json x/sign-request-9a8b7c6d.json",
                "Name the seats of a package with a roster kept elsewhere.",
            ),
        ],
        _ => &[],
    }
}
