//! Logs as JSON lines on stdout, which CloudWatch Logs indexes field by field. The level comes
//! from `RUST_LOG` (or Lambda's `AWS_LAMBDA_LOG_LEVEL`), `info` by default.

use tracing_subscriber::EnvFilter;

pub fn init() {
    let filter = std::env::var("RUST_LOG")
        .ok()
        .or_else(|| std::env::var("AWS_LAMBDA_LOG_LEVEL").ok().map(|level| level.to_ascii_lowercase()))
        .and_then(|directives| EnvFilter::try_new(directives).ok())
        .unwrap_or_else(|| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(false)
        .with_ansi(false)
        // CloudWatch stamps every line already.
        .without_time()
        .with_target(false)
        .try_init();
}
