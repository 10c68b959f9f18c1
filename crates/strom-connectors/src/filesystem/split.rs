//! Input listing and parallel splits of line-oriented files.
//!
//! The input (one file, or every regular non-hidden file of a directory in natural name order)
//! is seen as the concatenation of its files, cut into [`SPLITS`] byte ranges of equal size
//! (split `j` is `[total*j/SPLITS, total*(j+1)/SPLITS)`; a split that crosses files is one piece
//! per file). The splits do not depend on the parallelism, so a checkpointed position (see
//! [`super::position`]) names the same splits at any parallelism. Subtask `k` of `p` reads the
//! splits `j` with `j*p/SPLITS == k`: a contiguous run, so its pieces in one file merge into one
//! [`FileSlice`]. (More than `SPLITS` subtasks leave some without input.)
//!
//! A slice owns every line that STARTS in its range: a slice starting in the middle of a line
//! skips to the next line start, and the last line it owns is read to its end even past the
//! range end. Lines never span files (the last line of a file may lack its newline). Every line
//! is therefore read exactly once, for any parallelism, and each subtask reads its lines in file
//! order. A slice can start reading at `from` > `start`: the lines starting in `[start, from)`
//! were read before a restart (`from` is then the start of the next unread line).
//!
//! Line numbers are only needed for error messages, so a subtask that starts in the middle of a
//! file counts the newlines before its first line lazily, when an error is reported.

use memchr::{memchr, memrchr};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{channel, sync_channel, Receiver, Sender};
use strom_runtime::ConnectorError;

/// Default size of one read.
pub const DEFAULT_CHUNK: usize = 512 << 10;

/// Default longest line (`'source.line.max-length'`): a longer line fails the read instead of
/// growing the buffer without bound.
pub const DEFAULT_MAX_LINE: usize = 64 << 20;

/// One input file and its size at listing time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputFile {
    pub path: PathBuf,
    pub len: u64,
}

fn io_err(path: &Path, what: &str, e: std::io::Error) -> ConnectorError {
    ConnectorError::Io(format!("cannot {what} '{}': {e}", path.display()))
}

/// Whether a directory entry name is hidden (`.x`, or `_x` like Flink's `_SUCCESS`).
fn hidden(name: &str) -> bool {
    name.starts_with('.') || name.starts_with('_')
}

/// Compares names so that digit runs compare by value (`part-2` before `part-10`).
pub fn natural_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        if a[i].is_ascii_digit() && b[j].is_ascii_digit() {
            let si = i;
            while i < a.len() && a[i].is_ascii_digit() {
                i += 1;
            }
            let sj = j;
            while j < b.len() && b[j].is_ascii_digit() {
                j += 1;
            }
            let da = trim_zeros(&a[si..i]);
            let db = trim_zeros(&b[sj..j]);
            let ord = da.len().cmp(&db.len()).then_with(|| da.cmp(db));
            if ord != Ordering::Equal {
                return ord;
            }
        } else {
            let ord = a[i].cmp(&b[j]);
            if ord != Ordering::Equal {
                return ord;
            }
            i += 1;
            j += 1;
        }
    }
    (a.len() - i).cmp(&(b.len() - j)).then_with(|| a.cmp(b))
}

fn trim_zeros(d: &[u8]) -> &[u8] {
    let k = d.iter().position(|&c| c != b'0').unwrap_or(d.len());
    &d[k..]
}

