//! The requesting side: one connection per remote TaskManager, with a writer thread (requests,
//! credits, cancels; credits coalesced) and a reader thread dispatching elements by channel to the
//! consumers' targets.

use super::frame::{read_frame, write_frame, Frame, PROTOCOL_VERSION};
use super::tls::{self, DataReader, DataWriter};
use super::{ClientSlot, Shared, INITIAL_CREDITS};
use crate::element::StreamElement;
use crate::error::TaskError;
use crate::exchange::ids::{Message, SubpartitionId};
use crossbeam_channel::{unbounded, Receiver, Sender};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::io::{self, BufReader, BufWriter, Write};
use std::net::{Shutdown, SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

const CONNECT_ATTEMPTS: u32 = 5;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
const FIRST_BACKOFF: Duration = Duration::from_millis(50);
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
const WRITE_BUFFER: usize = 16 * 1024;

enum Command {
    Request {
        channel: u32,
        id: SubpartitionId,
        blocking: bool,
    },
    Credit {
        channel: u32,
        n: u32,
    },
    Cancel {
        channel: u32,
    },
}

#[derive(Default)]
struct ChannelState {
    /// The channel ended (end of input, error, broken connection, release): no more credits.
    done: AtomicBool,
}

struct Registered {
    id: SubpartitionId,
    /// The consumer's channel index, tagged on every element.
    channel: u32,
    target: Sender<Message>,
    state: Arc<ChannelState>,
}

impl Drop for Registered {
    fn drop(&mut self) {
        self.state.done.store(true, Ordering::Relaxed);
    }
}

struct Channels {
    alive: bool,
    map: HashMap<u32, Registered>,
}

/// One connection to a remote TaskManager.
pub(super) struct ClientConn {
    commands: Sender<Command>,
    channels: Mutex<Channels>,
    next_channel: AtomicU32,
    stream: TcpStream,
}

impl ClientConn {
    fn is_alive(&self) -> bool {
        self.channels.lock().alive
    }

    /// Deregisters a channel; true when it was still registered.
    fn finish(&self, channel: u32) -> bool {
        self.channels.lock().map.remove(&channel).is_some()
    }

    /// Drops every channel of a job round and cancels them at the producer.
    pub(super) fn release(&self, job: strom_common::JobId, round: u32) {
        let gone: Vec<u32> = {
            let mut g = self.channels.lock();
            let gone: Vec<u32> = g
                .map
                .iter()
                .filter(|(_, r)| r.id.job == job && r.id.round == round)
                .map(|(ch, _)| *ch)
                .collect();
            for ch in &gone {
                g.map.remove(ch);
            }
            gone
        };
        for channel in gone {
            let _ = self.commands.send(Command::Cancel { channel });
        }
    }

    /// Closes the socket (the reader thread then drops every target).
    pub(super) fn close(&self) {
        let _ = self.stream.shutdown(Shutdown::Both);
    }

    /// The connection broke: drop every target.
    fn fail_all(&self) {
        let map = {
            let mut g = self.channels.lock();
            g.alive = false;
            std::mem::take(&mut g.map)
        };
        drop(map);
    }
}

/// Consumer handle of one remote channel. Dropping it before the end of input cancels the
/// request at the producer side.
pub struct RemoteChannel {
    conn: Arc<ClientConn>,
    /// Connection-local id.
    channel: u32,
    state: Arc<ChannelState>,
}

impl RemoteChannel {
    /// The consumer took one element of this channel out of its buffer: return one credit to the
    /// producer (credits are coalesced by the connection's writer thread).
    pub fn consumed(&self) {
        if !self.state.done.load(Ordering::Relaxed) {
            let _ = self.conn.commands.send(Command::Credit {
                channel: self.channel,
                n: 1,
            });
        }
    }
}

impl Drop for RemoteChannel {
    fn drop(&mut self) {
        if self.conn.finish(self.channel) {
            let _ = self.conn.commands.send(Command::Cancel {
                channel: self.channel,
            });
        }
    }
}

impl std::fmt::Debug for RemoteChannel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteChannel")
            .field("channel", &self.channel)
            .field("done", &self.state.done.load(Ordering::Relaxed))
            .finish()
    }
}

