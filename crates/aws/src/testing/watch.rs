//! `cargo lambda watch` for tests: the real function binaries behind the Lambda Invoke API
//! and Function URLs it serves, stopped with the test.

use std::fs::File;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// `cargo lambda watch` and everything it started (cargo, the function binaries).
pub struct Watch {
    child: Child,
    log: PathBuf,
}

pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap_or_default()
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).unwrap_or(9000)
}

impl Watch {
    /// Starts `cargo lambda watch` on `port` from the workspace root, with `environment` for
    /// the functions, and waits until it listens; an error, with its log, if it does not.
    pub fn start(port: u16, environment: &[(String, String)]) -> std::io::Result<Watch> {
        let log = std::env::temp_dir().join(format!("pipewright-cargo-lambda-watch-{port}.log"));
        let output = File::create(&log)?;
        let mut command = Command::new("cargo");
        command
            .current_dir(workspace_root())
            .args(["lambda", "watch", "--ignore-changes", "-A", "127.0.0.1", "-P", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(output.try_clone()?)
            .stderr(output);
        for (name, value) in environment {
            command.arg("--env-var").arg(format!("{name}={value}"));
        }
        command.env("RUST_LOG", "info");
        // Its own process group, so that Drop stops the functions too; and stopped if this
        // process dies without unwinding.
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        // SAFETY: only async-signal-safe work (prctl) happens between fork and exec.
        unsafe {
            std::os::unix::process::CommandExt::pre_exec(&mut command, || {
                nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGTERM).map_err(std::io::Error::from)
            });
        }
        let child = command.spawn().map_err(|e| {
            std::io::Error::new(
                e.kind(),
                format!("cannot run `cargo lambda watch` (install it: cargo install --locked cargo-lambda): {e}"),
            )
        })?;
        let watch = Watch { child, log };
        let deadline = Instant::now() + Duration::from_secs(120);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if Instant::now() >= deadline {
                return Err(std::io::Error::other(format!("cargo lambda watch did not listen:\n{}", watch.log_tail())));
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        Ok(watch)
    }

    /// The last lines of its log, for failure messages.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(60)..].join("\n")
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        let group = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let _ = nix::sys::signal::killpg(group, nix::sys::signal::Signal::SIGTERM);
        let _ = self.child.wait();
    }
}
