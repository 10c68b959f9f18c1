//! The wire format of the data plane.
//!
//! Every frame is `u32 length (big-endian) | u8 kind | fields`, where `length` counts the kind byte
//! and the fields. All integers are big-endian; a string is `u32 length | UTF-8 bytes`; a
//! `SubpartitionId` is a fixed 64-byte layout (`job u128 | round u32 | producer u128 |
//! producer_subtask u32 | consumer u128 | consumer_subtask u32 | input_index u32`).
//!
//! | kind | frame            | fields                                                         |
//! |------|------------------|----------------------------------------------------------------|
//! | 1    | Handshake        | version u32, has_secret u8, [secret string]                    |
//! | 2    | HandshakeOk      |                                                                |
//! | 3    | HandshakeRefused | message string                                                 |
//! | 4    | PartitionRequest | channel u32, SubpartitionId, blocking u8, initial credits u32  |
//! | 5    | AddCredit        | channel u32, n u32                                             |
//! | 6    | CancelRequest    | channel u32                                                    |
//! | 7    | Data             | channel u32, Arrow IPC stream (schema + one batch) to the end  |
//! | 8    | Watermark        | channel u32, watermark i64                                     |
//! | 9    | EndOfInput       | channel u32                                                    |
//! | 10   | Error            | channel u32, message string                                    |
//! | 11   | Idle             | channel u32                                                    |
//! | 12   | Barrier          | channel u32, checkpoint id u64, timestamp i64                  |
//!
//! `channel` is chosen by the client and only meaningful on its connection.

use crate::element::StreamElement;
use crate::exchange::ids::SubpartitionId;
use arrow::ipc::reader::StreamReader;
use arrow::ipc::writer::StreamWriter;
use datafusion::arrow::record_batch::RecordBatch;
use std::io::{self, Read, Write};
use strom_common::{JobId, VertexId};

/// Version of the data-plane protocol, checked in the handshake.
pub(crate) const PROTOCOL_VERSION: u32 = 1;

/// Largest frame accepted (sanity bound against a corrupt stream).
pub(crate) const MAX_FRAME_LEN: u32 = 1 << 30;

const HANDSHAKE: u8 = 1;
const HANDSHAKE_OK: u8 = 2;
const HANDSHAKE_REFUSED: u8 = 3;
const PARTITION_REQUEST: u8 = 4;
const ADD_CREDIT: u8 = 5;
const CANCEL_REQUEST: u8 = 6;
const DATA: u8 = 7;
const WATERMARK: u8 = 8;
const END_OF_INPUT: u8 = 9;
const ERROR: u8 = 10;
const IDLE: u8 = 11;
const BARRIER: u8 = 12;

/// One frame of the protocol.
#[derive(Debug, Clone)]
pub(crate) enum Frame {
    Handshake {
        version: u32,
        secret: Option<String>,
    },
    HandshakeOk,
    HandshakeRefused {
        message: String,
    },
    PartitionRequest {
        channel: u32,
        id: SubpartitionId,
        blocking: bool,
        credits: u32,
    },
    AddCredit {
        channel: u32,
        n: u32,
    },
    CancelRequest {
        channel: u32,
    },
    Data {
        channel: u32,
        batch: RecordBatch,
    },
    Watermark {
        channel: u32,
        watermark: i64,
    },
    EndOfInput {
        channel: u32,
    },
    Idle {
        channel: u32,
    },
    Barrier {
        channel: u32,
        id: u64,
        timestamp: i64,
    },
    Error {
        channel: u32,
        message: String,
    },
}

impl Frame {
    /// The frame carrying one stream element on `channel`.
    pub(crate) fn element(channel: u32, e: StreamElement) -> Frame {
        match e {
            StreamElement::Batch(batch) => Frame::Data { channel, batch },
            StreamElement::Watermark(watermark) => Frame::Watermark { channel, watermark },
            StreamElement::EndOfInput => Frame::EndOfInput { channel },
            StreamElement::Idle => Frame::Idle { channel },
            StreamElement::Barrier { id, timestamp } => Frame::Barrier {
                channel,
                id,
                timestamp,
            },
        }
    }
}

fn put_u32(buf: &mut Vec<u8>, v: u32) {
    buf.extend_from_slice(&v.to_be_bytes());
}

