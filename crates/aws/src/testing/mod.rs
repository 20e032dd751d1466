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

/// The Python that runs moto: the project's venv (made by infra/local/moto.sh), else `python3`
/// from PATH if it can import moto.
fn moto_python() -> Option<PathBuf> {
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../infra/local/.venv/bin/python");
    if venv.exists() {
        return Some(venv);
    }
    let system = PathBuf::from("python3");
    let has_moto = Command::new(&system).args(["-c", "import moto.server"]).status().is_ok_and(|s| s.success());
    has_moto.then_some(system)
}

/// infra/local/moto_strict.py: moto with its requests serialised and held to AWS's limits (see
/// the script for why).
fn moto_launcher() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../infra/local/moto_strict.py")
}

use watch::free_port;

/// The moto endpoint all tests of this process use.
pub fn endpoint() -> &'static str {
    ENDPOINT.get_or_init(|| {
        if let Ok(endpoint) = std::env::var("PIPEWRIGHT_MOTO_ENDPOINT") {
            return endpoint;
        }
        let python = moto_python().unwrap_or_else(|| {
            panic!("moto not found: run `bash infra/local/moto.sh install` (or `bash tests/run.sh`, which does it)")
        });
        let port = free_port();
        let (started_tx, started_rx) = std::sync::mpsc::channel();
        // The server dies with the thread that started it (PR_SET_PDEATHSIG), and this thread
        // lives as long as the test process.
        std::thread::spawn(move || {
            let mut command = Command::new(python);
            command
                .arg(moto_launcher())
                .args(["127.0.0.1", &port.to_string()])
                .stdout(Stdio::null())
                .stderr(Stdio::null());
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
        assert!(started_rx.recv().unwrap_or(false), "could not start moto");
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "moto did not listen on port {port}");
            std::thread::sleep(Duration::from_millis(100));
        }
        format!("http://127.0.0.1:{port}")
    })
}

/// An SDK configuration for moto: its endpoint, a region, dummy credentials.
pub async fn sdk_config() -> SdkConfig {
    sdk_config_as("testing").await
}

/// [`sdk_config`] with credentials the stand-in's meter of billed units leaves out
/// (infra/local/moto_strict.py): a test's own observation of a run is not the run's cost.
pub async fn unmetered_sdk_config() -> SdkConfig {
    sdk_config_as("unmetered").await
}

async fn sdk_config_as(access_key: &str) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(endpoint())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new(access_key, "testing", None, None, "moto"))
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
pub mod watch;
