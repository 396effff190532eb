//! A Nostr relay on loopback (nostr-relay-builder, in memory) for benchmarks and manual
//! tries of `--via ws://…`. Prints its URL on the first stdout line, runs until killed.
//!
//! cargo run --release --example relay [PORT]

use std::io::Write;

use nostr_relay_builder::prelude::*;

#[tokio::main]
async fn main() {
    let mut builder = RelayBuilder::default()
        .addr(std::net::IpAddr::from([127, 0, 0, 1]))
        .rate_limit(RateLimit {
            max_reqs: 10_000,
            notes_per_minute: 1_000_000,
        });
    // Without a port the relay picks a free one (and reports it in its URL).
    if let Some(p) = std::env::args().nth(1) {
        builder = builder.port(p.parse().expect("PORT is a number"));
    }
    let relay = LocalRelay::new(builder);
    relay.run().await.expect("relay starts");
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}", relay.url().await)
        .and_then(|_| out.flush())
        .ok();
    drop(out);
    tokio::signal::ctrl_c().await.ok();
}
