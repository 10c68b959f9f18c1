//! The data plane between TaskManagers: subpartitions travel over TCP with credit-based flow
//! control (Flink's netty shuffle, on std threads and blocking I/O).
//!
//! Each TaskManager runs one [`NetworkEnvironment`]: a listener (the data port) whose connections
//! serve the subpartitions this TaskManager produces to consumers elsewhere, and one client
//! connection per remote TaskManager over which this TaskManager's consumers request
//! subpartitions (all channels to that TaskManager are multiplexed on it).
//!
//! Flow control: a consumer grants [`INITIAL_CREDITS`] credits per channel in its request and one
//! more per element it takes out of its buffer ([`RemoteChannel::consumed`]). The server never
//! sends an element without a credit, so at most `INITIAL_CREDITS` elements of a channel are in
//! flight or buffered at the consumer; a producer whose consumer has no credit left fills its
//! bounded channel ([`CHANNEL_CAPACITY`](crate::exchange::ids::CHANNEL_CAPACITY)) and blocks.
//!
//! The wire format is described in `frame.rs`.

mod client;
mod frame;
mod server;
#[cfg(test)]
mod tests;
mod tls;

use crate::error::TaskError;
use crate::exchange::ids::{Message, SubpartitionId, CHANNEL_CAPACITY};
use crate::exchange::local::LocalShuffle;
use crossbeam_channel::{Receiver, Sender};
use parking_lot::Mutex;
use std::collections::{HashMap, HashSet};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use strom_common::JobId;

pub use client::RemoteChannel;

/// Credits a consumer grants per remote channel at start (= elements it can buffer).
pub const INITIAL_CREDITS: u32 = 4;

/// Counters of one environment (both directions, server and client connections together).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NetworkStats {
    pub bytes_sent: u64,
    pub bytes_received: u64,
    pub frames_sent: u64,
    pub frames_received: u64,
}

#[derive(Default)]
struct Counters {
    bytes_sent: AtomicU64,
    bytes_received: AtomicU64,
    frames_sent: AtomicU64,
    frames_received: AtomicU64,
}

impl Counters {
    fn sent(&self, bytes: usize) {
        self.bytes_sent.fetch_add(bytes as u64, Ordering::Relaxed);
        self.frames_sent.fetch_add(1, Ordering::Relaxed);
    }
    fn received(&self, bytes: usize) {
        self.bytes_received
            .fetch_add(bytes as u64, Ordering::Relaxed);
        self.frames_received.fetch_add(1, Ordering::Relaxed);
    }
}

/// A message to the writer thread of a server connection.
enum Control {
    Request {
        channel: u32,
        id: SubpartitionId,
        blocking: bool,
        credits: u32,
    },
    AddCredit {
        channel: u32,
        n: u32,
    },
    Cancel {
        channel: u32,
    },
    /// A subpartition was registered: retry the pending requests.
    Registered,
    /// Drop every channel of a job round.
    Release {
        job: JobId,
        round: u32,
    },
}

/// A live server connection, as known to the environment.
struct ServerConn {
    control: Sender<Control>,
    stream: TcpStream,
}

/// The client connection slot of one remote address (locked while connecting).
type ClientSlot = Arc<Mutex<Option<Arc<client::ClientConn>>>>;

/// State shared by the environment and its threads.
struct Shared {
    secret: Option<String>,
    /// `security.ssl.internal.enabled`: every connection, both ways, goes through TLS.
    tls: Option<Arc<strom_common::tls::Tls>>,
    shuffle: LocalShuffle,
    /// Pipelined subpartitions registered by producers and not yet requested.
    outgoing: Mutex<HashMap<SubpartitionId, Receiver<Message>>>,
    /// Job rounds released: their requests fail and their registrations are dropped at once.
    released: Mutex<HashSet<(JobId, u32)>>,
    server_conns: Mutex<HashMap<u64, ServerConn>>,
    clients: Mutex<HashMap<String, ClientSlot>>,
    next_conn: AtomicU64,
    counters: Counters,
    shutdown: AtomicBool,
}

impl Shared {
    fn is_released(&self, id: &SubpartitionId) -> bool {
        self.released.lock().contains(&(id.job, id.round))
    }
}

/// One per TaskManager process: a TCP listener (the data port) serving subpartitions to remote
/// consumers, and client connections to other TaskManagers for this TaskManager's consumers.
///
/// Dropping the environment stops the listener and closes every connection.
pub struct NetworkEnvironment {
    shared: Arc<Shared>,
    local_addr: SocketAddr,
}