/// Lists the input of `path`: the file itself, or the regular non-hidden files of a directory
/// (not recursive) in natural name order.
pub fn list_input(path: &Path) -> Result<Vec<InputFile>, ConnectorError> {
    let meta = std::fs::metadata(path).map_err(|e| {
        ConnectorError::Io(format!(
            "input path '{}' cannot be read: {e}; check the table's 'path' option (a file or a directory of files)",
            path.display()
        ))
    })?;
    if meta.is_file() {
        return Ok(vec![InputFile {
            path: path.to_path_buf(),
            len: meta.len(),
        }]);
    }
    if !meta.is_dir() {
        return Err(ConnectorError::Io(format!(
            "input path '{}' is neither a regular file nor a directory",
            path.display()
        )));
    }
    let mut files = Vec::new();
    for entry in std::fs::read_dir(path).map_err(|e| io_err(path, "list directory", e))? {
        let entry = entry.map_err(|e| io_err(path, "list directory", e))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if hidden(name) {
            continue;
        }
        let p = entry.path();
        // follows symlinks
        let Ok(m) = std::fs::metadata(&p) else {
            continue;
        };
        if m.is_file() {
            files.push((
                name.to_string(),
                InputFile {
                    path: p,
                    len: m.len(),
                },
            ));
        }
    }
    files.sort_by(|a, b| natural_cmp(&a.0, &b.0));
    Ok(files.into_iter().map(|(_, f)| f).collect())
}

/// Number of splits of the input (independent of the parallelism).
pub const SPLITS: u32 = 1024;

/// The part of one file a subtask owns: lines starting in `[start, end)` (file offsets), of
/// which those starting in `[from, end)` are still to be read (`from == start` unless restored;
/// `from == end`: every line was read).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileSlice {
    pub file: usize,
    pub start: u64,
    pub from: u64,
    pub end: u64,
}

impl FileSlice {
    /// All its lines were read.
    pub fn is_done(&self) -> bool {
        self.from >= self.end
    }
}

/// Every split piece of the input, in input order: `(split index, piece)`. Empty pieces are
/// left out.
pub fn plan_pieces(files: &[InputFile]) -> Vec<(u32, FileSlice)> {
    let total: u128 = files.iter().map(|f| f.len as u128).sum();
    let bound = |j: u32| (total * j as u128 / SPLITS as u128) as u64;
    let mut out = Vec::new();
    let mut g = 0u64;
    let mut j = 0u32;
    for (i, f) in files.iter().enumerate() {
        let (fs, fe) = (g, g + f.len);
        g = fe;
        while j < SPLITS && fs < fe {
            let (s, e) = (bound(j).max(fs), bound(j + 1).min(fe));
            if s < e {
                out.push((
                    j,
                    FileSlice {
                        file: i,
                        start: s - fs,
                        from: s - fs,
                        end: e - fs,
                    },
                ));
            }
            if bound(j + 1) > fe {
                break; // the split goes on in the next file
            }
            j += 1;
        }
    }
    out
}

/// The subtask of `parallelism` that reads split `split`.
pub fn split_owner(split: u32, parallelism: u32) -> u32 {
    (split as u64 * parallelism.max(1) as u64 / SPLITS as u64) as u32
}

/// Joins adjacent pieces of one file when what is left to read of them is contiguous.
pub fn merge_slices(pieces: impl IntoIterator<Item = FileSlice>) -> Vec<FileSlice> {
    let mut out: Vec<FileSlice> = Vec::new();
    for b in pieces {
        if let Some(a) = out.last_mut() {
            if a.file == b.file && a.end == b.start && (a.is_done() || b.from == b.start) {
                a.from = if a.is_done() { b.from } else { a.from };
                a.end = b.end;
                continue;
            }
        }
        out.push(b);
    }
    out
}

/// The slices of subtask `index` of `parallelism` over `files`.
pub fn plan_split(files: &[InputFile], index: u32, parallelism: u32) -> Vec<FileSlice> {
    let p = parallelism.max(1);
    let k = index.min(p - 1);
    merge_slices(
        plan_pieces(files)
            .into_iter()
            .filter(|(j, _)| split_owner(*j, p) == k)
            .map(|(_, s)| s),
    )
}

struct Current {
    slice: FileSlice,
    /// The file's bytes from the slice on, read ahead on a thread of its own.
    blocks: Prefetch,
    /// File offset of `buf[0]` (below zero when `buf` starts with unfilled headroom).
    buf_off: i64,
    /// Start of the next unconsumed line.
    pos: usize,
    /// End of valid bytes in the buffer.
    filled: usize,
    /// End of the owned complete lines available (`pos..complete`).
    complete: usize,
    eof: bool,
    /// No owned lines beyond `complete`.
    done: bool,
    /// Still looking for the first line start (slice starting mid-file).
    skipping: bool,
    /// File offset of the first owned line.
    first_line_start: u64,
    /// Lines consumed so far in this slice.
    lines: u64,
}

