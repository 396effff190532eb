//! Keeping shares safe: tokens, the audit log, backups and recovering the nsec.

use super::Example;

pub(super) fn examples(path: &str) -> &'static [Example] {
    match path {
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
        _ => &[],
    }
}
