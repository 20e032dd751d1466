//! A moto server for tests: the one `tests/run.sh` started (`PIPEWRIGHT_MOTO_ENDPOINT`), or
//! one started here for this test process and stopped with it.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_dynamodb::config::Credentials;

static ENDPOINT: OnceLock<String> = OnceLock::new();

/// Where to find `moto_server`: the project's venv (made by infra/local/moto.sh), then PATH.
fn moto_server() -> Option<PathBuf> {
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../infra/local/.venv/bin/moto_server");
    if venv.exists() {
        return Some(venv);
    }
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|dir| Path::new(dir).join("moto_server"))
        .find(|candidate| candidate.exists())
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).unwrap_or(5055)
}

/// The moto endpoint all tests of this process use.
pub fn endpoint() -> &'static str {
    ENDPOINT.get_or_init(|| {
        if let Ok(endpoint) = std::env::var("PIPEWRIGHT_MOTO_ENDPOINT") {
            return endpoint;
        }
        let server = moto_server().unwrap_or_else(|| {
            panic!(
                "moto_server not found: run `bash infra/local/moto.sh install` (or `bash tests/run.sh`, which does it)"
            )
        });
        let port = free_port();
        let (started_tx, started_rx) = std::sync::mpsc::channel();
        // The server dies with the thread that started it (PR_SET_PDEATHSIG), and this thread
        // lives as long as the test process.
        std::thread::spawn(move || {
            let mut command = Command::new(server);
            command.args(["-H", "127.0.0.1", "-p", &port.to_string()]).stdout(Stdio::null()).stderr(Stdio::null());
            // SAFETY: only async-signal-safe work (prctl) happens between fork and exec.
            unsafe {
                use std::os::unix::process::CommandExt;
                command.pre_exec(|| {
                    nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGTERM).map_err(std::io::Error::from)
                });
            }
            let child = command.spawn();
            let _ = started_tx.send(child.is_ok());
            let _keep = child;
            loop {
                std::thread::park();
            }
        });
        assert!(started_rx.recv().unwrap_or(false), "could not start moto_server");
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "moto_server did not listen on port {port}");
            std::thread::sleep(Duration::from_millis(100));
        }
        format!("http://127.0.0.1:{port}")
    })
}

/// An SDK configuration for moto: its endpoint, a region, dummy credentials.
pub async fn sdk_config() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(endpoint())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("testing", "testing", None, None, "moto"))
        .load()
        .await
}

/// A name no other test uses.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", &uuid_like()[..12])
}

fn uuid_like() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    let count = COUNTER.fetch_add(1, Ordering::Relaxed);
    pipewright_core::ids::uuid_from(&[&nanos.to_string(), &count.to_string(), &std::process::id().to_string()])
        .replace('-', "")
}
