//! Buffered reading and writing for the zip crate, which seeks at every entry. `BufReader`
//! and `BufWriter` give up what they hold at every seek, whatever the distance, and the zip
//! crate seeks a few bytes away for each entry: a zip of 5,000 small files cost 3.9 GB of
//! reads to unpack and 30,000 system calls to write (docs/benchmarks.md, "stop 42").
//!
//! **Reading** ([`ZipReader`]). The zip crate seeks to each entry's local header and to its
//! data with `SeekFrom::Start`, and checking the local headers against the central directory
//! seeks back to where it was after each one. Entries lie one after another, so most reads
//! land in what the buffer already holds. The reader keeps the position a seek asks for and
//! moves there only at the next read: within the buffer when it lands there, else with one
//! seek of the stream, and a seek that another one follows before any read costs nothing. A
//! read as large as the buffer (an entry's bytes) seeks the stream as before and goes straight
//! into the caller's buffer: kept in the buffer, such reads made a 210 MB unpack 4 to 9% slower.
//!
//! **Writing** ([`ZipSink`]). Writing to a stream it can seek, the zip crate writes each
//! entry's local header before the bytes, then seeks back to fill in the CRC-32 and the
//! sizes, then forward to the end. A small entry is still in the writer's buffer when its
//! header is filled in, so the patch is a copy in memory and the stream sees one write per
//! buffer's worth (the last sixteenth of a full buffer stays, for the entry that began there).

use std::io::{self, BufReader, Read, Seek, SeekFrom, Write};

/// A zip read through a buffer that its seeks do not empty (the module's "Reading").
pub struct ZipReader<R> {
    inner: BufReader<R>,
    /// Where the next byte read comes from in the underlying stream.
    position: u64,
    /// The position of `inner`'s cursor, which differs from `position` after a seek until the
    /// next read.
    buffered_at: u64,
}

impl<R: Read + Seek> ZipReader<R> {
    /// Reads `inner` from where it stands, `capacity` bytes at a time.
    pub fn new(capacity: usize, mut inner: R) -> io::Result<ZipReader<R>> {
        let position = inner.stream_position()?;
        Ok(ZipReader { inner: BufReader::with_capacity(capacity, inner), position, buffered_at: position })
    }
}

impl<R: Read + Seek> Read for ZipReader<R> {
    fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
        if self.position != self.buffered_at {
            if buffer.len() >= self.inner.capacity() {
                // A read as large as the buffer goes straight to the stream (`BufReader` does
                // not copy it through its buffer when that is empty): what is held is dropped,
                // so that the entry's bytes are read as a plain seek would have them read.
                self.inner.seek(SeekFrom::Start(self.position))?;
            } else {
                let by = i64::try_from(i128::from(self.position) - i128::from(self.buffered_at))
                    .map_err(|_| out_of_range())?;
                self.inner.seek_relative(by)?;
            }
            self.buffered_at = self.position;
        }
        let read = self.inner.read(buffer)?;
        self.position += read as u64;
        self.buffered_at = self.position;
        Ok(read)
    }
}

impl<R: Seek> Seek for ZipReader<R> {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        self.position = match to {
            SeekFrom::Start(at) => at,
            SeekFrom::Current(by) => self.position.checked_add_signed(by).ok_or_else(out_of_range)?,
            // Only the end of the archive is looked for from the end: its length is the
            // stream's to say.
            SeekFrom::End(_) => {
                self.buffered_at = self.inner.seek(to)?;
                self.buffered_at
            }
        };
        Ok(self.position)
    }

    fn stream_position(&mut self) -> io::Result<u64> {
        Ok(self.position)
    }
}

