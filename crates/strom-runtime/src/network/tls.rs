//! The data plane's connections, in clear or through TLS (`security.ssl.internal.enabled`).
//!
//! A connection is read by one thread and written by another ([`split`]). A rustls connection
//! has a single state for both directions, so the two halves share it under a lock held only to
//! decrypt or encrypt, never across a socket read or write: the reader reads ciphertext from its
//! clone of the socket, then hands it to rustls; the writer encrypts under the lock and writes
//! the records under a second lock that keeps them in order. (rustls' own `StreamOwned` takes
//! the whole stream for either direction, which would stop a connection's reader while its
//! writer blocks on a full socket.)

use parking_lot::Mutex;
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, Connection, ServerConfig, ServerConnection};
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

/// How long a TLS handshake may take.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// A secured connection's state, shared by its two halves.
pub(super) struct Session {
    conn: Mutex<Connection>,
    /// Taken (before `conn`) by whoever writes records to the socket, so they go out in order.
    out: Mutex<TcpStream>,
}

impl Session {
    /// Writes every record rustls has queued.
    fn flush_records(&self) -> io::Result<()> {
        let mut out = self.out.lock();
        let records = {
            let mut conn = self.conn.lock();
            let mut records = Vec::new();
            while conn.wants_write() {
                conn.write_tls(&mut records)?;
            }
            records
        };
        out.write_all(&records)
    }
}

/// The reading half of a connection.
pub(super) enum DataReader {
    Plain(TcpStream),
    Tls {
        session: Arc<Session>,
        socket: TcpStream,
        /// Ciphertext read from the socket and not yet taken by rustls.
        pending: Vec<u8>,
        at: usize,
    },
}

/// The writing half of a connection.
pub(super) enum DataWriter {
    Plain(TcpStream),
    Tls(Arc<Session>),
}

/// Either side of a TLS handshake.
pub(super) enum Side<'a> {
    Client(&'a Arc<ClientConfig>, ServerName<'static>),
    Server(&'a Arc<ServerConfig>),
}

/// The two halves of `stream`: through TLS when `side` is Some (after a completed handshake,
/// bounded by [`HANDSHAKE_TIMEOUT`]), else in clear.
pub(super) fn split(
    stream: &TcpStream,
    side: Option<Side<'_>>,
) -> io::Result<(DataReader, DataWriter)> {
    let Some(side) = side else {
        return Ok((
            DataReader::Plain(stream.try_clone()?),
            DataWriter::Plain(stream.try_clone()?),
        ));
    };
    let mut conn: Connection = match side {
        Side::Client(config, name) => ClientConnection::new(config.clone(), name)
            .map_err(io::Error::other)?
            .into(),
        Side::Server(config) => ServerConnection::new(config.clone())
            .map_err(io::Error::other)?
            .into(),
    };
    let mut handshake = stream.try_clone()?;
    let (read_timeout, write_timeout) = (stream.read_timeout()?, stream.write_timeout()?);
    stream.set_read_timeout(Some(HANDSHAKE_TIMEOUT))?;
    stream.set_write_timeout(Some(HANDSHAKE_TIMEOUT))?;
    while conn.is_handshaking() {
        conn.complete_io(&mut handshake).map_err(|e| {
            io::Error::new(
                io::ErrorKind::PermissionDenied,
                format!("TLS handshake failed: {e}"),
            )
        })?;
    }
    while conn.wants_write() {
        conn.write_tls(&mut handshake)?;
    }
    stream.set_read_timeout(read_timeout)?;
    stream.set_write_timeout(write_timeout)?;
    let session = Arc::new(Session {
        conn: Mutex::new(conn),
        out: Mutex::new(stream.try_clone()?),
    });
    Ok((
        DataReader::Tls {
            session: session.clone(),
            socket: handshake,
            pending: Vec::new(),
            at: 0,
        },
        DataWriter::Tls(session),
    ))
}

impl Read for DataReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let (session, socket, pending, at) = match self {
            DataReader::Plain(s) => return s.read(buf),
            DataReader::Tls {
                session,
                socket,
                pending,
                at,
            } => (session, socket, pending, at),
        };
        loop {
            let wants_write = {
                let mut conn = session.conn.lock();
                match conn.reader().read(buf) {
                    Ok(n) => return Ok(n), // 0: the peer closed cleanly
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(e) => return Err(e),
                }
                if *at < pending.len() {
                    // the plaintext buffer is empty: rustls takes more ciphertext
                    let mut rest = &pending[*at..];
                    let taken = conn.read_tls(&mut rest)?;
                    *at += taken;
                    conn.process_new_packets()
                        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
                    Some(conn.wants_write())
                } else {
                    None
                }
            };
            match wants_write {
                // a reply rustls owes the peer (a key update, an alert)
                Some(true) => session.flush_records()?,
                // what the ciphertext held is read first
                Some(false) => {}
                None => {
                    pending.resize(64 * 1024, 0);
                    let n = socket.read(pending)?;
                    pending.truncate(n);
                    *at = 0;
                    if n == 0 {
                        return Ok(0);
                    }
                }
            }
        }
    }
}

impl Write for DataWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            DataWriter::Plain(s) => s.write(buf),
            DataWriter::Tls(session) => {
                let mut out = session.out.lock();
                let (n, records) = {
                    let mut conn = session.conn.lock();
                    let n = conn.writer().write(buf)?;
                    let mut records = Vec::with_capacity(n + 64);
                    while conn.wants_write() {
                        conn.write_tls(&mut records)?;
                    }
                    (n, records)
                };
                out.write_all(&records)?;
                Ok(n)
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            DataWriter::Plain(s) => s.flush(),
            DataWriter::Tls(session) => session.flush_records(),
        }
    }
}
