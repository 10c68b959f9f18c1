//! The serving side: the listener, and per accepted connection a reader thread (handshake,
//! requests, credits, cancels) and a writer thread that forwards the elements of the requested
//! subpartitions that have credit.

use super::frame::{encode, read_frame, write_frame, Frame, PROTOCOL_VERSION};
use super::tls::{self, DataReader, DataWriter};
use super::{Control, ServerConn, Shared};
use crate::element::StreamElement;
use crate::exchange::ids::{Message, SubpartitionId};
use crossbeam_channel::{unbounded, Receiver, RecvError, Select, Sender, TryRecvError};
use std::collections::{HashMap, VecDeque};
use std::io::{self, BufReader, BufWriter, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread;
use std::time::Duration;

/// How long a peer has to complete the handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How often pending requests are retried (besides the wake-up on every registration).
const PENDING_POLL: Duration = Duration::from_millis(20);
/// How long the writer waits when nothing is pending.
const IDLE_WAIT: Duration = Duration::from_millis(500);
const WRITE_BUFFER: usize = 64 * 1024;

pub(super) fn spawn_acceptor(listener: TcpListener, shared: Arc<Shared>) -> io::Result<()> {
    let port = listener.local_addr()?.port();
    thread::Builder::new()
        .name(format!("net-accept-{port}"))
        .spawn(move || {
            for stream in listener.incoming() {
                if shared.shutdown.load(Ordering::SeqCst) {
                    break;
                }
                let stream = match stream {
                    Ok(s) => s,
                    Err(e) => {
                        tracing::warn!("the data port {port} failed to accept a connection: {e}");
                        thread::sleep(Duration::from_millis(10));
                        continue;
                    }
                };
                let peer = match stream.peer_addr() {
                    Ok(p) => p,
                    Err(_) => continue,
                };
                let shared = shared.clone();
                let spawned = thread::Builder::new()
                    .name(format!("net-server-{peer}"))
                    .spawn(move || serve(stream, peer, shared));
                if let Err(e) = spawned {
                    tracing::warn!("cannot start a thread for the data connection of {peer}: {e}");
                }
            }
        })?;
    Ok(())
}

fn secret_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Runs the handshake; `Ok(true)` when the peer is accepted.
fn handshake(
    reader: &mut BufReader<DataReader>,
    writer: &mut BufWriter<DataWriter>,
    peer: SocketAddr,
    shared: &Shared,
) -> io::Result<bool> {
    let (version, secret) = match read_frame(reader)? {
        Some((Frame::Handshake { version, secret }, n)) => {
            shared.counters.received(n);
            (version, secret)
        }
        Some((other, _)) => {
            tracing::warn!(
                "refused a data connection from {peer}: it sent {} before the handshake",
                kind_name(&other)
            );
            return Ok(false);
        }
        None => return Ok(false),
    };
    let refusal = if version != PROTOCOL_VERSION {
        Some(format!(
            "protocol version mismatch: this TaskManager speaks version {PROTOCOL_VERSION}, the peer {version}"
        ))
    } else {
        match (&shared.secret, &secret) {
            (None, _) => None,
            (Some(_), None) => Some("a secret is required but none was presented".to_string()),
            (Some(expected), Some(given)) if !secret_eq(expected, given) => {
                Some("wrong secret".to_string())
            }
            _ => None,
        }
    };
    let mut scratch = Vec::new();
    if let Some(message) = refusal {
        tracing::warn!("refused a data connection from {peer}: {message}");
        let n = write_frame(writer, &Frame::HandshakeRefused { message }, &mut scratch)?;
        writer.flush()?;
        shared.counters.sent(n);
        return Ok(false);
    }
    let n = write_frame(writer, &Frame::HandshakeOk, &mut scratch)?;
    writer.flush()?;
    shared.counters.sent(n);
    Ok(true)
}

fn kind_name(f: &Frame) -> &'static str {
    match f {
        Frame::Handshake { .. } => "Handshake",
        Frame::HandshakeOk => "HandshakeOk",
        Frame::HandshakeRefused { .. } => "HandshakeRefused",
        Frame::PartitionRequest { .. } => "PartitionRequest",
        Frame::AddCredit { .. } => "AddCredit",
        Frame::CancelRequest { .. } => "CancelRequest",
        Frame::Data { .. } => "Data",
        Frame::Watermark { .. } => "Watermark",
        Frame::EndOfInput { .. } => "EndOfInput",
        Frame::Idle { .. } => "Idle",
        Frame::Barrier { .. } => "Barrier",
        Frame::Error { .. } => "Error",
    }
}