/// Reads the lines a subtask owns, in chunks of complete lines.
pub struct SplitReader {
    files: Vec<InputFile>,
    slices: Vec<FileSlice>,
    next_slice: usize,
    cur: Option<Current>,
    buf: Vec<u8>,
    /// Bytes of one read.
    chunk: usize,
    bytes_read: u64,
    generation: u64,
    /// The longest line the buffer grows for.
    max_line: usize,
}

/// A run of complete lines (each ends with `\n`, except possibly the last line of a file).
pub struct Lines<'a> {
    pub data: &'a [u8],
    /// Lines of the current slice consumed before `data` (so the first line of `data` is line
    /// `lines_before + 1` of the slice).
    pub lines_before: u64,
    /// Changes whenever buffer contents move (new read or next file).
    pub generation: u64,
    /// Offset of `data[0]` in the reader's buffer (stable within one generation).
    pub buf_pos: usize,
}

impl SplitReader {
    pub fn new(files: Vec<InputFile>, slices: Vec<FileSlice>, chunk: usize) -> Self {
        Self {
            files,
            slices,
            next_slice: 0,
            cur: None,
            buf: Vec::new(),
            chunk: chunk.max(1),
            bytes_read: 0,
            generation: 0,
            max_line: DEFAULT_MAX_LINE,
        }
    }

    /// Fails a read on a line longer than `max` bytes (instead of buffering it whole).
    pub fn with_max_line(mut self, max: usize) -> Self {
        self.max_line = max.max(1);
        self
    }

    /// The input files.
    pub fn files(&self) -> &[InputFile] {
        &self.files
    }

    /// The slices with `from` moved to the start of the next line not yet consumed (`end` when
    /// every line of a slice was): where a restarted reader resumes.
    pub fn progress(&self) -> Vec<FileSlice> {
        let current = self.next_slice.checked_sub(1);
        self.slices
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let from = if i >= self.next_slice {
                    s.from
                } else if Some(i) != current {
                    s.end
                } else {
                    match &self.cur {
                        None => s.end,
                        // still looking for the first line: nothing of the slice consumed
                        Some(c) if c.skipping => s.from,
                        Some(c) if c.done && c.pos >= c.complete => s.end,
                        Some(c) => (c.buf_off + c.pos as i64) as u64,
                    }
                };
                FileSlice {
                    from: from.max(s.from).min(s.end),
                    ..*s
                }
            })
            .collect()
    }

    /// Bytes read from files so far.
    pub fn bytes_read(&self) -> u64 {
        self.bytes_read
    }

    /// The path of the file being read.
    pub fn current_path(&self) -> &Path {
        match &self.cur {
            Some(c) => &self.files[c.slice.file].path,
            None => Path::new(""),
        }
    }

    /// Ensures complete lines are available; `false` at the end of this subtask's input.
    pub fn fill(&mut self) -> Result<bool, ConnectorError> {
        loop {
            match self.cur.as_mut() {
                Some(c) => {
                    if c.pos < c.complete {
                        return Ok(true);
                    }
                    if c.done {
                        self.cur = None;
                        continue;
                    }
                    let path = &self.files[c.slice.file].path;
                    self.generation += 1;
                    read_more(c, &mut self.buf, &mut self.bytes_read, path, self.max_line)?;
                    scan(c, &self.buf);
                }
                None => {
                    let Some(slice) = self.slices.get(self.next_slice).copied() else {
                        return Ok(false);
                    };
                    self.next_slice += 1;
                    if slice.is_done() {
                        continue;
                    }
                    let path = &self.files[slice.file].path;
                    let mut file = File::open(path).map_err(|e| io_err(path, "open", e))?;
                    let seek_to = slice.from.saturating_sub(1);
                    if seek_to > 0 {
                        file.seek(SeekFrom::Start(seek_to))
                            .map_err(|e| io_err(path, "seek in", e))?;
                    }
                    let blocks = Prefetch::start(file, seek_to, slice.end, self.chunk, path)?;
                    self.generation += 1;
                    self.cur = Some(Current {
                        slice,
                        blocks,
                        buf_off: seek_to as i64,
                        pos: 0,
                        filled: 0,
                        complete: 0,
                        eof: false,
                        done: false,
                        skipping: slice.from > 0,
                        first_line_start: 0,
                        lines: 0,
                    });
                }
            }
        }
    }

    /// The complete lines available (call after [`fill`](Self::fill) returned `true`).
    pub fn lines(&self) -> Lines<'_> {
        match &self.cur {
            Some(c) => Lines {
                data: &self.buf[c.pos..c.complete],
                lines_before: c.lines,
                generation: self.generation,
                buf_pos: c.pos,
            },
            None => Lines {
                data: &[],
                lines_before: 0,
                generation: self.generation,
                buf_pos: 0,
            },
        }
    }

    /// Marks `bytes` bytes (whole lines, `lines` of them) of [`lines`](Self::lines) consumed.
    pub fn consume(&mut self, bytes: usize, lines: u64) {
        if let Some(c) = self.cur.as_mut() {
            c.pos = (c.pos + bytes).min(c.complete);
            c.lines += lines;
        }
    }

    /// The 1-based line number within its file of line `line_in_slice` (1-based) of the
    /// current slice. Counts the newlines before the slice's first line when the slice starts
    /// mid-file (only done for error messages).
    pub fn file_line_number(&self, line_in_slice: u64) -> u64 {
        let Some(c) = &self.cur else {
            return line_in_slice;
        };
        if c.first_line_start == 0 {
            return line_in_slice;
        }
        let path = &self.files[c.slice.file].path;
        match count_newlines(path, c.first_line_start) {
            Ok(n) => n + line_in_slice,
            Err(_) => line_in_slice,
        }
    }
}

