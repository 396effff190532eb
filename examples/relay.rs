//! A Nostr relay on loopback (nostr-relay-builder, in memory) for benchmarks and manual
//! tries of `--via ws://…`. Prints its URL on the first stdout line, runs until killed.
//! Its sockets have Nagle off, as production relays' do (see the module below).
//!
//! cargo run --release --example relay [PORT]

use std::io::Write;

use nostr_relay_builder::prelude::*;

#[path = "../tests/util/relay.rs"]
mod relay;

#[tokio::main]
async fn main() {
    let builder = RelayBuilder::default().rate_limit(RateLimit {
        max_reqs: 10_000,
        notes_per_minute: 1_000_000,
    });
    let port: u16 = std::env::args()
        .nth(1)
        .map(|p| p.parse().expect("PORT is a number"))
        .unwrap_or(0);
    let url = relay::listen(LocalRelay::new(builder), port)
        .await
        .expect("relay binds its port");
    let mut out = std::io::stdout().lock();
    writeln!(out, "{url}").and_then(|_| out.flush()).ok();
    drop(out);
    tokio::signal::ctrl_c().await.ok();
}
