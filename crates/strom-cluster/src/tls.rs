//! TLS on the tokio side (`security.ssl.internal.enabled`, `security.ssl.rest.enabled`): the
//! accepting end of an RPC or REST port ([`incoming`]) and the connecting end of a gRPC channel
//! ([`Connector`]), with the rustls configurations of `strom_common::tls`.

use futures::channel::mpsc;
use futures::SinkExt;
use hyper_util::rt::TokioIo;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use strom_common::tls::rustls::{ClientConfig, ServerConfig};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

/// How long a peer may take to complete its TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// An accepted connection whose TLS handshake completed.
pub struct TlsConn {
    inner: tokio_rustls::server::TlsStream<TcpStream>,
    local: Option<SocketAddr>,
    peer: SocketAddr,
}

impl TlsConn {
    pub fn peer(&self) -> SocketAddr {
        self.peer
    }
}

/// The connections of `listener` whose handshake succeeds, as they complete (handshakes run
/// concurrently, so a slow or hostile peer holds up no one). A refused peer is logged as a
/// refused connection to `what`.
pub fn incoming(
    listener: TcpListener,
    config: Arc<ServerConfig>,
    what: &'static str,
) -> mpsc::Receiver<io::Result<TlsConn>> {
    let (tx, rx) = mpsc::channel(64);
    let acceptor = tokio_rustls::TlsAcceptor::from(config);
    let local = listener.local_addr().ok();
    tokio::spawn(async move {
        loop {
            let (tcp, peer) = match listener.accept().await {
                Ok(c) => c,
                Err(e) => {
                    // out of descriptors and the like: the listener itself is fine
                    tracing::warn!("{what}: accepting a connection failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            if tx.is_closed() {
                return;
            }
            let _ = tcp.set_nodelay(true);
            let (acceptor, mut tx) = (acceptor.clone(), tx.clone());
            tokio::spawn(async move {
                match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                    Ok(Ok(inner)) => {
                        let _ = tx.send(Ok(TlsConn { inner, local, peer })).await;
                    }
                    Ok(Err(e)) => {
                        tracing::warn!("refused a connection to {what} from {peer}: TLS handshake failed: {e}")
                    }
                    Err(_) => tracing::warn!(
                        "refused a connection to {what} from {peer}: no TLS handshake within {HANDSHAKE_TIMEOUT:?}"
                    ),
                }
            });
        }
    });
    rx
}

impl AsyncRead for TlsConn {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for TlsConn {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

impl tonic::transport::server::Connected for TlsConn {
    type ConnectInfo = tonic::transport::server::TcpConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        tonic::transport::server::TcpConnectInfo {
            local_addr: self.local,
            remote_addr: Some(self.peer),
        }
    }
}

/// Opens a gRPC channel's connections to `addr`: TCP, then TLS with this process's certificate.
#[derive(Clone)]
pub struct Connector {
    pub config: Arc<ClientConfig>,
    pub addr: String,
    pub timeout: Duration,
}

type Connecting = Pin<Box<dyn Future<Output = io::Result<TokioIo<TlsStream>>> + Send>>;
type TlsStream = tokio_rustls::client::TlsStream<TcpStream>;

impl tower_service::Service<tonic::codegen::http::Uri> for Connector {
    type Response = TokioIo<TlsStream>;
    type Error = io::Error;
    type Future = Connecting;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: tonic::codegen::http::Uri) -> Self::Future {
        let Connector {
            config,
            addr,
            timeout,
        } = self.clone();
        Box::pin(async move {
            let name = strom_common::tls::server_name(&addr).map_err(io::Error::other)?;
            let connect = async {
                let tcp = TcpStream::connect(&addr).await?;
                tcp.set_nodelay(true)?;
                tokio_rustls::TlsConnector::from(config)
                    .connect(name, tcp)
                    .await
                    .map_err(|e| {
                        io::Error::new(e.kind(), format!("TLS handshake with {addr} failed: {e}"))
                    })
            };
            match tokio::time::timeout(timeout, connect).await {
                Ok(tls) => Ok(TokioIo::new(tls?)),
                Err(_) => Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("connecting to {addr} took over {timeout:?}"),
                )),
            }
        })
    }
}