/// Newlines in the first `upto` bytes of a file.
pub fn count_newlines(path: &Path, upto: u64) -> std::io::Result<u64> {
    let mut f = File::open(path)?;
    let mut buf = vec![0u8; 1 << 20];
    let mut left = upto;
    let mut n = 0u64;
    while left > 0 {
        let want = (buf.len() as u64).min(left) as usize;
        let got = f.read(&mut buf[..want])?;
        if got == 0 {
            break;
        }
        n += memchr::memchr_iter(b'\n', &buf[..got]).count() as u64;
        left -= got as u64;
    }
    Ok(n)
}

fn read_more(
    c: &mut Current,
    buf: &mut Vec<u8>,
    bytes_read: &mut u64,
    path: &Path,
    max_line: usize,
) -> Result<(), ConnectorError> {
    let partial = c.filled - c.pos;
    if partial > max_line && !c.skipping {
        // the same data fails every attempt: a parse error (the job fails, no restarts)
        return Err(ConnectorError::Parse(format!(
            "a line of '{}' starting at byte {} is longer than 'source.line.max-length' = {max_line} bytes; raise the option if such lines are expected",
            path.display(),
            c.buf_off + c.pos as i64
        )));
    }
    let (mut block, len) = c.blocks.next().map_err(|e| io_err(path, "read", e))?;
    if len == 0 {
        c.eof = true;
        c.blocks.recycle(block);
        return Ok(());
    }
    *bytes_read += len as u64;
    let line_off = c.buf_off + c.pos as i64;
    if partial <= HEADROOM {
        // the unfinished line goes into the headroom just before the new bytes
        let start = HEADROOM - partial;
        block[start..HEADROOM].copy_from_slice(&buf[c.pos..c.filled]);
        c.blocks.recycle(std::mem::replace(buf, block));
        c.buf_off = line_off - start as i64;
        c.pos = start;
        c.filled = HEADROOM + len;
    } else {
        // a long line: the buffer grows (amortized: the line moves to the front once)
        if c.pos > 0 {
            buf.copy_within(c.pos..c.filled, 0);
        }
        buf.truncate(partial);
        buf.extend_from_slice(&block[HEADROOM..HEADROOM + len]);
        c.blocks.recycle(block);
        c.buf_off = line_off;
        c.pos = 0;
        c.filled = buf.len();
    }
    c.complete = c.pos;
    Ok(())
}

