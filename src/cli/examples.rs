//! Examples and cross-references for the man pages, one table keyed by command path
//! ("sign share"; "" is `passport` itself). A new subcommand needs a row here:
//! tests/man_pages.rs fails for a page without an example of its own command, and parses
//! every example with the real CLI, so a renamed flag breaks the test, not the reader.

/// `(command line, what it does)`.
pub type Example = (&'static str, &'static str);

/// The examples written for exactly this command; empty for a command without rows (a
/// parent page then shows one example per child, see [`for_page`]).
pub fn examples(path: &str) -> &'static [Example] {
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
        "hsm list" => &[
            (
                "passport hsm list",
                "The tokens of the PASSPORT_PKCS11_MODULE module, their mechanisms and passport keys.",
            ),
            (
                "passport --pkcs11-module /usr/lib/softhsm/libsofthsm2.so hsm list",
                "The same for a module named on the command line.",
            ),
        ],
        "hsm init" => &[(
            "passport hsm init --token pkcs11:token=alice",
            "Create the seal and attestation keys in the token labelled alice.",
        )],
        "hsm attest" => &[(
            "passport hsm attest --challenge 5f3a0c9e7b21d4468a1f0e93c2b7d95c -o statement.json",
            "Answer a verifier's challenge with a statement signed by the token.",
        )],
        "hsm verify-attestation" => &[(
            "passport hsm verify-attestation statement.json --challenge 5f3a0c9e7b21d4468a1f0e93c2b7d95c --expect-group npub1…",
            "Check the statement, the challenge sent, and that it protects a share of the group.",
        )],
        "hsm migrate" => &[
            (
                "passport hsm migrate --to pkcs11:token=alice",
                "Move this home's secrets from files into the token, verifying each.",
            ),
            (
                "passport hsm migrate",
                "Rewrite the home's own token blobs from format v1 to v2.",
            ),
        ],
        "audit verify" => &[(
            "passport audit verify",
            "Check the hash chain of the audit log; names the first bad entry.",
        )],
        "recover-nsec" => &[
            (
                "passport recover-nsec --group npub1… -o key.nsec",
                "Reconstruct the group's nsec into a new 0600 file, after a typed confirmation.",
            ),
            (
                "passport recover-nsec --group npub1… -o key.nsec --share handover/",
                "The same with the shares other members handed over (recover-nsec send-share).",
            ),
            (
                "passport recover-nsec --group npub1… --ncryptsec -o key.ncryptsec",
                "The same as a NIP-49 ncryptsec (passphrase from PASSPORT_NCRYPTSEC_PASSPHRASE).",
            ),
        ],
        "recover-nsec send-share" => &[(
            "passport recover-nsec send-share --group npub1… --to alice --out handover/",
            "Hand this home's share to alice, who runs recover-nsec (typed confirmation).",
        )],
        "backup create" => &[
            (
                "passport backup create --group npub1… --recipient age1… -o alice.age",
                "Back up this member's share to an age recipient, with alice.age.manifest.json.",
            ),
            (
                "passport backup create --group npub1… --backup-passphrase -o alice.age",
                "Encrypt it to a passphrase (scrypt) instead.",
            ),
        ],
        "backup verify" => &[
            (
                "passport backup verify alice.age",
                "Check the manifest signature, checksum and age header; no secret needed.",
            ),
            (
                "passport backup verify alice.age --identity backup.agekey",
                "Also decrypt the backup and check the share against the group.",
            ),
        ],
        "backup restore" => &[(
            "passport backup restore alice.age --identity backup.agekey",
            "Verify the backup fully, then store its share in this home's keystore.",
        )],
        "backup identity" => &[(
            "passport backup identity --recipient age1… -o alice-identity.age",
            "Back up this home's identity key; with the share backups it rebuilds the home.",
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
        "doctor" => &[
            (
                "passport doctor",
                "Check this home; every line says ok, warn, FAIL or skip and what to do.",
            ),
            (
                "passport doctor --no-unlock",
                "The same without unlocking the keystore: shares present, not opened.",
            ),
        ],
        "demo" => &[
            (
                "passport demo",
                "A local 2-of-3 DKG and a verified threshold signature in a temporary directory.",
            ),
            (
                "passport demo --hsm --keep",
                "The same with each member's secrets in its own SoftHSM2 token; keep the files.",
            ),
        ],
        "demo bunker" => &[(
            "passport demo bunker --relay ws://127.0.0.1:7777",
            "A demo NIP-46 bunker; its bunker:// URI is the first line on stdout.",
        )],
        "serve" => &[
            (
                "passport serve",
                "Coordinate rounds on 127.0.0.1:7707, database in the home's serve/ directory.",
            ),
            (
                "passport serve --listen 0.0.0.0:7707 --public-url https://passport.example.org",
                "Listen on every interface behind a public URL.",
            ),
            (
                "passport serve --relay wss://relay.example --group npub1… --qr",
                "Also a NIP-46 bunker for the group; prints (and draws) its bunker:// URI.",
            ),
        ],
        "bunker clients list" => &[(
            "passport bunker clients list",
            "Every authorized client with its grant and use count.",
        )],
        "bunker clients allow" => &[(
            "passport bunker clients allow npub1… --label phone --kinds 1,7 --expires 30d",
            "Let a client sign kinds 1 and 7 for 30 days.",
        )],
        "bunker clients revoke" => &[(
            "passport bunker clients revoke npub1…",
            "Remove a client; its next request is refused.",
        )],
        "bunker invite" => &[(
            "passport bunker invite --relay wss://relay.example --valid-for 15m --kinds 1",
            "A single-use bunker:// URI for a client that may sign kind-1 notes.",
        )],
        "bunker connect" => &[(
            "passport bunker connect 'nostrconnect://…' --label laptop",
            "Authorize the client of a nostrconnect:// URI and send it the connect reply.",
        )],
        "cosign" => &[
            (
                "passport cosign --via https://serve.example --group npub1… --yes",
                "Co-sign for the bunker of that serve without asking (policy flags still apply).",
            ),
            (
                "passport cosign --via https://serve.example --group npub1… --kinds 1,7 --rate 30",
                "Only kinds 1 and 7, at most 30 answers a minute.",
            ),
            (
                "passport cosign --via https://serve.example --group npub1… --interactive",
                "Show each event (or ECDH peer) and ask before answering.",
            ),
        ],
        "completions" => &[
            (
                "passport completions bash > /etc/bash_completion.d/passport",
                "Install bash completions.",
            ),
            (
                "passport completions zsh > ~/.zfunc/_passport",
                "The same for zsh (fish, elvish and powershell work too).",
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

/// Other pages worth reading from this command's page, by command path (parent, siblings
/// and children are added by the renderer).
pub fn related(path: &str) -> &'static [&'static str] {
    match path {
        "" => &["init", "roster", "dkg", "sign", "backup"],
        "init" => &[
            "id",
            "passwd",
            "unlock",
            "backup identity",
            "hsm init",
            "doctor",
        ],
        "passwd" => &["init", "unlock"],
        "unlock" | "lock" => &["passwd", "init"],
        "id" => &["roster new"],
        "roster" | "roster new" | "roster show" => &["keygen", "dkg"],
        "keygen" | "keygen deal" | "keygen import" => &["roster new", "group import"],
        "dkg" | "dkg run" => &["roster new", "serve", "refresh run", "repair run"],
        "refresh" | "refresh finish" | "refresh run" => &["backup create", "backup verify"],
        "repair" | "repair finish" | "repair run" => &["backup restore", "group show"],
        "sign" | "sign run" => &["verify", "serve"],
        "sign commit" => &["sign share"],
        "sign event" | "sign aggregate" => &["verify"],
        "group" | "group import" | "group show" => &["keygen deal", "dkg confirm"],
        "hsm" | "hsm init" | "hsm migrate" => &["init", "audit verify"],
        "audit" | "audit verify" => &["hsm"],
        "recover-nsec" | "recover-nsec send-share" => &["backup restore", "init"],
        "doctor" => &["backup verify", "sign commit", "unlock", "audit verify"],
        "backup" | "backup identity" => &["init", "refresh finish"],
        "backup restore" => &["init", "sign commit"],
        "verify" => &["sign aggregate", "sign event"],
        "inspect" => &["verify"],
        "demo" | "demo bunker" => &["serve", "bunker"],
        "serve" => &["bunker", "cosign", "dkg run", "sign run"],
        "bunker" | "bunker invite" | "bunker connect" => &["serve", "cosign"],
        "cosign" => &["serve", "bunker"],
        _ => &[],
    }
}

/// Variables one command reads besides EXIT_CODES' and its options' `env`: `(command
/// path, variable, what it holds)`. A parent page lists its children's.
pub const ENVIRONMENT: &[(&str, &str, &str)] = &[
    (
        "passwd",
        "PASSPORT_NEW_PASSPHRASE",
        "the new keystore passphrase (else --new-passphrase-file, else a prompt)",
    ),
    (
        "init",
        "PASSPORT_BACKUP_PASSPHRASE",
        "with --backup-passphrase: the passphrase of the --restore-identity backup (else --backup-passphrase-file, else a prompt)",
    ),
    (
        "backup create",
        "PASSPORT_BACKUP_PASSPHRASE",
        "with --passphrase: the backup passphrase (else --backup-passphrase-file, else a prompt)",
    ),
    (
        "backup identity",
        "PASSPORT_BACKUP_PASSPHRASE",
        "with --passphrase: the backup passphrase (else --backup-passphrase-file, else a prompt)",
    ),
    (
        "backup verify",
        "PASSPORT_BACKUP_PASSPHRASE",
        "with --passphrase: the backup passphrase (else --backup-passphrase-file, else a prompt)",
    ),
    (
        "backup restore",
        "PASSPORT_BACKUP_PASSPHRASE",
        "with --passphrase: the backup passphrase (else --backup-passphrase-file, else a prompt)",
    ),
    (
        "recover-nsec",
        "PASSPORT_NCRYPTSEC_PASSPHRASE",
        "with --ncryptsec: the passphrase of the NIP-49 ncryptsec (else a prompt)",
    ),
];
