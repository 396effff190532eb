//! The operator's own home: init, passphrase, session agent, identity.

use super::Example;

pub(super) fn examples(path: &str) -> &'static [Example] {
    match path {
        "" => &[
            ("passport init", "Create this operator's home (asks for a keystore passphrase)."),
            ("passport id", "Print the npub to send to whoever writes the roster."),
            (
                "passport roster new -t 2 -m alice=npub1… -m bob=npub1… -m carol=npub1… -o roster.json",
                "Write a 2-of-3 roster; every member compares its fingerprint (roster show).",
            ),
            (
                "passport dkg run --roster roster.json --via http://coordinator:7707",
                "Run every round of a distributed key generation through a passport serve.",
            ),
            (
                "passport sign run --group npub1… --event note.json --via wss://relay.example",
                "Coordinate a threshold signature of an event template over a Nostr relay.",
            ),
            (
                "passport --json group list",
                "Any command prints one JSON object on stdout with --json, errors included.",
            ),
        ],
        "init" => &[
            (
                "passport init",
                "A new home in ~/.passport; the passphrase from a prompt, PASSPORT_PASSPHRASE or --passphrase-file.",
            ),
            (
                "passport --home ./ci init --age-identity ci.agekey",
                "An unattended home, unlocked by an age identity file (created if missing).",
            ),
            (
                "passport init --keystore pkcs11:token=alice",
                "A home whose secrets are sealed by a PKCS#11 token (after hsm init).",
            ),
            (
                "passport init --restore-identity alice-identity.age --backup-identity offline.agekey",
                "Rebuild a lost home with its old identity (same npub), from backup identity.",
            ),
            (
                "passport init --identity-nsec - < my.nsec",
                "Make an existing Nostr key (nsec, hex or ncryptsec, from stdin or a file) this home's identity.",
            ),
        ],
        "passwd" => &[
            ("passport passwd", "Change the keystore passphrase; the new one is asked twice."),
            (
                "passport passwd --passphrase-file old.txt --new-passphrase-file new.txt",
                "The same without prompts: old and new passphrase from files.",
            ),
            (
                "passport passwd --new-age-identity ~/keys/ci-2027.agekey",
                "Rotate the keystore to a fresh age identity in a new file (every secret re-sealed).",
            ),
        ],
        "unlock" => &[
            (
                "passport unlock --for 1h",
                "Ask for the passphrase once; commands in this home need none (and pay no scrypt) for an hour.",
            ),
            (
                "passport --json unlock --for 90s",
                "Start (or extend) the session agent; the JSON says until when and its pid.",
            ),
        ],
        "lock" => &[
            ("passport lock", "Make the session agent forget the keystore key now."),
            (
                "passport --json lock",
                "The same; was_running says whether an agent was there.",
            ),
        ],
        "id" => &[
            ("passport id", "Print this home's identity npub."),
            ("passport --json id", "The same as a JSON object."),
        ],
        _ => &[],
    }
}
