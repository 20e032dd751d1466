//! A build's log: every command's stdout and stderr go to one pipe, and the runner's own
//! lines join the same stream, so the log keeps their order. A task on the caller's tokio
//! runtime reads the pipe, masks secret values, and hands each line to the action's output
//! and to the log file: no OS thread per action (docs/benchmarks.md, "stop 24").
//!
//! The runner's lines do not go through the pipe: [`Console::say`] first takes in what the
//! pipe holds (the output of the commands that ran before it, which have exited) and then
//! its own line, under the same lock as the reader, so the order is the order of writing.
//! Writing them into the pipe could block the runtime's thread while the pipe is full, with
//! the reader waiting for that same thread.

use std::fs::File;
use std::io::{self, PipeWriter, Write};
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::net::unix::pipe;
use tokio::sync::oneshot;

use crate::ActionOutput;

/// How long closing waits for output still in flight (background processes keep the pipe
/// open until they are killed).
const DRAIN: Duration = Duration::from_secs(2);

/// How much one read of the pipe takes in.
const CHUNK: usize = 16 * 1024;

/// Replaces every secret value in `line` with `***` (longest first, exact values only).
pub fn mask(line: &str, secrets: &[String]) -> String {
    let mut masked = line.to_string();
    for secret in secrets {
        if !secret.is_empty() && masked.contains(secret.as_str()) {
            masked = masked.replace(secret.as_str(), "***");
        }
    }
    masked
}

/// The stream's end: the bytes of a line not yet complete, and where complete lines go.
struct Lines {
    pending: Vec<u8>,
    output: Arc<dyn ActionOutput>,
    stage: String,
    action: String,
    file: Option<File>,
    secrets: Vec<String>,
    /// The pipe's writers are all closed.
    ended: bool,
}

impl Lines {
    /// Adds bytes to the stream and hands on every line they complete.
    fn take(&mut self, bytes: &[u8]) {
        self.pending.extend_from_slice(bytes);
        let Some(last) = self.pending.iter().rposition(|b| *b == b'\n') else { return };
        let complete: Vec<u8> = self.pending.drain(..=last).collect();
        for line in complete.split_inclusive(|b| *b == b'\n') {
            self.line(line);
        }
    }

    /// Hands on what is left when the stream ends: a last line without its newline.
    fn finish(&mut self) {
        if !self.pending.is_empty() {
            let rest = std::mem::take(&mut self.pending);
            self.line(&rest);
        }
    }

    fn line(&mut self, bytes: &[u8]) {
        let text = String::from_utf8_lossy(bytes);
        let mut line = mask(text.trim_end_matches(['\n', '\r']), &self.secrets);
        self.output.line(&self.stage, &self.action, &line);
        if let Some(file) = self.file.as_mut() {
            // One write per line: the log is read while the action runs.
            line.push('\n');
            let _ = file.write_all(line.as_bytes());
        }
    }

    /// Takes in whatever `read` gives until it would block (or the stream ends).
    fn drain(&mut self, mut read: impl FnMut(&mut [u8]) -> io::Result<usize>) {
        let mut chunk = [0u8; CHUNK];
        while !self.ended {
            match read(&mut chunk) {
                Ok(0) => {
                    self.ended = true;
                    self.finish();
                }
                Ok(count) => self.take(&chunk[..count]),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(_) => {
                    self.ended = true;
                    self.finish();
                }
            }
        }
    }
}

/// One read of the pipe, whatever the runtime last saw of it: [`Console::say`] must take in
/// what the commands wrote before it even when the reactor has not reported it yet.
fn read_now(reader: &pipe::Receiver, buffer: &mut [u8]) -> io::Result<usize> {
    nix::unistd::read(reader, buffer).map_err(io::Error::from)
}

pub struct Console {
    writer: PipeWriter,
    reader: Arc<pipe::Receiver>,
    lines: Arc<Mutex<Lines>>,
    drained: oneshot::Receiver<()>,
}