fn put_str(buf: &mut Vec<u8>, s: &str) {
    put_u32(buf, s.len() as u32);
    buf.extend_from_slice(s.as_bytes());
}

fn put_id(buf: &mut Vec<u8>, id: &SubpartitionId) {
    buf.extend_from_slice(&id.job.0.to_be_bytes());
    put_u32(buf, id.round);
    buf.extend_from_slice(&id.producer.0.to_be_bytes());
    put_u32(buf, id.producer_subtask);
    buf.extend_from_slice(&id.consumer.0.to_be_bytes());
    put_u32(buf, id.consumer_subtask);
    put_u32(buf, id.input_index);
}

fn invalid(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.into())
}

/// Encodes `frame` (length prefix included) at the end of `buf`.
pub(crate) fn encode(frame: &Frame, buf: &mut Vec<u8>) -> io::Result<()> {
    let start = buf.len();
    put_u32(buf, 0); // length, patched below
    match frame {
        Frame::Handshake { version, secret } => {
            buf.push(HANDSHAKE);
            put_u32(buf, *version);
            match secret {
                Some(s) => {
                    buf.push(1);
                    put_str(buf, s);
                }
                None => buf.push(0),
            }
        }
        Frame::HandshakeOk => buf.push(HANDSHAKE_OK),
        Frame::HandshakeRefused { message } => {
            buf.push(HANDSHAKE_REFUSED);
            put_str(buf, message);
        }
        Frame::PartitionRequest {
            channel,
            id,
            blocking,
            credits,
        } => {
            buf.push(PARTITION_REQUEST);
            put_u32(buf, *channel);
            put_id(buf, id);
            buf.push(u8::from(*blocking));
            put_u32(buf, *credits);
        }
        Frame::AddCredit { channel, n } => {
            buf.push(ADD_CREDIT);
            put_u32(buf, *channel);
            put_u32(buf, *n);
        }
        Frame::CancelRequest { channel } => {
            buf.push(CANCEL_REQUEST);
            put_u32(buf, *channel);
        }
        Frame::Data { channel, batch } => {
            buf.push(DATA);
            put_u32(buf, *channel);
            let mut w = StreamWriter::try_new(&mut *buf, batch.schema_ref())
                .map_err(|e| invalid(format!("cannot encode a batch: {e}")))?;
            w.write(batch)
                .and_then(|_| w.finish())
                .map_err(|e| invalid(format!("cannot encode a batch: {e}")))?;
        }
        Frame::Watermark { channel, watermark } => {
            buf.push(WATERMARK);
            put_u32(buf, *channel);
            buf.extend_from_slice(&watermark.to_be_bytes());
        }
        Frame::EndOfInput { channel } => {
            buf.push(END_OF_INPUT);
            put_u32(buf, *channel);
        }
        Frame::Idle { channel } => {
            buf.push(IDLE);
            put_u32(buf, *channel);
        }
        Frame::Barrier {
            channel,
            id,
            timestamp,
        } => {
            buf.push(BARRIER);
            put_u32(buf, *channel);
            buf.extend_from_slice(&id.to_be_bytes());
            buf.extend_from_slice(&timestamp.to_be_bytes());
        }
        Frame::Error { channel, message } => {
            buf.push(ERROR);
            put_u32(buf, *channel);
            put_str(buf, message);
        }
    }
    let len = buf.len() - start - 4;
    if len > MAX_FRAME_LEN as usize {
        buf.truncate(start);
        return Err(invalid(format!(
            "a frame of {len} bytes exceeds the limit of {MAX_FRAME_LEN} bytes"
        )));
    }
    buf[start..start + 4].copy_from_slice(&(len as u32).to_be_bytes());
    Ok(())
}

/// Writes one frame; returns the number of bytes written. `scratch` is a reusable buffer.
pub(crate) fn write_frame(
    w: &mut impl Write,
    frame: &Frame,
    scratch: &mut Vec<u8>,
) -> io::Result<usize> {
    scratch.clear();
    encode(frame, scratch)?;
    w.write_all(scratch)?;
    Ok(scratch.len())
}