pub(super) fn request(
    shared: &Arc<Shared>,
    addr: &str,
    id: SubpartitionId,
    blocking: bool,
    channel: u32,
    target: Sender<Message>,
) -> Result<RemoteChannel, TaskError> {
    for _ in 0..3 {
        let conn = connection(shared, addr)?;
        let local = conn.next_channel.fetch_add(1, Ordering::Relaxed);
        let state = Arc::new(ChannelState::default());
        {
            let mut g = conn.channels.lock();
            if !g.alive {
                continue;
            }
            g.map.insert(
                local,
                Registered {
                    id,
                    channel,
                    target: target.clone(),
                    state: state.clone(),
                },
            );
        }
        let sent = conn.commands.send(Command::Request {
            channel: local,
            id,
            blocking,
        });
        if sent.is_err() {
            conn.finish(local);
            continue;
        }
        return Ok(RemoteChannel {
            conn,
            channel: local,
            state,
        });
    }
    Err(TaskError::Disconnected(format!(
        "the data connection to the TaskManager at {addr} broke while requesting a subpartition"
    )))
}

/// The live connection to `addr`, connecting if there is none.
fn connection(shared: &Arc<Shared>, addr: &str) -> Result<Arc<ClientConn>, TaskError> {
    let slot: ClientSlot = shared
        .clients
        .lock()
        .entry(addr.to_string())
        .or_default()
        .clone();
    let mut g = slot.lock();
    if let Some(c) = &*g {
        if c.is_alive() {
            return Ok(c.clone());
        }
    }
    let conn = connect(shared, addr, &slot)?;
    *g = Some(conn.clone());
    Ok(conn)
}

fn open(addr: &str) -> io::Result<TcpStream> {
    let mut backoff = FIRST_BACKOFF;
    let mut last = io::Error::new(io::ErrorKind::NotFound, "no address");
    for attempt in 0..CONNECT_ATTEMPTS {
        if attempt > 0 {
            thread::sleep(backoff);
            backoff *= 2;
        }
        let addrs: Vec<SocketAddr> = match addr.to_socket_addrs() {
            Ok(a) => a.collect(),
            Err(e) => {
                last = e;
                continue;
            }
        };
        for a in addrs {
            match TcpStream::connect_timeout(&a, CONNECT_TIMEOUT) {
                Ok(s) => return Ok(s),
                Err(e) => last = e,
            }
        }
    }
    Err(last)
}

fn connect(
    shared: &Arc<Shared>,
    addr: &str,
    slot: &ClientSlot,
) -> Result<Arc<ClientConn>, TaskError> {
    let io_err = |e: io::Error| {
        TaskError::Disconnected(format!(
            "cannot connect to the data port of the TaskManager at {addr}: {e}"
        ))
    };
    let stream = open(addr).map_err(io_err)?;
    stream.set_nodelay(true).map_err(io_err)?;
    stream
        .set_read_timeout(Some(HANDSHAKE_TIMEOUT))
        .map_err(io_err)?;
    let side = match &shared.tls {
        Some(tls) => Some(tls::Side::Client(
            &tls.client,
            strom_common::tls::server_name(addr)
                .map_err(|e| TaskError::Deployment(e.to_string()))?,
        )),
        None => None,
    };
    let (reader, writer) = tls::split(&stream, side).map_err(|e| {
        if e.kind() == io::ErrorKind::PermissionDenied {
            TaskError::Deployment(format!(
                "the TaskManager at {addr} refused the data connection: {e}"
            ))
        } else {
            io_err(e)
        }
    })?;
    let mut reader = BufReader::new(reader);
    let mut writer = BufWriter::with_capacity(WRITE_BUFFER, writer);
    let mut scratch = Vec::new();
    let hello = Frame::Handshake {
        version: PROTOCOL_VERSION,
        secret: shared.secret.clone(),
    };
    let n = write_frame(&mut writer, &hello, &mut scratch).map_err(io_err)?;
    writer.flush().map_err(io_err)?;
    shared.counters.sent(n);
    match read_frame(&mut reader).map_err(io_err)? {
        Some((Frame::HandshakeOk, n)) => shared.counters.received(n),
        Some((Frame::HandshakeRefused { message }, n)) => {
            shared.counters.received(n);
            return Err(TaskError::Deployment(format!(
                "the TaskManager at {addr} refused the data connection: {message}"
            )));
        }
        Some(_) => {
            return Err(TaskError::Disconnected(format!(
                "the TaskManager at {addr} answered the handshake with an unexpected frame"
            )))
        }
        None => return Err(io_err(io::ErrorKind::UnexpectedEof.into())),
    }
    stream.set_read_timeout(None).map_err(io_err)?;
    let (commands, commands_rx) = unbounded();
    let conn = Arc::new(ClientConn {
        commands,
        channels: Mutex::new(Channels {
            alive: true,
            map: HashMap::new(),
        }),
        next_channel: AtomicU32::new(0),
        stream: stream.try_clone().map_err(io_err)?,
    });
    let w_shared = shared.clone();
    let w_stream = stream.try_clone().map_err(io_err)?;
    let w_addr = addr.to_string();
    thread::Builder::new()
        .name(format!("net-client-w-{addr}"))
        .spawn(move || {
            if let Err(e) = write_loop(&commands_rx, &mut writer, &w_shared) {
                tracing::debug!("data connection to {w_addr} broke: {e}");
            }
            let _ = w_stream.shutdown(Shutdown::Both);
        })
        .map_err(io_err)?;
    let r_shared = shared.clone();
    let r_conn = conn.clone();
    let r_slot = slot.clone();
    let r_addr = addr.to_string();
    let spawned = thread::Builder::new()
        .name(format!("net-client-{addr}"))
        .spawn(move || {
            if let Err(e) = read_loop(&mut reader, &r_conn, &r_shared, &r_addr) {
                tracing::debug!("data connection to {r_addr} broke: {e}");
            }
            r_conn.fail_all();
            r_conn.close();
            let mut g = r_slot.lock();
            if g.as_ref().is_some_and(|c| Arc::ptr_eq(c, &r_conn)) {
                *g = None;
            }
        });
    if let Err(e) = spawned {
        conn.close();
        return Err(io_err(e));
    }
    Ok(conn)
}

