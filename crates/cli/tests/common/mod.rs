//! What the test binaries that drive `pipewright serve` share.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

/// Polls `probe` every 200 ms for up to a minute.
#[allow(dead_code, reason = "not every test binary that shares this module waits")]
pub fn wait_for<T>(what: &str, mut probe: impl FnMut() -> Option<T>) -> T {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        if let Some(value) = probe() {
            return value;
        }
        assert!(std::time::Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

/// A `pipewright serve` on a free loopback port, stopped when dropped.
pub struct Serve {
    child: Child,
    /// `http://127.0.0.1:<port>`, as serve printed it.
    pub endpoint: String,
}

impl Serve {
    /// Starts `pipewright --state-dir STATE serve --port 0 ARGS…` in `directory`.
    pub fn start(directory: &Path, state: &Path, args: &[&str]) -> Serve {
        let mut child = Command::new(env!("CARGO_BIN_EXE_pipewright"))
            .current_dir(directory)
            .arg("--state-dir")
            .arg(state)
            .args(["serve", "--port", "0"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start pipewright serve");
        let mut first = String::new();
        BufReader::new(child.stdout.take().expect("serve's stdout")).read_line(&mut first).expect("serve's first line");
        let endpoint = first
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .unwrap_or_else(|| panic!("serve did not print its address: {first:?}"))
            .trim_end_matches('/')
            .to_string();
        Serve { child, endpoint }
    }

    /// The server's process id.
    #[allow(dead_code, reason = "not every test binary that shares this module asks")]
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Stops the server as Ctrl-C in its terminal does (SIGINT), and waits for it to exit.
    #[allow(dead_code, reason = "not every test binary that shares this module asks")]
    pub fn interrupt(&mut self) -> std::process::ExitStatus {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT).expect("SIGINT to serve");
        self.child.wait().expect("serve's exit")
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A request to `url` (with CodePipeline's `X-Amz-Target` when `target` is given), through
/// `python3`'s standard library: (status, body).
#[allow(dead_code, reason = "not every test binary that shares this module asks")]
pub fn fetch(method: &str, url: &str, target: &str, body: &str) -> (u16, String) {
    // `python3 - METHOD URL TARGET BODY`: prints the status, then the body.
    const FETCH: &str = r#"
import sys, urllib.request, urllib.error
method, url, target, body = sys.argv[1:5]
headers = {}
if target:
    headers = {"X-Amz-Target": "CodePipeline_20150709." + target, "Content-Type": "application/x-amz-json-1.1"}
data = body.encode() if method == "POST" else None
request = urllib.request.Request(url, data=data, headers=headers, method=method)
try:
    with urllib.request.urlopen(request, timeout=300) as response:
        print(response.status); print(response.read().decode())
except urllib.error.HTTPError as error:
    print(error.code); print(error.read().decode())
"#;
    let output = Command::new("python3").args(["-c", FETCH, method, url, target, body]).output().expect("python3");
    assert!(output.status.success(), "fetch failed: {}", String::from_utf8_lossy(&output.stderr));
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    let (status, body) = text.split_once('\n').unwrap_or((&text, ""));
    (status.trim().parse().unwrap_or_else(|_| panic!("no status in {text:?}")), body.to_string())
}
