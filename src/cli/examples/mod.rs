//! Examples and cross-references for the man pages, keyed by command path ("sign
//! share"; "" is `passport` itself), the examples in one table per command family. A new
//! subcommand needs a row in its family's table: tests/cli/man_pages.rs fails for a page
//! without an example of its own command, and parses every example with the real CLI, so
//! a renamed flag breaks the test, not the reader.

/// `(command line, what it does)`.
pub type Example = (&'static str, &'static str);

mod ceremony;
mod custody;
mod home;
mod service;
mod signing;

/// The examples written for exactly this command; empty for a command without rows (a
/// parent page then shows one example per child, see [`for_page`]). Each command path
/// has its rows in one family's table.
pub fn examples(path: &str) -> &'static [Example] {
    [
        home::examples,
        ceremony::examples,
        signing::examples,
        custody::examples,
        service::examples,
    ]
    .into_iter()
    .map(|table| table(path))
    .find(|rows| !rows.is_empty())
    .unwrap_or(&[])
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
