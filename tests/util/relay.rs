//! nostr-relay-builder's in-memory relay behind a listener of our own, so that accepted
//! sockets get `TCP_NODELAY` as production relays' do (strfry's uWebSockets, for one).
//! With Nagle on, a frame written while the previous one is unacknowledged waits for the
//! peer's delayed ACK: every request through `LocalRelay::run`'s listener sat on a 40 ms
//! floor. Also used by `examples/relay.rs`.

use nostr_relay_builder::LocalRelay;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Binds `127.0.0.1:port` (0: a free one, bound at once so nobody takes it in between)
/// and serves `relay` there until the runtime ends; returns the `ws://` URL.
pub async fn listen(relay: LocalRelay, port: u16) -> std::io::Result<String> {
    let listener = TcpListener::bind(("127.0.0.1", port)).await?;
    let url = format!("ws://{}", listener.local_addr()?);
    tokio::spawn(async move {
        while let Ok((mut tcp, peer)) = listener.accept().await {
            let relay = relay.clone();
            tokio::spawn(async move {
                if tcp.set_nodelay(true).is_ok() && upgrade(&mut tcp).await.is_ok() {
                    let _ = relay.take_connection(tcp, peer).await;
                }
            });
        }
    });
    Ok(url)
}

/// Completes the websocket opening handshake (RFC 6455 section 4.2.2) on `tcp`; the
/// key's answer is tungstenite's `derive_accept_key`.
async fn upgrade(tcp: &mut TcpStream) -> std::io::Result<()> {
    let bad = |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_string());
    let mut head = Vec::with_capacity(1024);
    let mut buf = [0u8; 1024];
    // A client sends nothing after its request until it has the 101 answer.
    while !head.ends_with(b"\r\n\r\n") {
        let n = tcp.read(&mut buf).await?;
        if n == 0 || head.len() + n > 16 << 10 {
            return Err(bad("no complete handshake request"));
        }
        head.extend_from_slice(&buf[..n]);
    }
    let text = std::str::from_utf8(&head).map_err(|_| bad("handshake is not UTF-8"))?;
    let key = text
        .lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(name, _)| name.trim().eq_ignore_ascii_case("sec-websocket-key"))
        .map(|(_, v)| v.trim())
        .ok_or_else(|| bad("no Sec-WebSocket-Key"))?;
    let accept = tokio_tungstenite::tungstenite::handshake::derive_accept_key(key.as_bytes());
    let answer = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {accept}\r\n\r\n"
    );
    tcp.write_all(answer.as_bytes()).await
}