fn write_loop(
    commands: &Receiver<Command>,
    out: &mut BufWriter<DataWriter>,
    shared: &Shared,
) -> io::Result<()> {
    let mut scratch = Vec::new();
    let mut credits: HashMap<u32, u32> = HashMap::new();
    let mut send = |out: &mut BufWriter<DataWriter>, f: &Frame| -> io::Result<()> {
        let n = write_frame(out, f, &mut scratch)?;
        shared.counters.sent(n);
        Ok(())
    };
    while let Ok(first) = commands.recv() {
        let mut next = Some(first);
        while let Some(cmd) = next {
            match cmd {
                Command::Request {
                    channel,
                    id,
                    blocking,
                } => send(
                    out,
                    &Frame::PartitionRequest {
                        channel,
                        id,
                        blocking,
                        credits: INITIAL_CREDITS,
                    },
                )?,
                Command::Credit { channel, n } => *credits.entry(channel).or_default() += n,
                Command::Cancel { channel } => {
                    credits.remove(&channel);
                    send(out, &Frame::CancelRequest { channel })?;
                }
            }
            next = commands.try_recv().ok();
        }
        for (channel, n) in credits.drain() {
            send(out, &Frame::AddCredit { channel, n })?;
        }
        out.flush()?;
    }
    Ok(())
}

fn read_loop(
    reader: &mut BufReader<DataReader>,
    conn: &ClientConn,
    shared: &Shared,
    addr: &str,
) -> io::Result<()> {
    while let Some((frame, n)) = read_frame(reader)? {
        shared.counters.received(n);
        let (channel, element) = match frame {
            Frame::Data { channel, batch } => (channel, StreamElement::Batch(batch)),
            Frame::Watermark { channel, watermark } => {
                (channel, StreamElement::Watermark(watermark))
            }
            Frame::EndOfInput { channel } => (channel, StreamElement::EndOfInput),
            Frame::Idle { channel } => (channel, StreamElement::Idle),
            Frame::Barrier {
                channel,
                id,
                timestamp,
            } => (channel, StreamElement::Barrier { id, timestamp }),
            Frame::Error { channel, message } => {
                let gone = conn.channels.lock().map.remove(&channel);
                if gone.is_some() {
                    tracing::warn!("the TaskManager at {addr} failed a remote channel: {message}");
                }
                continue;
            }
            _ => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "unexpected frame from the server",
                ))
            }
        };
        let end = matches!(element, StreamElement::EndOfInput);
        let mut g = conn.channels.lock();
        if let Some(r) = g.map.get(&channel) {
            // unbounded: never blocks; a consumer that dropped its receiver drops its
            // RemoteChannel too, which cancels the request
            let _ = r.target.send((r.channel, element));
            if end {
                g.map.remove(&channel);
            }
        }
    }
    Ok(())
}