/// One accepted connection: handshake, then this thread reads while another one writes.
fn serve(stream: TcpStream, peer: SocketAddr, shared: Arc<Shared>) {
    let Some((mut reader, control, conn_id)) = open(&stream, peer, &shared) else {
        return;
    };
    read_requests(&mut reader, peer, &shared, &control);
    shared.server_conns.lock().remove(&conn_id);
    // dropping the last control sender stops the writer, which drops the receivers it holds
    drop(control);
    let _ = stream.shutdown(Shutdown::Both);
}

/// Sets the connection up: the handshake, its registration and its writer thread. None: the
/// connection is closed (refused, broken, or the server shuts down).
fn open(
    stream: &TcpStream,
    peer: SocketAddr,
    shared: &Arc<Shared>,
) -> Option<(BufReader<DataReader>, Sender<Control>, u64)> {
    let setup = || -> io::Result<(BufReader<DataReader>, BufWriter<DataWriter>, TcpStream)> {
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(HANDSHAKE_TIMEOUT))?;
        let side = shared.tls.as_ref().map(|t| tls::Side::Server(&t.server));
        let (reader, writer) = tls::split(stream, side)?;
        Ok((
            BufReader::new(reader),
            BufWriter::with_capacity(WRITE_BUFFER, writer),
            stream.try_clone()?,
        ))
    };
    let (mut reader, mut writer, registered) = match setup() {
        Ok(s) => s,
        Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
            tracing::warn!("refused a data connection from {peer}: {e}");
            return None;
        }
        Err(e) => {
            tracing::debug!("data connection from {peer} failed: {e}");
            return None;
        }
    };
    match handshake(&mut reader, &mut writer, peer, shared) {
        Ok(true) => {}
        Ok(false) => return None,
        Err(e) => {
            tracing::debug!("handshake with {peer} failed: {e}");
            return None;
        }
    }
    if stream.set_read_timeout(None).is_err() {
        return None;
    }
    let (control, control_rx) = unbounded();
    let conn_id = shared.next_conn.fetch_add(1, Ordering::Relaxed);
    shared.server_conns.lock().insert(
        conn_id,
        ServerConn {
            control: control.clone(),
            stream: registered,
        },
    );
    if shared.shutdown.load(Ordering::SeqCst) {
        shared.server_conns.lock().remove(&conn_id);
        return None;
    }
    let writer_shared = shared.clone();
    let writer_stream = stream.try_clone();
    let spawned = writer_stream.and_then(|ws| {
        thread::Builder::new()
            .name(format!("net-server-w-{peer}"))
            .spawn(move || {
                let mut w = ServerWriter {
                    channels: HashMap::new(),
                    out: writer,
                    scratch: Vec::new(),
                    dirty: false,
                    shared: writer_shared,
                };
                if let Err(e) = w.run(&control_rx) {
                    tracing::debug!("data connection to {peer} broke: {e}");
                }
                let _ = ws.shutdown(Shutdown::Both);
            })
    });
    if let Err(e) = spawned {
        tracing::warn!("cannot start the writer thread for the data connection of {peer}: {e}");
        shared.server_conns.lock().remove(&conn_id);
        return None;
    }
    Some((reader, control, conn_id))
}

/// Reads the peer's requests (partition requests, credits, cancellations) and hands them to
/// the writer, until the connection closes or the writer is gone.
fn read_requests(
    reader: &mut BufReader<DataReader>,
    peer: SocketAddr,
    shared: &Shared,
    control: &Sender<Control>,
) {
    loop {
        let frame = match read_frame(reader) {
            Ok(Some((f, n))) => {
                shared.counters.received(n);
                f
            }
            Ok(None) => break,
            Err(e) => {
                tracing::debug!("data connection from {peer} broke: {e}");
                break;
            }
        };
        let c = match frame {
            Frame::PartitionRequest {
                channel,
                id,
                blocking,
                credits,
            } => Control::Request {
                channel,
                id,
                blocking,
                credits,
            },
            Frame::AddCredit { channel, n } => Control::AddCredit { channel, n },
            Frame::CancelRequest { channel } => Control::Cancel { channel },
            other => {
                tracing::warn!(
                    "closing the data connection from {peer}: unexpected {} frame",
                    kind_name(&other)
                );
                break;
            }
        };
        if control.send(c).is_err() {
            break; // the writer is gone
        }
    }
}

