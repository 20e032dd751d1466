//! A buffered writer for [`zip::ZipWriter`], whose seeks back into what it holds patch its
//! buffer.
//!
//! Writing to a stream it can seek, the zip crate writes each entry's local header before
//! the bytes, then seeks back to fill in the CRC-32 and the sizes, then forward to the end.
//! `BufWriter` writes out what it holds at every seek: each entry cost a `write` and two to
//! five `lseek`s, 30,000 system calls for a zip of 5,000 small files (docs/benchmarks.md,
//! "stop 42"). A small entry is still in this writer's buffer when its header is filled in,
//! so the patch is a copy in memory and the stream sees one write per buffer's worth (the
//! last sixteenth of a full buffer stays, for the entry that began there).

use std::io::{self, Seek, SeekFrom, Write};

/// What it holds when it is dropped is lost, as a failed zip's staging file is: the stream
/// gets it from [`ZipSink::into_inner`] or a flush, whose errors then fail the zip.
pub struct ZipSink<W: Write + Seek> {
    inner: W,
    /// Bytes from `start` on that the stream has not been given yet.
    buffer: Vec<u8>,
    /// The stream's position, where `buffer[0]` goes.
    start: u64,
    /// Where the next byte written goes in `buffer`: its end, or before it after a seek back.
    cursor: usize,
    capacity: usize,
}

impl<W: Write + Seek> ZipSink<W> {
    /// Writes to `inner` from where it stands, `capacity` bytes at a time.
    pub fn new(capacity: usize, mut inner: W) -> io::Result<ZipSink<W>> {
        let start = inner.stream_position()?;
        Ok(ZipSink { inner, buffer: Vec::with_capacity(capacity), start, cursor: 0, capacity })
    }

    /// Gives the stream what is held, and the stream back; an error of that last write is
    /// returned, not lost as a drop would lose it.
    pub fn into_inner(mut self) -> io::Result<W> {
        self.write_out()?;
        Ok(self.inner)
    }

    /// Gives the stream what the buffer holds, and moves it to where the next write goes.
    fn write_out(&mut self) -> io::Result<()> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        self.inner.write_all(&self.buffer)?;
        let end = self.start + self.buffer.len() as u64;
        let next = self.start + self.cursor as u64;
        if next != end {
            self.inner.seek(SeekFrom::Start(next))?;
        }
        self.start = next;
        self.buffer.clear();
        self.cursor = 0;
        Ok(())
    }

    /// Gives the stream all but the last sixteenth of a full buffer: the entry being written
    /// started there when it is a small one, and its header is filled in once it ends.
    fn write_out_keeping_tail(&mut self) -> io::Result<()> {
        if self.cursor != self.buffer.len() {
            return self.write_out();
        }
        let given = self.buffer.len() - (self.capacity / 16).min(self.buffer.len());
        self.inner.write_all(&self.buffer[..given])?;
        self.buffer.drain(..given);
        self.start += given as u64;
        self.cursor = self.buffer.len();
        Ok(())
    }
}

impl<W: Write + Seek> Write for ZipSink<W> {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        // Large writes (a file's content, in copy-buffer chunks) go straight to the stream.
        if bytes.len() >= self.capacity && self.cursor == self.buffer.len() {
            self.write_out()?;
            self.inner.write_all(bytes)?;
            self.start += bytes.len() as u64;
            return Ok(bytes.len());
        }
        let end = self.cursor + bytes.len();
        if end > self.buffer.len() {
            self.buffer.resize(end, 0);
        }
        self.buffer[self.cursor..end].copy_from_slice(bytes);
        self.cursor = end;
        if self.buffer.len() >= self.capacity {
            self.write_out_keeping_tail()?;
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.write_out()?;
        self.inner.flush()
    }
}

impl<W: Write + Seek> Seek for ZipSink<W> {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let here = self.start + self.cursor as u64;
        let target = match to {
            SeekFrom::Start(at) => at,
            SeekFrom::Current(by) => here.checked_add_signed(by).ok_or_else(out_of_range)?,
            SeekFrom::End(_) => {
                self.write_out()?;
                self.start = self.inner.seek(to)?;
                return Ok(self.start);
            }
        };
        let held = self.start..=self.start + self.buffer.len() as u64;
        if held.contains(&target) {
            // Within what is held, or at its end: a patch of the buffer, or an append.
            self.cursor = usize::try_from(target - self.start).map_err(|_| out_of_range())?;
        } else {
            self.write_out()?;
            self.start = self.inner.seek(SeekFrom::Start(target))?;
        }
        Ok(target)
    }

    fn stream_position(&mut self) -> io::Result<u64> {
        Ok(self.start + self.cursor as u64)
    }
}

