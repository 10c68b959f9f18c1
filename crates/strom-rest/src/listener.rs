//! The REST port: plain HTTP, or HTTPS with `security.ssl.rest.*` (and mutual TLS with
//! `security.ssl.rest.authentication-enabled`).

use axum::Router;
use futures::StreamExt;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use strom_cluster::tls::TlsConn;
use strom_common::tls::rustls::ServerConfig;

/// A bound REST port and how it is served.
pub struct RestListener {
    tcp: tokio::net::TcpListener,
    tls: Option<Arc<ServerConfig>>,
}

impl RestListener {
    /// `tcp`, served through TLS when `tls` is Some.
    pub fn new(tcp: tokio::net::TcpListener, tls: Option<Arc<ServerConfig>>) -> Self {
        Self { tcp, tls }
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.tcp.local_addr()
    }

    /// The base URL clients reach it at (`http://` or `https://`).
    pub fn url(&self) -> io::Result<String> {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        Ok(format!("{scheme}://{}", self.local_addr()?))
    }

    /// Serves `app` until `shutdown` completes.
    pub async fn serve(
        self,
        app: Router,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> io::Result<()> {
        match self.tls {
            None => {
                axum::serve(self.tcp, app)
                    .with_graceful_shutdown(shutdown)
                    .await
            }
            Some(config) => {
                let local = self.tcp.local_addr()?;
                let incoming = strom_cluster::tls::incoming(self.tcp, config, "the REST endpoint");
                axum::serve(TlsListener { incoming, local }, app)
                    .with_graceful_shutdown(shutdown)
                    .await
            }
        }
    }
}

/// The TLS connections of a REST port, as axum takes them.
struct TlsListener {
    incoming: futures::channel::mpsc::Receiver<io::Result<TlsConn>>,
    local: SocketAddr,
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsConn;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            match self.incoming.next().await {
                Some(Ok(conn)) => {
                    let peer = conn.peer();
                    return (conn, peer);
                }
                Some(Err(_)) => continue,
                // the acceptor stopped: nothing more comes
                None => std::future::pending::<()>().await,
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        Ok(self.local)
    }
}