enum Source {
    /// A pipelined subpartition not registered yet.
    Pending,
    Pipelined(Receiver<Message>),
    Stored(VecDeque<StreamElement>),
}

struct OutChannel {
    id: SubpartitionId,
    credits: u32,
    source: Source,
}

enum Event {
    Control(Control),
    Element(u32, Result<Message, RecvError>),
    Timeout,
    Closed,
}

struct ServerWriter {
    channels: HashMap<u32, OutChannel>,
    out: BufWriter<DataWriter>,
    scratch: Vec<u8>,
    dirty: bool,
    shared: Arc<Shared>,
}

impl ServerWriter {
    fn send(&mut self, frame: &Frame) -> io::Result<()> {
        let n = write_frame(&mut self.out, frame, &mut self.scratch)?;
        self.shared.counters.sent(n);
        self.dirty = true;
        Ok(())
    }

    /// Sends one element of a channel (the caller took its credit). An element that cannot be
    /// encoded fails its channel only.
    fn send_element(
        &mut self,
        channel: u32,
        id: SubpartitionId,
        e: StreamElement,
    ) -> io::Result<()> {
        self.scratch.clear();
        if let Err(err) = encode(&Frame::element(channel, e), &mut self.scratch) {
            return self.error(
                channel,
                format!("cannot send an element of {}: {err}", describe(&id)),
            );
        }
        self.out.write_all(&self.scratch)?;
        self.shared.counters.sent(self.scratch.len());
        self.dirty = true;
        Ok(())
    }

    fn error(&mut self, channel: u32, message: String) -> io::Result<()> {
        self.channels.remove(&channel);
        self.send(&Frame::Error { channel, message })
    }

