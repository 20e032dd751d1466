//! A buffered reader for [`zip::ZipArchive`], whose seeks within what it holds stay in its
//! buffer.
//!
//! The zip crate seeks to each entry's local header and to its data with `SeekFrom::Start`,
//! and checking the local headers against the central directory seeks back to where it was
//! after each one. `BufReader` drops its buffer at every seek, whatever the distance: an
//! archive of N entries read through a buffer of B bytes cost about N × B bytes of reads, and
//! unpacking the 1.6 MB zip of a 5,000-file source tree through 256 KB read 3.9 GB
//! (docs/benchmarks.md, "stop 42"). Entries lie one after another, so most reads land in what
//! the buffer already holds. This reader keeps the position a seek asks for and moves there
//! only at the next read: within the buffer when it lands there, else with one seek of the
//! stream, and a seek that another one follows before any read costs nothing. A read as large
//! as the buffer (an entry's bytes) seeks the stream as before and goes straight into the
//! caller's buffer: kept in the buffer, such reads made a 210 MB unpack 4 to 9% slower.

use std::io::{self, BufReader, Read, Seek, SeekFrom};

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

fn out_of_range() -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, "a seek to a position before the start or beyond 2^63")
}

#[cfg(test)]
mod tests {
    use std::io::{Cursor, Write};

    use super::*;

    /// A stream that counts the bytes read from it.
    struct Counted {
        inner: Cursor<Vec<u8>>,
        read: u64,
    }

    impl Read for Counted {
        fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
            let read = self.inner.read(buffer)?;
            self.read += read as u64;
            Ok(read)
        }
    }

    impl Seek for Counted {
        fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
            self.inner.seek(to)
        }
    }

    fn zip_of(files: usize) -> Vec<u8> {
        let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
        for index in 0..files {
            let options = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
            writer.start_file(format!("dir{}/file{index}.txt", index % 7), options).unwrap();
            writer.write_all(format!("content of file {index}\n").repeat(index % 13 + 1).as_bytes()).unwrap();
        }
        writer.finish().unwrap().into_inner()
    }

    /// The passes of an unpack (the local headers checked against the central directory, each
    /// entry read in order, the entries listed), through a buffer larger than several entries:
    /// the archive is read about once a pass, where a `BufReader` refilled its whole buffer
    /// for each entry, and twice for each checked header.
    #[test]
    fn reading_every_entry_reads_the_archive_about_once() {
        let bytes = zip_of(2_000);
        let size = bytes.len() as u64;
        let counted = Counted { inner: Cursor::new(bytes), read: 0 };
        let mut archive = zip::ZipArchive::new(ZipReader::new(64 << 10, counted).unwrap()).unwrap();
        archive.validate_header_consistency().unwrap();
        for index in 0..archive.len() {
            assert!(archive.by_index_raw(index).unwrap().is_file());
        }
        let mut content = Vec::new();
        for index in 0..archive.len() {
            content.clear();
            archive.by_index(index).unwrap().read_to_end(&mut content).unwrap();
            assert_eq!(content, format!("content of file {index}\n").repeat(index % 13 + 1).into_bytes());
        }
        let read = archive.into_inner().inner.into_inner().read;
        assert!(read < 3 * size, "{read} bytes read for an archive of {size}");
        // What the plain buffer reads, to show what the test tells apart.
        let counted = Counted { inner: Cursor::new(zip_of(2_000)), read: 0 };
        let mut archive = zip::ZipArchive::new(BufReader::with_capacity(64 << 10, counted)).unwrap();
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
}
