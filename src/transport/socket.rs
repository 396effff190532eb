//! Relay websockets with Nagle's algorithm off.
//!
//! nostr-sdk's default transport (async-wsocket 0.13) connects a plain `TcpStream` and
//! leaves `TCP_NODELAY` unset. A NIP-46 request is one small frame each way, and a frame
//! written while the previous one is still unacknowledged waits for the peer's delayed
//! ACK (40 ms on Linux): measured on loopback, every bunker request sat on a 44 ms
//! floor. This transport is the default one with the socket option set before the
//! handshake, as tungstenite's own `connect_async_tls_with_config(.., disable_nagle)`
//! does. TLS (`wss://`) and the handshake are tokio-tungstenite's, unchanged.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use async_wsocket::futures_util::stream::SplitSink;
use async_wsocket::futures_util::{Sink, SinkExt, StreamExt, TryStreamExt};
use async_wsocket::{ConnectionMode, Message, WebSocket};
use nostr::util::BoxedFuture;
use nostr::Url;
use nostr_sdk::pool::transport::error::TransportError;
use nostr_sdk::pool::transport::websocket::{WebSocketSink, WebSocketStream, WebSocketTransport};
use nostr_sdk::ClientBuilder;
use tokio::net::TcpStream;

/// The websocket transport every relay client of passport uses.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoDelay;

/// A nostr-sdk client builder whose relay connections use [`NoDelay`].
pub fn sdk_builder() -> ClientBuilder {
    ClientBuilder::new().websocket_transport(NoDelay)
}

#[derive(Debug, thiserror::Error)]
enum SocketError {
    #[error("no host in the relay URL")]
    NoHost,
    #[error("no port for the relay URL's scheme")]
    NoPort,
    #[error("timed out after {0:?}")]
    Timeout(Duration),
    #[error("only direct connections are supported here")]
    Mode,
}

async fn open(url: &Url, timeout: Duration) -> Result<WebSocket, TransportError> {
    let host = url
        .host_str()
        .ok_or(TransportError::backend(SocketError::NoHost))?;
    let port = url
        .port_or_known_default()
        .ok_or(TransportError::backend(SocketError::NoPort))?;
    // `host_str` keeps an IPv6 literal's brackets; `(host, port)` wants it bare, and
    // resolves names and literals alike.
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let connect = async {
        let tcp = TcpStream::connect((host, port))
            .await
            .map_err(TransportError::backend)?;
        tcp.set_nodelay(true).map_err(TransportError::backend)?;
        let (ws, _) = tokio_tungstenite::client_async_tls(url.as_str(), tcp)
            .await
            .map_err(TransportError::backend)?;
        Ok::<_, TransportError>(WebSocket::Tokio(ws))
    };
    // Boxed, as async-wsocket does: the TLS handshake's future is large.
    tokio::time::timeout(timeout, Box::pin(connect))
        .await
        .map_err(|_| TransportError::backend(SocketError::Timeout(timeout)))?
}

impl WebSocketTransport for NoDelay {
    fn support_ping(&self) -> bool {
        true
    }

    fn connect<'a>(
        &'a self,
        url: &'a Url,
        mode: &'a ConnectionMode,
        timeout: Duration,
    ) -> BoxedFuture<'a, Result<(WebSocketSink, WebSocketStream), TransportError>> {
        Box::pin(async move {
            if *mode != ConnectionMode::Direct {
                return Err(TransportError::backend(SocketError::Mode));
            }
            let (tx, rx) = open(url, timeout).await?.split();
            let sink: WebSocketSink = Box::new(Tx(tx));
            let stream: WebSocketStream = Box::pin(rx.map_err(TransportError::backend));
            Ok((sink, stream))
        })
    }
}

/// The sink half with its errors mapped by hand: nostr-relay-pool notes that
/// `sink_map_err` can panic here (rust-nostr/nostr#984).
struct Tx(SplitSink<WebSocket, Message>);

impl Sink<Message> for Tx {
    type Error = TransportError;

    fn poll_ready(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.0.poll_ready_unpin(cx).map_err(TransportError::backend)
    }

    fn start_send(mut self: Pin<&mut Self>, item: Message) -> Result<(), Self::Error> {
        self.0
            .start_send_unpin(item)
            .map_err(TransportError::backend)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.0.poll_flush_unpin(cx).map_err(TransportError::backend)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.0.poll_close_unpin(cx).map_err(TransportError::backend)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio_tungstenite::MaybeTlsStream;

    /// The socket under the websocket has Nagle off (the point of this transport), and
    /// the handshake still completes against an ordinary websocket server.
    #[tokio::test]
    async fn relay_sockets_have_nagle_off() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url =
            Url::parse(&format!("ws://{}", listener.local_addr().expect("addr"))).expect("url");
        let server = tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.expect("accept");
            tokio_tungstenite::accept_async(tcp)
                .await
                .expect("handshake")
        });
        // Without async-wsocket's tor feature a direct socket is its only kind.
        let WebSocket::Tokio(ws) = open(&url, Duration::from_secs(30)).await.expect("open");
        let MaybeTlsStream::Plain(tcp) = ws.get_ref() else {
            panic!("ws:// is not TLS");
        };
        assert!(tcp.nodelay().expect("nodelay"), "TCP_NODELAY is set");
        server.await.expect("server task");
    }

    #[tokio::test]
    async fn urls_without_a_host_or_port_are_refused_by_name() {
        let e = open(
            &Url::parse("unix:/run/relay.sock").expect("url"),
            Duration::from_secs(1),
        )
        .await
        .err()
        .expect("refused");
        assert_eq!(e.to_string(), "no host in the relay URL");
        let e = open(
            &Url::parse("nostr://x.example").expect("url"),
            Duration::from_secs(1),
        )
        .await
        .err()
        .expect("refused");
        assert_eq!(e.to_string(), "no port for the relay URL's scheme");
    }
}