    fn run(&mut self, control: &Receiver<Control>) -> io::Result<()> {
        loop {
            loop {
                match control.try_recv() {
                    Ok(c) => self.control(c)?,
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Disconnected) => return Ok(()),
                }
            }
            self.serve_stored()?;
            match self.next_event(control)? {
                Event::Control(c) => self.control(c)?,
                Event::Element(channel, msg) => self.element(channel, msg)?,
                Event::Timeout => self.claim_pending(),
                Event::Closed => return Ok(()),
            }
        }
    }

    /// Waits for a control message or an element of a pipelined channel with credit; flushes
    /// before waiting.
    fn next_event(&mut self, control: &Receiver<Control>) -> io::Result<Event> {
        let mut sel = Select::new();
        sel.recv(control);
        let mut ready: Vec<(u32, &Receiver<Message>)> = Vec::new();
        let mut pending = false;
        for (ch, o) in &self.channels {
            match &o.source {
                Source::Pipelined(rx) if o.credits > 0 => {
                    sel.recv(rx);
                    ready.push((*ch, rx));
                }
                Source::Pending => pending = true,
                _ => {}
            }
        }
        let oper = match sel.try_select() {
            Ok(op) => op,
            Err(_) => {
                if self.dirty {
                    self.out.flush()?;
                    self.dirty = false;
                }
                let wait = if pending { PENDING_POLL } else { IDLE_WAIT };
                match sel.select_timeout(wait) {
                    Ok(op) => op,
                    Err(_) => return Ok(Event::Timeout),
                }
            }
        };
        let i = oper.index();
        Ok(if i == 0 {
            match oper.recv(control) {
                Ok(c) => Event::Control(c),
                Err(_) => Event::Closed,
            }
        } else {
            let (ch, rx) = ready[i - 1];
            Event::Element(ch, oper.recv(rx))
        })
    }

    fn control(&mut self, c: Control) -> io::Result<()> {
        match c {
            Control::Request {
                channel,
                id,
                blocking,
                credits,
            } => {
                if self.shared.is_released(&id) {
                    return self.error(channel, format!("{} was released", describe(&id)));
                }
                let source = if blocking {
                    match self
                        .shared
                        .shuffle
                        .stored(id.partition_key(), id.consumer_subtask)
                    {
                        Some(elements) if !elements.is_empty() => Source::Stored(elements.into()),
                        _ => {
                            return self.error(
                                channel,
                                format!(
                                    "the stored result partition of {} is not available",
                                    describe(&id)
                                ),
                            )
                        }
                    }
                } else {
                    match self.shared.outgoing.lock().remove(&id) {
                        Some(rx) => Source::Pipelined(rx),
                        None => Source::Pending,
                    }
                };
                self.channels.insert(
                    channel,
                    OutChannel {
                        id,
                        credits,
                        source,
                    },
                );
            }
            Control::AddCredit { channel, n } => {
                if let Some(o) = self.channels.get_mut(&channel) {
                    o.credits = o.credits.saturating_add(n);
                }
            }
            Control::Cancel { channel } => {
                self.channels.remove(&channel);
            }
            Control::Registered => self.claim_pending(),
            Control::Release { job, round } => {
                let gone: Vec<u32> = self
                    .channels
                    .iter()
                    .filter(|(_, o)| o.id.job == job && o.id.round == round)
                    .map(|(ch, _)| *ch)
                    .collect();
                for ch in gone {
                    if let Some(o) = self.channels.remove(&ch) {
                        self.send(&Frame::Error {
                            channel: ch,
                            message: format!("{} was released", describe(&o.id)),
                        })?;
                    }
                }
            }
        }
        Ok(())
    }

    /// Claims the registrations of pending requests.
    fn claim_pending(&mut self) {
        if !self
            .channels
            .values()
            .any(|o| matches!(o.source, Source::Pending))
        {
            return;
        }
        let mut outgoing = self.shared.outgoing.lock();
        for o in self.channels.values_mut() {
            if matches!(o.source, Source::Pending) {
                if let Some(rx) = outgoing.remove(&o.id) {
                    o.source = Source::Pipelined(rx);
                }
            }
        }
    }

    fn element(&mut self, channel: u32, msg: Result<Message, RecvError>) -> io::Result<()> {
        match msg {
            Ok((_, e)) => {
                let Some(o) = self.channels.get_mut(&channel) else {
                    return Ok(());
                };
                o.credits -= 1;
                let id = o.id;
                if matches!(e, StreamElement::EndOfInput) {
                    self.channels.remove(&channel);
                }
                self.send_element(channel, id, e)
            }
            Err(_) => {
                let id = match self.channels.get(&channel) {
                    Some(o) => o.id,
                    None => return Ok(()),
                };
                self.error(
                    channel,
                    format!(
                        "the producer of {} ended without end of input",
                        describe(&id)
                    ),
                )
            }
        }
    }

    /// Sends what stored channels have credit for.
    fn serve_stored(&mut self) -> io::Result<()> {
        let ready: Vec<u32> = self
            .channels
            .iter()
            .filter(|(_, o)| o.credits > 0 && matches!(o.source, Source::Stored(_)))
            .map(|(ch, _)| *ch)
            .collect();
        for ch in ready {
            while let Some(o) = self.channels.get_mut(&ch) {
                if o.credits == 0 {
                    break;
                }
                let Source::Stored(queue) = &mut o.source else {
                    break;
                };
                match queue.pop_front() {
                    Some(e) => {
                        o.credits -= 1;
                        let id = o.id;
                        let end = matches!(e, StreamElement::EndOfInput);
                        if end {
                            self.channels.remove(&ch);
                        }
                        self.send_element(ch, id, e)?;
                        if end {
                            break;
                        }
                    }
                    None => {
                        let id = o.id;
                        self.error(
                            ch,
                            format!(
                                "the stored result partition of {} ended without end of input",
                                describe(&id)
                            ),
                        )?;
                        break;
                    }
                }
            }
        }
        Ok(())
    }
}

fn describe(id: &SubpartitionId) -> String {
    format!(
        "subpartition {}.{} -> {}.{} (input {}) of job {} round {}",
        id.producer,
        id.producer_subtask,
        id.consumer,
        id.consumer_subtask,
        id.input_index,
        id.job,
        id.round
    )
}