impl NetworkEnvironment {
    /// Binds `bind_address:port` (port 0 = any free port) and starts serving. `secret`, when
    /// Some, must be presented by every connecting peer in the handshake (else the connection is
    /// refused). `shuffle` is where BLOCKING partitions are stored. The same secret is presented
    /// to the TaskManagers this environment connects to. With `tls`, connections both ways are
    /// mutually authenticated TLS (the secret travels inside).
    pub fn start(
        bind_address: &str,
        port: u16,
        (secret, tls): (Option<String>, Option<Arc<strom_common::tls::Tls>>),
        shuffle: LocalShuffle,
    ) -> std::io::Result<Arc<Self>> {
        let listener = TcpListener::bind((bind_address, port))?;
        let local_addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            secret,
            tls,
            shuffle,
            outgoing: Mutex::new(HashMap::new()),
            released: Mutex::new(HashSet::new()),
            server_conns: Mutex::new(HashMap::new()),
            clients: Mutex::new(HashMap::new()),
            next_conn: AtomicU64::new(0),
            counters: Counters::default(),
            shutdown: AtomicBool::new(false),
        });
        server::spawn_acceptor(listener, shared.clone())?;
        Ok(Arc::new(Self { shared, local_addr }))
    }

    /// The bound address (to report the data port).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Producer side of a PIPELINED subpartition with a consumer on another TaskManager: a
    /// bounded Sender (capacity `CHANNEL_CAPACITY`). The elements pushed into it are forwarded to
    /// the remote consumer once its request for `id` arrives, and only while it has credit. When
    /// the consumer goes away (connection closed, request canceled, job round released) the
    /// Receiver is dropped, so the producer's send fails with Disconnected.
    pub fn register_outgoing(&self, id: SubpartitionId) -> Sender<Message> {
        let (tx, rx) = crossbeam_channel::bounded(CHANNEL_CAPACITY);
        {
            // checked under the registry lock, so that a concurrent `release` cannot miss it
            let mut outgoing = self.shared.outgoing.lock();
            if self.shared.is_released(&id) {
                // the round is over: the producer's first send fails
                return tx;
            }
            outgoing.insert(id, rx);
        }
        for c in self.shared.server_conns.lock().values() {
            let _ = c.control.send(Control::Registered);
        }
        tx
    }

    /// Consumer side: requests subpartition `id` from the TaskManager whose data port is `addr`
    /// ("host:port"); `blocking` = the producer's result is a stored (BLOCKING) partition. Every
    /// element received is sent into `target` as `(channel, element)`. When the channel ends
    /// (after EndOfInput), fails (an Error frame) or its connection breaks, `target` is dropped.
    pub fn request(
        &self,
        addr: &str,
        id: SubpartitionId,
        blocking: bool,
        channel: u32,
        target: Sender<Message>,
    ) -> Result<RemoteChannel, TaskError> {
        client::request(&self.shared, addr, id, blocking, channel, target)
    }

    /// Drops every outgoing registration / pending request of a job round (job end or restart),
    /// on both the serving and the requesting side.
    pub fn release(&self, job: JobId, round: u32) {
        {
            let mut outgoing = self.shared.outgoing.lock();
            self.shared.released.lock().insert((job, round));
            outgoing.retain(|id, _| !(id.job == job && id.round == round));
        }
        for c in self.shared.server_conns.lock().values() {
            let _ = c.control.send(Control::Release { job, round });
        }
        let clients: Vec<ClientSlot> = self.shared.clients.lock().values().cloned().collect();
        for slot in clients {
            let conn = slot.lock().clone();
            if let Some(conn) = conn {
                conn.release(job, round);
            }
        }
    }

    /// Counters for metrics and benchmarks.
    pub fn stats(&self) -> NetworkStats {
        let c = &self.shared.counters;
        NetworkStats {
            bytes_sent: c.bytes_sent.load(Ordering::Relaxed),
            bytes_received: c.bytes_received.load(Ordering::Relaxed),
            frames_sent: c.frames_sent.load(Ordering::Relaxed),
            frames_received: c.frames_received.load(Ordering::Relaxed),
        }
    }
}

impl Drop for NetworkEnvironment {
    fn drop(&mut self) {
        self.shared.shutdown.store(true, Ordering::SeqCst);
        // wake the acceptor
        let mut wake = self.local_addr;
        if wake.ip().is_unspecified() {
            wake.set_ip(match wake {
                SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
                SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
            });
        }
        let _ = TcpStream::connect_timeout(&wake, std::time::Duration::from_secs(1));
        for c in self.shared.server_conns.lock().values() {
            let _ = c.stream.shutdown(Shutdown::Both);
        }
        let clients: Vec<ClientSlot> = self.shared.clients.lock().values().cloned().collect();
        for slot in clients {
            if let Some(conn) = slot.lock().take() {
                conn.close();
            }
        }
        self.shared.outgoing.lock().clear();
    }
}