fn out_of_range() -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, "a seek to a position before the start or beyond 2^64")
}

#[cfg(test)]
mod tests {
    use std::io::{Cursor, Read};

    use super::*;

    /// A stream that counts the calls made to it.
    #[derive(Default)]
    struct Counted {
        inner: Cursor<Vec<u8>>,
        writes: usize,
        seeks: usize,
    }

    impl Write for Counted {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            self.writes += 1;
            self.inner.write(bytes)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl Seek for Counted {
        fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
            self.seeks += 1;
            self.inner.seek(to)
        }
    }

    fn write_zip<W: Write + Seek>(out: W, files: usize, large: usize) -> W {
        let mut writer = zip::ZipWriter::new(out);
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored)
            .last_modified_time(zip::DateTime::default());
        for index in 0..files {
            writer.start_file(format!("dir{}/file{index}.txt", index % 7), options).unwrap();
            writer.write_all(format!("content of file {index}\n").repeat(index % 13 + 1).as_bytes()).unwrap();
        }
        // Larger than the buffer: its header is written out before it is filled in.
        writer.start_file("large.bin", options).unwrap();
        writer.write_all(&vec![7; large]).unwrap();
        writer.finish().unwrap()
    }

    /// The same bytes as a plain cursor gets, in a write per buffer's worth rather than a
    /// write and seeks per entry.
    #[test]
    fn a_zip_written_through_it_is_the_same_zip_in_few_calls() {
        let plain = write_zip(Cursor::new(Vec::new()), 2_000, 200_000).into_inner();
        let sink = ZipSink::new(64 << 10, Counted::default()).unwrap();
        let counted = write_zip(sink, 2_000, 200_000).into_inner().unwrap();
        assert!(counted.inner.get_ref() == &plain, "the bytes differ");
        let chunks = plain.len() / (64 << 10) + 1;
        assert!(counted.writes <= chunks + 8, "{} writes for {chunks} buffers' worth", counted.writes);
        assert!(counted.seeks <= 8, "{} seeks", counted.seeks);
        // What a BufWriter makes of it, to show what the test tells apart.
        let buffered = write_zip(io::BufWriter::with_capacity(64 << 10, Counted::default()), 2_000, 200_000);
        let buffered = buffered.into_inner().map_err(|e| e.into_error()).unwrap();
        assert!(
            buffered.writes > 2_000 && buffered.seeks > 4_000,
            "{} writes, {} seeks",
            buffered.writes,
            buffered.seeks
        );
    }

    /// Writes and seeks of every kind, inside the buffer, around it and beyond the end, leave
    /// what a plain cursor leaves.
    #[test]
    fn it_leaves_what_a_cursor_leaves_wherever_it_seeks() {
        let mut plain = Cursor::new(Vec::new());
        let mut sink = ZipSink::new(16, Cursor::new(Vec::new())).unwrap();
        let steps: [(SeekFrom, &[u8]); 9] = [
            (SeekFrom::Start(0), b"0123456789"),
            (SeekFrom::Start(3), b"abc"),
            (SeekFrom::End(0), b"0123456789012345678901234567890123456789"),
            (SeekFrom::Start(5), b"XY"),
            (SeekFrom::Current(30), b"tail"),
            (SeekFrom::Current(-10), b"back"),
            (SeekFrom::Start(80), b"gap after the end"),
            (SeekFrom::End(-3), b"!!!"),
            (SeekFrom::Start(1), b""),
        ];
        for (number, (to, bytes)) in steps.into_iter().enumerate() {
            assert_eq!(sink.seek(to).unwrap(), plain.seek(to).unwrap(), "step {number}");
            sink.write_all(bytes).unwrap();
            plain.write_all(bytes).unwrap();
            assert_eq!(sink.stream_position().unwrap(), plain.stream_position().unwrap(), "step {number}");
        }
        let mut written = sink.into_inner().unwrap();
        let mut all = Vec::new();
        written.seek(SeekFrom::Start(0)).unwrap();
        written.read_to_end(&mut all).unwrap();
        assert_eq!(all, plain.into_inner());
        let mut sink = ZipSink::new(16, Cursor::new(Vec::new())).unwrap();
        assert_eq!(sink.seek(SeekFrom::Current(-1)).unwrap_err().kind(), io::ErrorKind::InvalidInput);
    }
}