fn lock(lines: &Mutex<Lines>) -> MutexGuard<'_, Lines> {
    lines.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Console {
    /// Starts the reader on the current tokio runtime: lines go to `output` under
    /// `stage`/`action`, and to `log`.
    pub fn open(
        output: Arc<dyn ActionOutput>,
        stage: String,
        action: String,
        log: Option<PathBuf>,
        secrets: Vec<String>,
    ) -> io::Result<Console> {
        let file = match &log {
            Some(path) => {
                if let Some(parent) = path.parent() {
                    crate::dirs::make_dir_if_missing(parent)?;
                }
                Some(File::create(path)?)
            }
            None => None,
        };
        let (reader, writer) = io::pipe()?;
        let reader = Arc::new(pipe::Receiver::from_owned_fd(reader.into())?);
        let lines = Arc::new(Mutex::new(Lines {
            pending: Vec::new(),
            output,
            stage,
            action,
            file,
            secrets: Vec::new(),
            ended: false,
        }));
        let (done, drained) = oneshot::channel();
        let (task_reader, task_lines) = (reader.clone(), lines.clone());
        tokio::spawn(async move {
            loop {
                if task_reader.readable().await.is_err() {
                    lock(&task_lines).finish();
                    break;
                }
                let mut lines = lock(&task_lines);
                // Through `try_io`, so that the runtime knows when the pipe is empty again.
                lines.drain(|buffer| task_reader.try_io(|| read_now(&task_reader, buffer)));
                if lines.ended {
                    break;
                }
            }
            let _ = done.send(());
        });
        let console = Console { writer, reader, lines, drained };
        console.mask_also(secrets);
        Ok(console)
    }

    /// Masks these values too from now on (secrets become known during DOWNLOAD_SOURCE).
    pub fn mask_also(&self, values: Vec<String>) {
        let mut lines = lock(&self.lines);
        lines.secrets.extend(values.into_iter().filter(|v| !v.is_empty()));
        lines.secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    }

    /// Writes one line of the runner's own, after what the commands that ran before it wrote.
    pub fn say(&self, line: &str) {
        let mut lines = lock(&self.lines);
        lines.drain(|buffer| read_now(&self.reader, buffer));
        lines.take(format!("{line}\n").as_bytes());
    }

    /// stdout and stderr for a command.
    pub fn stdio(&self) -> io::Result<(Stdio, Stdio)> {
        Ok((Stdio::from(self.writer.try_clone()?), Stdio::from(self.writer.try_clone()?)))
    }

    /// Closes the runner's end and waits (a little) for the reader to finish.
    pub async fn close(self) {
        let Console { writer, drained, .. } = self;
        drop(writer);
        let _ = tokio::time::timeout(DRAIN, drained).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Default)]
    struct Lines(Mutex<Vec<String>>);

    impl ActionOutput for Lines {
        fn line(&self, _: &str, _: &str, line: &str) {
            self.0.lock().unwrap().push(line.to_string());
        }
    }

    #[test]
    fn secrets_are_masked_longest_first() {
        let secrets = vec!["hunter22".to_string(), "hunter2".to_string(), String::new()];
        assert_eq!(mask("pw=hunter22 and hunter2", &secrets), "pw=*** and ***");
        assert_eq!(mask("nothing", &secrets), "nothing");
    }

    #[tokio::test]
    async fn lines_of_the_runner_and_of_commands_arrive_in_order_and_in_the_log() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("logs/1.log");
        let lines = Arc::new(Lines::default());
        let console =
            Console::open(lines.clone(), "S".into(), "A".into(), Some(log.clone()), vec!["s3cr3t".into()]).unwrap();
        console.say("first");
        let (out, err) = console.stdio().unwrap();
        let status = std::process::Command::new("/bin/sh")
            .args(["-c", "echo out s3cr3t; echo err >&2"])
            .stdout(out)
            .stderr(err)
            .status()
            .unwrap();
        assert!(status.success());
        console.say("last");
        console.close().await;
        assert_eq!(*lines.0.lock().unwrap(), ["first", "out ***", "err", "last"]);
        assert_eq!(std::fs::read_to_string(log).unwrap(), "first\nout ***\nerr\nlast\n");
    }

    #[tokio::test]
    async fn a_line_without_its_newline_joins_the_next_and_the_last_one_is_kept() {
        let lines = Arc::new(Lines::default());
        let console = Console::open(lines.clone(), "S".into(), "A".into(), None, vec![]).unwrap();
        let (out, err) = console.stdio().unwrap();
        let status = tokio::process::Command::new("/bin/sh")
            .args(["-c", "printf 'no newline '"])
            .stdout(out)
            .stderr(err)
            .status()
            .await
            .unwrap();
        assert!(status.success());
        console.say("said");
        let (out, err) = console.stdio().unwrap();
        let status = tokio::process::Command::new("/bin/sh")
            .args(["-c", "printf 'one\\ntwo'"])
            .stdout(out)
            .stderr(err)
            .status()
            .await
            .unwrap();
        assert!(status.success());
        console.close().await;
        assert_eq!(*lines.0.lock().unwrap(), ["no newline said", "one", "two"]);
    }

    /// The runner's lines never wait for the reader: with the pipe full and the runtime's only
    /// thread busy saying, a line written into the pipe would wait forever.
    #[test]
    fn saying_a_line_while_the_pipe_is_full_does_not_wait_for_the_reader() {
        let (finished, outcome) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            let said = runtime.block_on(async {
                let lines = Arc::new(Lines::default());
                let console = Console::open(lines.clone(), "S".into(), "A".into(), None, vec![]).unwrap();
                let mut writer = console.writer.try_clone().unwrap();
                // A pipe holds 64 KiB by default: fill it without letting the reader run.
                let filler = format!("{}\n", "x".repeat(1023)).repeat(64);
                writer.write_all(filler.as_bytes()).unwrap();
                for number in 0..100 {
                    console.say(&format!("line {number} of the runner, long enough to need room in the pipe"));
                }
                drop(writer);
                console.close().await;
                lines.0.lock().unwrap().clone()
            });
            let _ = finished.send(said);
        });
        let said = outcome.recv_timeout(Duration::from_secs(30)).expect("say() blocked on a full pipe");
        assert_eq!(said.len(), 164);
        assert!(said[..64].iter().all(|line| line.len() == 1023));
        assert_eq!(said[64], "line 0 of the runner, long enough to need room in the pipe");
        assert_eq!(said[163], "line 99 of the runner, long enough to need room in the pipe");
    }
}