/// Bytes before the data of each block read ahead, to put the unfinished last line of the
/// block before in front of it without moving the block.
const HEADROOM: usize = 4096;

/// One file read in blocks from an offset on, a block ahead of the reader, on a thread of its
/// own. Each block is `HEADROOM` bytes of space and the bytes read; a block of no bytes is the
/// end of the file. Dropping it stops the thread at its next block.
struct Prefetch {
    rx: Receiver<std::io::Result<(Vec<u8>, usize)>>,
    spare: Sender<Vec<u8>>,
    /// The end of the file or an error was handed out.
    ended: bool,
}

impl Prefetch {
    /// Reads `file` (positioned at `from`) in blocks of `chunk` bytes up to `end`, then in
    /// smaller blocks (the reader needs only the rest of its last line past `end`).
    fn start(
        mut file: File,
        from: u64,
        end: u64,
        chunk: usize,
        path: &Path,
    ) -> Result<Self, ConnectorError> {
        let (tx, rx) = sync_channel(1);
        let (spare, spares) = channel::<Vec<u8>>();
        std::thread::Builder::new()
            .name("read-ahead".into())
            .spawn(move || {
                let mut pos = from;
                loop {
                    let want = if pos < end {
                        (end - pos).saturating_add(4096).min(chunk as u64) as usize
                    } else {
                        chunk.min(64 << 10)
                    };
                    let mut block = spares.try_recv().unwrap_or_default();
                    if block.len() < HEADROOM + want {
                        block.resize(HEADROOM + want, 0);
                    }
                    let read = loop {
                        match file.read(&mut block[HEADROOM..HEADROOM + want]) {
                            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                            r => break r,
                        }
                    };
                    let stop = !matches!(read, Ok(n) if n > 0);
                    if let Ok(n) = read {
                        pos += n as u64;
                    }
                    if tx.send(read.map(|n| (block, n))).is_err() || stop {
                        return;
                    }
                }
            })
            .map_err(|e| io_err(path, "start a reader thread for", e))?;
        Ok(Self {
            rx,
            spare,
            ended: false,
        })
    }

    /// The next block and the bytes in it (0: the end of the file).
    fn next(&mut self) -> std::io::Result<(Vec<u8>, usize)> {
        if self.ended {
            return Ok((Vec::new(), 0));
        }
        let next = self
            .rx
            .recv()
            .unwrap_or_else(|_| Err(std::io::Error::other("the read-ahead thread stopped")));
        self.ended = !matches!(next, Ok((_, n)) if n > 0);
        next
    }

    /// A block read to its end, for the thread to fill again.
    fn recycle(&self, block: Vec<u8>) {
        let _ = self.spare.send(block);
    }
}

fn scan(c: &mut Current, buf: &[u8]) {
    if c.skipping {
        match memchr(b'\n', &buf[c.pos..c.filled]) {
            Some(k) => {
                c.pos += k + 1;
                c.complete = c.pos;
                c.skipping = false;
                c.first_line_start = (c.buf_off + c.pos as i64) as u64;
                if c.first_line_start >= c.slice.end {
                    c.done = true;
                    return;
                }
            }
            None => {
                c.pos = c.filled;
                c.complete = c.filled;
                if c.eof {
                    c.done = true;
                }
                return;
            }
        }
    }
    let search_start = c.complete.max(c.pos);
    let filled_end = (c.buf_off + c.filled as i64) as u64;
    if c.slice.end <= filled_end {
        // the buffer holds the last owned byte: the last owned line ends at the first newline
        // at or after it
        let last = (c.slice.end as i64 - 1 - c.buf_off) as usize;
        let from = search_start.max(last);
        if let Some(k) = memchr(b'\n', &buf[from..c.filled]) {
            c.complete = from + k + 1;
            c.done = true;
            return;
        }
    }
    if c.eof {
        // last line of the file without a newline
        c.complete = c.filled;
        c.done = true;
        return;
    }
    if let Some(k) = memrchr(b'\n', &buf[search_start..c.filled]) {
        c.complete = search_start + k + 1;
    }
}

