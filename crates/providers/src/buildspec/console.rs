//! A build's log: one pipe that every command's stdout and stderr and the runner's own lines
//! are written to, so the log keeps their order; a thread reads it line by line, masks
//! secret values, and hands each line to the action's output and to the log file.

use std::fs::File;
use std::io::{self, BufRead, BufReader, PipeWriter, Write};
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::ActionOutput;

/// How long closing waits for output still in flight (background processes keep the pipe
/// open until they are killed).
const DRAIN: Duration = Duration::from_secs(2);

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

pub struct Console {
    writer: PipeWriter,
    /// Mutex: a Console is shared across awaits, and a Receiver is not Sync.
    drained: Mutex<mpsc::Receiver<()>>,
    secrets: Arc<Mutex<Vec<String>>>,
}

impl Console {
    /// Starts the reader: lines go to `output` under `stage`/`action`, and to `log`.
    pub fn open(
        output: Arc<dyn ActionOutput>,
        stage: String,
        action: String,
        log: Option<PathBuf>,
        secrets: Vec<String>,
    ) -> io::Result<Console> {
        let (reader, writer) = io::pipe()?;
        let shared = Arc::new(Mutex::new(Vec::new()));
        let masked = shared.clone();
        let mut file = match &log {
            Some(path) => {
                if let Some(parent) = path.parent() {
                    std::fs::create_dir_all(parent)?;
                }
                Some(File::create(path)?)
            }
            None => None,
        };
        let (done, drained) = mpsc::channel();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(reader);
            let mut buffer = Vec::new();
            loop {
                buffer.clear();
                match reader.read_until(b'\n', &mut buffer) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
                let text = String::from_utf8_lossy(&buffer);
                let line = match masked.lock() {
                    Ok(secrets) => mask(text.trim_end_matches(['\n', '\r']), &secrets),
                    Err(_) => text.trim_end_matches(['\n', '\r']).to_string(),
                };
                output.line(&stage, &action, &line);
                if let Some(file) = file.as_mut() {
                    let _ = writeln!(file, "{line}");
                }
            }
            if let Some(file) = file.as_mut() {
                let _ = file.flush();
            }
            let _ = done.send(());
        });
        let console = Console { writer, drained: Mutex::new(drained), secrets: shared };
        console.mask_also(secrets);
        Ok(console)
    }

    /// Masks these values too from now on (secrets become known during DOWNLOAD_SOURCE).
    pub fn mask_also(&self, values: Vec<String>) {
        if let Ok(mut secrets) = self.secrets.lock() {
            secrets.extend(values.into_iter().filter(|v| !v.is_empty()));
            secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        }
    }

    /// Writes one line of the runner's own.
    pub fn say(&self, line: &str) {
        let _ = (&self.writer).write_all(format!("{line}\n").as_bytes());
    }

    /// stdout and stderr for a command.
    pub fn stdio(&self) -> io::Result<(Stdio, Stdio)> {
        Ok((Stdio::from(self.writer.try_clone()?), Stdio::from(self.writer.try_clone()?)))
    }

    /// Closes the runner's end and waits (a little) for the reader to finish.
    pub async fn close(self) {
        let Console { writer, drained, .. } = self;
        drop(writer);
        let _ = tokio::task::spawn_blocking(move || drained.into_inner().map(|r| r.recv_timeout(DRAIN))).await;
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
}