/// Reads one frame; `Ok(None)` at a clean end of stream (between frames). Returns the frame and
/// the number of bytes it took on the wire.
pub(crate) fn read_frame(r: &mut impl Read) -> io::Result<Option<(Frame, usize)>> {
    let mut len = [0u8; 4];
    let mut got = 0;
    while got < 4 {
        match r.read(&mut len[got..]) {
            Ok(0) if got == 0 => return Ok(None),
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    let len = u32::from_be_bytes(len);
    if len == 0 || len > MAX_FRAME_LEN {
        return Err(invalid(format!("bad frame length {len}")));
    }
    let mut body = vec![0u8; len as usize];
    r.read_exact(&mut body)?;
    Ok(Some((decode(&body)?, 4 + len as usize)))
}

struct Cursor<'a> {
    buf: &'a [u8],
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> io::Result<&'a [u8]> {
        if self.buf.len() < n {
            return Err(invalid("truncated frame"));
        }
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        Ok(head)
    }
    /// The next `N` bytes as an array.
    fn array<const N: usize>(&mut self) -> io::Result<[u8; N]> {
        let mut out = [0; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }
    fn u8(&mut self) -> io::Result<u8> {
        Ok(self.take(1)?[0])
    }
    fn u32(&mut self) -> io::Result<u32> {
        self.array().map(u32::from_be_bytes)
    }
    fn i64(&mut self) -> io::Result<i64> {
        self.array().map(i64::from_be_bytes)
    }
    fn u128(&mut self) -> io::Result<u128> {
        self.array().map(u128::from_be_bytes)
    }
    fn bool(&mut self) -> io::Result<bool> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            b => Err(invalid(format!("bad flag {b}"))),
        }
    }
    fn string(&mut self) -> io::Result<String> {
        let n = self.u32()? as usize;
        String::from_utf8(self.take(n)?.to_vec()).map_err(|_| invalid("a string is not UTF-8"))
    }
    fn id(&mut self) -> io::Result<SubpartitionId> {
        Ok(SubpartitionId {
            job: JobId(self.u128()?),
            round: self.u32()?,
            producer: VertexId(self.u128()?),
            producer_subtask: self.u32()?,
            consumer: VertexId(self.u128()?),
            consumer_subtask: self.u32()?,
            input_index: self.u32()?,
        })
    }
    fn end(&self) -> io::Result<()> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(invalid("trailing bytes in a frame"))
        }
    }
}

/// Decodes a frame body (kind + fields, without the length prefix).
pub(crate) fn decode(body: &[u8]) -> io::Result<Frame> {
    let mut c = Cursor { buf: body };
    let kind = c.u8()?;
    let frame = match kind {
        HANDSHAKE => {
            let version = c.u32()?;
            let secret = if c.bool()? { Some(c.string()?) } else { None };
            Frame::Handshake { version, secret }
        }
        HANDSHAKE_OK => Frame::HandshakeOk,
        HANDSHAKE_REFUSED => Frame::HandshakeRefused {
            message: c.string()?,
        },
        PARTITION_REQUEST => Frame::PartitionRequest {
            channel: c.u32()?,
            id: c.id()?,
            blocking: c.bool()?,
            credits: c.u32()?,
        },
        ADD_CREDIT => Frame::AddCredit {
            channel: c.u32()?,
            n: c.u32()?,
        },
        CANCEL_REQUEST => Frame::CancelRequest { channel: c.u32()? },
        DATA => {
            let channel = c.u32()?;
            let bytes = std::mem::take(&mut c.buf);
            let mut reader = StreamReader::try_new(bytes, None)
                .map_err(|e| invalid(format!("cannot decode a batch: {e}")))?;
            let batch = reader
                .next()
                .ok_or_else(|| invalid("a data frame without a batch"))?
                .map_err(|e| invalid(format!("cannot decode a batch: {e}")))?;
            Frame::Data { channel, batch }
        }
        WATERMARK => Frame::Watermark {
            channel: c.u32()?,
            watermark: c.i64()?,
        },
        END_OF_INPUT => Frame::EndOfInput { channel: c.u32()? },
        IDLE => Frame::Idle { channel: c.u32()? },
        BARRIER => Frame::Barrier {
            channel: c.u32()?,
            id: c.i64()? as u64,
            timestamp: c.i64()?,
        },
        ERROR => Frame::Error {
            channel: c.u32()?,
            message: c.string()?,
        },
        k => return Err(invalid(format!("unknown frame kind {k}"))),
    };
    c.end()?;
    Ok(frame)
}
