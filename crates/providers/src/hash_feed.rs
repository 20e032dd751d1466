//! The BLAKE3 hash of each file of a zip being written, computed beside the copy: the hash is
//! the dearest work per byte of a zip (the copy only reads, checksums and writes).

use std::fs::File;
use std::io::{self, Read, Write};

use blake3::Hasher;

use crate::artifacts::COPY_BUFFER;

/// From this many bytes in a zip, its files are hashed on a thread of their own: below it, a
/// thread would cost more than it saves.
pub(crate) const HASH_THREAD_BYTES: u64 = 4 << 20;
/// How many buffers may wait for the hashing thread: the memory it may take is bounded.
const HASH_QUEUE: usize = 4;

/// What the hashing thread is handed: a buffer and how many of its first bytes are the
/// current file's next ones, or the file's end.
enum ToHash {
    Bytes(Vec<u8>, usize),
    End,
}

/// The thread hashing a zip's files, and the buffers it hands back.
struct HashThread<'scope> {
    to_hash: std::sync::mpsc::SyncSender<ToHash>,
    returned: std::sync::mpsc::Receiver<Vec<u8>>,
    hashing: std::thread::ScopedJoinHandle<'scope, Vec<[u8; 32]>>,
}

/// The BLAKE3 hash of each file of a zip. Once the zip's files reach [`HASH_THREAD_BYTES`], they
/// are hashed on one thread beside the zip's, which reads, checksums and writes the bytes: the
/// hash, the dearest work per byte, then costs no time where a second core is free, whatever
/// the files' sizes. Buffers go back and forth, so the memory stays at a few copy buffers.
/// The files before are hashed in the zip's own thread.
pub(crate) struct HashFeed<'scope, 'env> {
    scope: &'scope std::thread::Scope<'scope, 'env>,
    thread: Option<HashThread<'scope>>,
    /// The current file's hash while the feed is not on the thread, the sums of the files
    /// hashed so, and the buffer they leave for the next read.
    hasher: Hasher,
    sums: Vec<[u8; 32]>,
    spare: Vec<u8>,
    /// Bytes of the files begun so far.
    begun: u64,
    files: usize,
    /// Buffers made (zeroed) so far: a few per zip, whatever its number of files.
    made: usize,
}

impl<'scope, 'env> HashFeed<'scope, 'env> {
    pub(crate) fn start(scope: &'scope std::thread::Scope<'scope, 'env>) -> HashFeed<'scope, 'env> {
        HashFeed {
            scope,
            thread: None,
            hasher: Hasher::new(),
            sums: Vec::new(),
            spare: Vec::new(),
            begun: 0,
            files: 0,
            made: 0,
        }
    }

    fn stopped() -> io::Error {
        io::Error::other("the thread hashing the artifact's files stopped")
    }

    /// A file of `size` bytes begins: the thread starts once the zip's bytes call for it.
    pub(crate) fn begin_file(&mut self, size: u64) {
        self.begun = self.begun.saturating_add(size);
        if self.thread.is_some() || self.begun < HASH_THREAD_BYTES {
            return;
        }
        let (to_hash, chunks) = std::sync::mpsc::sync_channel::<ToHash>(HASH_QUEUE);
        let (give_back, returned) = std::sync::mpsc::channel::<Vec<u8>>();
        let hashing = self.scope.spawn(move || {
            let (mut sums, mut hasher) = (Vec::new(), Hasher::new());
            for chunk in chunks {
                match chunk {
                    ToHash::Bytes(bytes, length) => {
                        hasher.update(&bytes[..length]);
                        let _ = give_back.send(bytes);
                    }
                    ToHash::End => sums.push(finish_file(&mut hasher)),
                }
            }
            sums
        });
        self.thread = Some(HashThread { to_hash, returned, hashing });
    }

    /// A full-sized buffer: the one left by the last read, else one back from the thread,
    /// else a new one. Buffers keep their full length as they go round, so that only a new
    /// one is zeroed: a buffer cut to the bytes of a small file and filled out again for the
    /// next cost a `memset` of 256 KiB per file, and one dropped at each file's end a new
    /// allocation (docs/benchmarks.md, "stop 42").
    fn spare(&mut self) -> Vec<u8> {
        let mut buffer = std::mem::take(&mut self.spare);
        if buffer.len() < COPY_BUFFER
            && let Some(back) = self.thread.as_ref().and_then(|thread| thread.returned.try_recv().ok())
        {
            buffer = back;
        }
        if buffer.len() < COPY_BUFFER {
            self.made += 1;
            buffer.resize(COPY_BUFFER, 0);
        }
        buffer
    }

    /// A spare buffer with up to `limit` bytes of `file` read into it, and how many: fewer
    /// only at the file's end.
    pub(crate) fn read_spare(&mut self, file: &mut File, limit: usize) -> io::Result<(Vec<u8>, usize)> {
        let mut buffer = self.spare();
        let limit = limit.min(buffer.len());
        let mut filled = 0;
        while filled < limit {
            match file.read(&mut buffer[filled..limit]) {
                Ok(0) => break,
                Ok(read) => filled += read,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.spare = buffer;
                    return Err(e);
                }
            }
        }
        Ok((buffer, filled))
    }

    /// Hashes the first `length` bytes of `bytes` as the current file's next ones.
    pub(crate) fn feed(&mut self, bytes: Vec<u8>, length: usize) -> io::Result<()> {
        match &self.thread {
            Some(thread) => thread.to_hash.send(ToHash::Bytes(bytes, length)).map_err(|_| HashFeed::stopped()),
            None => {
                self.hasher.update(&bytes[..length]);
                self.spare = bytes;
                Ok(())
            }
        }
    }

    /// Copies the rest of `file` into `out`, hashed on the way; the file's number in the feed.
    pub(crate) fn copy_file(&mut self, mut file: File, out: &mut impl Write) -> io::Result<usize> {
        loop {
            let (buffer, read) = self.read_spare(&mut file, COPY_BUFFER)?;
            if read == 0 {
                self.spare = buffer;
                break;
            }
            out.write_all(&buffer[..read])?;
            self.feed(buffer, read)?;
        }
        match &self.thread {
            Some(thread) => thread.to_hash.send(ToHash::End).map_err(|_| HashFeed::stopped())?,
            None => self.sums.push(finish_file(&mut self.hasher)),
        }
        self.files += 1;
        Ok(self.files - 1)
    }

    /// Every file's hash, in the order they were fed.
    pub(crate) fn finish(self) -> io::Result<Vec<[u8; 32]>> {
        let mut sums = self.sums;
        if let Some(thread) = self.thread {
            drop(thread.to_hash);
            sums.extend(thread.hashing.join().map_err(|_| HashFeed::stopped())?);
        }
        if sums.len() == self.files { Ok(sums) } else { Err(HashFeed::stopped()) }
    }
}

/// The hash of the file fed so far, and a hasher ready for the next file.
fn finish_file(hasher: &mut Hasher) -> [u8; 32] {
    let sum = *hasher.finalize().as_bytes();
    hasher.reset();
    sum
}

#[cfg(test)]
impl HashFeed<'_, '_> {
    /// Whether the files are hashed on the thread by now.
    pub(crate) fn on_thread(&self) -> bool {
        self.thread.is_some()
    }

    /// How many buffers the feed has made.
    pub(crate) fn buffers_made(&self) -> usize {
        self.made
    }
}