/// A zip written through a buffer that its seeks back patch (the module's "Writing").
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
    io::Error::new(io::ErrorKind::InvalidInput, "a seek to a position before the start or out of range")
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use super::*;

    /// A stream that counts the bytes read from it, and the writes and seeks made to it.
    #[derive(Default)]
    struct Counted {
        inner: Cursor<Vec<u8>>,
        read: u64,
        writes: usize,
        seeks: usize,
    }

    impl Read for Counted {
        fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
            let read = self.inner.read(buffer)?;
            self.read += read as u64;
            Ok(read)
        }
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

    const FILES: usize = 2_000;

    fn content(index: usize) -> Vec<u8> {
        format!("content of file {index}\n").repeat(index % 13 + 1).into_bytes()
    }

    /// A zip of [`FILES`] small files, stored, and after them `large` bytes in one entry
    /// when `large` is not 0, written to `out`.
    fn write_zip<W: Write + Seek>(out: W, large: usize) -> W {
        let mut writer = zip::ZipWriter::new(out);
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored)
            .last_modified_time(zip::DateTime::default());
        for index in 0..FILES {
            writer.start_file(format!("dir{}/file{index}.txt", index % 7), options).unwrap();
            writer.write_all(&content(index)).unwrap();
        }
        if large > 0 {
            // Larger than the buffer: its header is written out before it is filled in.
            writer.start_file("large.bin", options).unwrap();
            writer.write_all(&vec![7; large]).unwrap();
        }
        writer.finish().unwrap()
    }

    fn counted_zip() -> Counted {
        Counted { inner: Cursor::new(write_zip(Cursor::new(Vec::new()), 0).into_inner()), ..Counted::default() }
    }

    /// The passes of an unpack (the local headers checked against the central directory, the
    /// entries listed, each entry read in order), through a buffer larger than several
    /// entries: the archive is read about once a pass, where a `BufReader` refilled its whole
    /// buffer for each entry, and twice for each checked header.
    #[test]
    fn reading_every_entry_reads_the_archive_about_once() {
        let counted = counted_zip();
        let size = counted.inner.get_ref().len() as u64;
        let mut archive = zip::ZipArchive::new(ZipReader::new(64 << 10, counted).unwrap()).unwrap();
        archive.validate_header_consistency().unwrap();
        for index in 0..archive.len() {
            assert!(archive.by_index_raw(index).unwrap().is_file());
        }
        let mut read = Vec::new();
        for index in 0..archive.len() {
            read.clear();
            archive.by_index(index).unwrap().read_to_end(&mut read).unwrap();
            assert_eq!(read, content(index));
        }
        let read = archive.into_inner().inner.into_inner().read;
        assert!(read < 3 * size, "{read} bytes read for an archive of {size}");
        // What the plain buffer reads, to show what the test tells apart.
        let mut archive = zip::ZipArchive::new(BufReader::with_capacity(64 << 10, counted_zip())).unwrap();
        archive.validate_header_consistency().unwrap();
        for index in 0..archive.len() {
            archive.by_index(index).unwrap().read_to_end(&mut Vec::new()).unwrap();
        }
        assert!(archive.into_inner().into_inner().read > 20 * size);
    }

    /// Reads and seeks of every kind, near and far, land where a plain cursor's do.
    #[test]
    fn it_reads_what_a_cursor_reads_wherever_it_seeks() {
        let bytes: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
        let mut plain = Cursor::new(bytes.clone());
        let mut buffered = ZipReader::new(64, Cursor::new(bytes)).unwrap();
        let moves = [
            SeekFrom::Start(10),
            SeekFrom::Current(5),
            SeekFrom::Current(-12),
            SeekFrom::Start(9_000),
            SeekFrom::End(-100),
            SeekFrom::Start(3),
            SeekFrom::Current(200),
            SeekFrom::Current(-150),
            SeekFrom::End(0),
        ];
        for (step, to) in moves.into_iter().enumerate() {
            assert_eq!(buffered.seek(to).unwrap(), plain.seek(to).unwrap(), "step {step}");
            let length = 7 + step as u64 * 9;
            let (mut a, mut b) = (Vec::new(), Vec::new());
            (&mut buffered).take(length).read_to_end(&mut a).unwrap();
            (&mut plain).take(length).read_to_end(&mut b).unwrap();
            assert_eq!(a, b, "step {step}");
            assert_eq!(buffered.stream_position().unwrap(), plain.stream_position().unwrap());
        }
        assert_eq!(buffered.seek(SeekFrom::Current(-20_000)).unwrap_err().kind(), io::ErrorKind::InvalidInput);
    }

    /// The same bytes as a plain cursor gets, in a write per buffer's worth rather than a
    /// write and seeks per entry.
    #[test]
    fn a_zip_written_through_it_is_the_same_zip_in_few_calls() {
        let plain = write_zip(Cursor::new(Vec::new()), 200_000).into_inner();
        let sink = ZipSink::new(64 << 10, Counted::default()).unwrap();
        let counted = write_zip(sink, 200_000).into_inner().unwrap();
        assert!(counted.inner.get_ref() == &plain, "the bytes differ");
        let chunks = plain.len() / (64 << 10) + 1;
        assert!(counted.writes <= chunks + 8, "{} writes for {chunks} buffers' worth", counted.writes);
        assert!(counted.seeks <= 8, "{} seeks", counted.seeks);
        // What a BufWriter makes of it, to show what the test tells apart.
        let buffered = write_zip(io::BufWriter::with_capacity(64 << 10, Counted::default()), 200_000);
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
