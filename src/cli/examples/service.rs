//! Long-running and helper commands: serve, the bunker, cosign, doctor, demo, completions.

use super::Example;

pub(super) fn examples(path: &str) -> &'static [Example] {
    match path {
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
        "bunker pending" => &[(
            "passport bunker pending",
            "The requests waiting for the operator (grants with --ask, --ask-kinds).",
        )],
        "bunker approve" => &[(
            "passport bunker approve 3e1c863b320f3694",
            "Approve one: the bunker answers the client on its request id.",
        )],
        "bunker deny" => &[(
            "passport bunker deny 3e1c863b320f3694",
            "Deny one: the client gets the error \"denied by the operator\".",
        )],
        "bunker console" => &[(
            "passport bunker console --qr",
            "A one-time login link to serve's approval pages, drawn for a phone.",
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
        _ => &[],
    }
}