/// Iterates over the lines of a chunk: yields `(line without \n or \r\n, bytes consumed)`.
#[inline]
pub fn next_line(data: &[u8], off: usize) -> (&[u8], usize) {
    let rest = &data[off..];
    let (line, next) = match memchr(b'\n', rest) {
        Some(k) => (&rest[..k], off + k + 1),
        None => (rest, data.len()),
    };
    let line = match line.last() {
        Some(b'\r') => &line[..line.len() - 1],
        _ => line,
    };
    (line, next)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn natural_order() {
        let mut v = vec![
            "part-10-0.csv",
            "part-2-0.csv",
            "part-1-0.csv",
            "a",
            "part-02-0.csv",
        ];
        v.sort_by(|a, b| natural_cmp(a, b));
        assert_eq!(
            v,
            vec![
                "a",
                "part-1-0.csv",
                "part-02-0.csv",
                "part-2-0.csv",
                "part-10-0.csv"
            ]
        );
    }

    #[test]
    fn split_ranges_cover_total() {
        let files = vec![
            InputFile {
                path: "a".into(),
                len: 10,
            },
            InputFile {
                path: "b".into(),
                len: 0,
            },
            InputFile {
                path: "c".into(),
                len: 7,
            },
        ];
        for p in 1..6 {
            let mut total = 0;
            for k in 0..p {
                for s in plan_split(&files, k, p) {
                    assert!(s.start < s.end);
                    total += s.end - s.start;
                }
            }
            assert_eq!(total, 17);
        }
    }

    #[test]
    fn pieces_tile_the_input_and_subtasks_own_contiguous_runs() {
        let files: Vec<InputFile> = [5000u64, 0, 3, 12_345, 1]
            .iter()
            .enumerate()
            .map(|(i, &len)| InputFile {
                path: format!("f{i}").into(),
                len,
            })
            .collect();
        let pieces = plan_pieces(&files);
        // pieces tile each file in order, split indices never decrease
        let mut at = vec![0u64; files.len()];
        let mut last = (0, 0);
        for (j, s) in &pieces {
            assert_eq!(s.start, at[s.file]);
            assert!(s.start < s.end && s.from == s.start);
            at[s.file] = s.end;
            assert!((s.file, *j) >= last);
            last = (s.file, *j);
        }
        assert_eq!(at, files.iter().map(|f| f.len).collect::<Vec<_>>());
        assert!(pieces.iter().all(|(j, _)| *j < SPLITS));
        // a subtask's slices are its pieces merged: at most one slice per file
        for p in [1, 2, 3, 7, 2000] {
            let mut covered = 0;
            for k in 0..p {
                let slices = plan_split(&files, k, p);
                for w in slices.windows(2) {
                    assert!(w[0].file < w[1].file);
                }
                covered += slices.iter().map(|s| s.end - s.start).sum::<u64>();
            }
            assert_eq!(covered, 17_349);
        }
    }

    #[test]
    fn merging_keeps_what_is_left_to_read() {
        let s = |file, start, from, end| FileSlice {
            file,
            start,
            from,
            end,
        };
        // done + partly read: one slice from the partial offset
        assert_eq!(
            merge_slices([s(0, 0, 10, 10), s(0, 10, 15, 20)]),
            vec![s(0, 0, 15, 20)]
        );
        // partly read + not started: contiguous
        assert_eq!(
            merge_slices([s(0, 0, 5, 10), s(0, 10, 10, 20)]),
            vec![s(0, 0, 5, 20)]
        );
        // partly read + partly read: a gap of read lines between them
        assert_eq!(
            merge_slices([s(0, 0, 5, 10), s(0, 10, 12, 20)]),
            vec![s(0, 0, 5, 10), s(0, 10, 12, 20)]
        );
        // other files never merge
        assert_eq!(merge_slices([s(0, 0, 0, 10), s(1, 0, 0, 20)]).len(), 2);
    }
}
