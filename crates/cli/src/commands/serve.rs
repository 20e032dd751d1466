//! `pipewright serve`: CodePipeline's control API (AWS JSON 1.1) over the local state
//! directory, so that `aws codepipeline … --endpoint-url`, boto3 and the AWS SDKs drive local
//! pipelines. Executions it starts are carried out by background workers, as after `start`.
//! The artifact directory is served too, as S3 objects (`serve_s3`), for Lambda job workers.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result};
use axum::body::{Body, to_bytes};
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};

use pipewright_api::console::ConsoleAuth;
use pipewright_api::hosts::AllowedHosts;
use pipewright_api::protocol::{CONTENT_TYPE, MAX_BODY_BYTES, header_pairs};
use pipewright_api::{ApiError, Authenticator, ControlPlane, HttpRequest, HttpResponse, KeyRing};
use pipewright_core::engine::Event;
use pipewright_core::service::{Handled, PipelineCache, ServiceError};
use pipewright_core::time::Timestamp;
use pipewright_local::backend::{Backend, LOCAL_REGION, RunOptions, Shared, now};
use pipewright_local::report::Silent;
use pipewright_local::store::SqliteStore;

use crate::failure::usage;
use crate::launcher::TaskLauncher;

/// The account id local ARNs carry.
pub const LOCAL_ACCOUNT: &str = "000000000000";

#[derive(clap::Args)]
pub struct ServeArgs {
    /// The loopback port to listen on (0: any free one; the address is printed).
    #[arg(long, default_value_t = 8080)]
    port: u16,
    /// Take source action ACTION's content from PATH in every execution started here (a git
    /// repository, a directory, or a zip file), or from a git URL[#REF]; a webhook's commit is
    /// taken from there. Repeatable.
    #[arg(long = "source", value_name = "ACTION=PATH|URL[#REF]", value_parser = crate::commands::run::parse_pair)]
    sources: Vec<(String, String)>,
    /// Approve every manual approval at once.
    #[arg(long)]
    auto_approve: bool,
    /// The account id ARNs, errors and jobs name (12 digits).
    #[arg(long, value_name = "ACCOUNT", default_value = LOCAL_ACCOUNT)]
    account_id: String,
    /// Keep each action's workspace after it ends, to look at; by default it is removed (its
    /// log, which the console shows, always stays).
    #[arg(long)]
    keep_workspaces: bool,
    /// Send Lambda invoke actions to this Lambda Invoke API (`cargo lambda watch`, e.g.
    /// http://127.0.0.1:9000). The functions report through this server's job protocol and
    /// read and write artifacts through its S3 endpoint (`AWS_ENDPOINT_URL_CODEPIPELINE` and
    /// `AWS_ENDPOINT_URL_S3` = this server's URL).
    #[arg(long, value_name = "URL", env = "AWS_ENDPOINT_URL_LAMBDA")]
    lambda_endpoint: Option<String>,
    /// Accept only requests signed (SigV4) with this access key id and --secret-key;
    /// without them any signature, or none, is accepted.
    #[arg(long, requires = "secret_key", env = "PIPEWRIGHT_ACCESS_KEY")]
    access_key: Option<String>,
    /// The secret of --access-key.
    #[arg(long, requires = "access_key", env = "PIPEWRIGHT_SECRET_KEY", hide_env_values = true)]
    secret_key: Option<String>,
    /// Take repository webhooks at POST /webhooks/github, /webhooks/bitbucket and
    /// /webhooks/gitlab, signed with this secret (the webhook's secret on the host). Each
    /// pipeline whose trigger matches starts, taking the pushed commit from its --source.
    #[arg(long, value_name = "SECRET", env = "PIPEWRIGHT_WEBHOOK_SECRET", hide_env_values = true)]
    webhook_secret: Option<String>,
    /// Also answer requests for this host name (`NAME` for any port, or `NAME:PORT`), e.g. a
    /// tunnel's. Without it only 127.0.0.1, localhost and [::1] on the server's port are
    /// answered, so a web page that rebinds its name to 127.0.0.1 reaches nothing. Through
    /// such a name, a server without --access-key takes webhooks only. Repeatable.
    #[arg(long = "allow-host", value_name = "NAME[:PORT]")]
    allow_hosts: Vec<String>,
    /// CodeBuild project NAME, from FILE: the JSON `aws codebuild batch-get-projects --names
    /// NAME` prints, or a buildspec. Repeatable.
    #[arg(long = "codebuild-project", value_name = "NAME=FILE", value_parser = crate::commands::run::parse_pair)]
    codebuild_projects: Vec<(String, String)>,
    /// Run CodeBuild project NAME with the buildspec at PATH instead of its own. Repeatable.
    #[arg(long = "buildspec", value_name = "NAME=PATH", value_parser = crate::commands::run::parse_pair)]
    buildspecs: Vec<(String, String)>,
    /// A Parameter Store or Secrets Manager value for builds (NAME: the variable, the
    /// parameter name or the secret id). Repeatable.
    #[arg(long = "secret", value_name = "NAME=VALUE", value_parser = crate::commands::run::parse_pair)]
    secrets: Vec<(String, String)>,
    /// Where the deploy actions of every execution started here go, as with `run`.
    #[command(flatten)]
    deploy: crate::deploy_target::DeployFlags,
}

/// The local deployment, as the API sees it.
pub struct LocalPlane {
    backend: Backend,
    options: RunOptions,
    /// `--region`: the region the pipelines' answers name; `local` without it.
    home_region: String,
    webhook_secret: Option<Vec<u8>>,
    /// This server's URL, where PutWebhook's webhooks are.
    url: String,
    authenticator: Authenticator,
    console: ConsoleAuth,
    hosts: AllowedHosts,
}

impl ControlPlane for LocalPlane {
    type Store = SqliteStore;

    fn store(&self) -> &SqliteStore {
        self.backend.store.as_ref()
    }

    fn cache(&self) -> &PipelineCache {
        &self.backend.cache
    }

    fn now(&self) -> Timestamp {
        now()
    }

    fn account(&self) -> &str {
        &self.backend.providers.account
    }

    fn region(&self) -> &str {
        LOCAL_REGION
    }

    fn home_region(&self) -> &str {
        &self.home_region
    }

    /// A start also records the run options of this server for the new execution, in its
    /// own commit (`Backend::submit_start`).
    async fn submit(&self, pipeline: &str, event: &Event) -> Result<Handled, ServiceError> {
        match event {
            Event::StartExecution(_) => self.backend.submit_start(pipeline, event, &self.options).await,
            _ => self.backend.submit(pipeline, event, &[], None).await,
        }
    }

    fn action_log(&self, execution_id: &str, stage: &str, action: &str, attempt: u32) -> Option<String> {
        let logs = &self.backend.providers.logs_root;
        pipewright_local::providers::read_action_log(logs, execution_id, stage, action, attempt)
    }

    fn webhook_endpoint(&self) -> Option<String> {
        Some(format!("{}/", self.url))
    }
}

/// The run options every execution started here gets (saved with it, so its worker deploys
/// where the flags say: `run::configure_worker`).
fn run_options(args: &ServeArgs, profile: Option<&str>, region: Option<&str>) -> Result<RunOptions> {
    let working_directory = std::env::current_dir().context("cannot read the current directory")?;
    let mut sources = std::collections::BTreeMap::new();
    for (action, value) in &args.sources {
        sources.insert(action.clone(), crate::commands::run::source_location(action, value, &working_directory, true)?);
    }
    let build_projects =
        crate::build_projects::from_flags(&args.codebuild_projects, &args.buildspecs, &working_directory)?;
    Ok(RunOptions {
        sources,
        working_directory,
        auto_approve: args.auto_approve,
        lambda_endpoint: args.lambda_endpoint.clone(),
        build_projects,
        secrets: crate::build_projects::secrets(&args.secrets),
        keep_workspaces: args.keep_workspaces,
        deploy: args.deploy.chosen(profile, region),
        ..RunOptions::default()
    })
}

pub async fn serve(
    state_dir: &Path,
    args: &ServeArgs,
    profile: Option<&str>,
    region: Option<&str>,
) -> Result<std::process::ExitCode> {
    if args.account_id.len() != 12 || !args.account_id.bytes().all(|b| b.is_ascii_digit()) {
        return Err(usage(format!("--account-id {:?}: an account id is 12 digits", args.account_id)));
    }
    let options = run_options(args, profile, region)?;
    let address = SocketAddr::from(([127, 0, 0, 1], args.port));
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .map_err(|e| usage(format!("--port {}: cannot listen on {address}: {e}", args.port)))?;
    let bound = listener.local_addr().context("cannot read the listening address")?;
    // The workers it starts write approval messages whose links open this console.
    let console_url = format!("http://{bound}");
    let launcher = TaskLauncher {
        state_dir: state_dir.to_path_buf(),
        console_url: console_url.clone(),
        account: args.account_id.clone(),
        working_directory: options.working_directory.clone(),
        secrets: options.secrets.clone(),
        runtime: tokio::runtime::Handle::current(),
        shared: Arc::default(),
    };
    let shared = launcher.shared.clone();
    let mut backend = Backend::open(state_dir, &options.working_directory, Arc::new(Silent), Some(Arc::new(launcher)))
        .map_err(anyhow::Error::new)?;
    // Its task workers' writes let the API's go first.
    let _ = shared.set(Shared { store: Arc::new(backend.store.for_background_work()), ..backend.shared() });
    backend.console_url = console_url;
    backend.providers.account = args.account_id.clone();
    pipewright_local::recovery::resume_orphans(&backend, None).await?;
    let authenticator = match (&args.access_key, &args.secret_key) {
        (Some(key), Some(secret)) => Authenticator::Keys(KeyRing::of_api_key(key.clone(), secret.clone())),
        _ => Authenticator::Open,
    };
    // On loopback the console is open, as the API is without keys; with keys it asks for them.
    // The CSRF secret lives as long as this server: a restart invalidates open forms.
    let console = ConsoleAuth::new(authenticator.clone(), false, random_secret());
    let hosts = AllowedHosts::new(bound.port(), args.allow_hosts.clone());
    let webhook_secret = args.webhook_secret.as_ref().map(|secret| secret.as_bytes().to_vec());
    if webhook_secret.as_ref().is_some_and(Vec::is_empty) {
        return Err(usage("--webhook-secret: the secret must not be empty"));
    }
    let url = format!("http://{bound}");
    let home_region = region.unwrap_or(LOCAL_REGION).to_string();
    let plane =
        Arc::new(LocalPlane { backend, options, home_region, webhook_secret, url, authenticator, console, hosts });
    say!("pipewright serve: CodePipeline API at http://{bound}/ (state directory {})", state_dir.display());
    say!("  the console: http://{bound}/");
    say!("  aws codepipeline list-pipelines --endpoint-url http://{bound} --region {LOCAL_REGION}");
    if plane.webhook_secret.is_some() {
        say!("  repository webhooks: http://{bound}/webhooks/github (also /webhooks/bitbucket, /webhooks/gitlab)");
    }
    let resumer = plane.clone();
    tokio::spawn(async move { pipewright_local::recovery::keep_resuming(&resumer.backend).await });
    let app = axum::Router::new().fallback(api).with_state(plane).into_make_service_with_connect_info::<SocketAddr>();
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    axum::serve(listener, app).with_graceful_shutdown(shutdown).await.context("the server failed")?;
    Ok(std::process::ExitCode::SUCCESS)
}

/// 32 random bytes (two v4 UUIDs come from the OS's generator).
fn random_secret() -> Vec<u8> {
    [uuid::Uuid::new_v4(), uuid::Uuid::new_v4()].iter().flat_map(|u| *u.as_bytes()).collect()
}

fn respond(response: HttpResponse) -> Response {
    let status = StatusCode::from_u16(response.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, [(header::CONTENT_TYPE, CONTENT_TYPE)], response.body_bytes()).into_response()
}

async fn api(
    State(plane): State<Arc<LocalPlane>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    // Before anything else: a request for another name is a rebinding page, not a client.
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    if !plane.hosts.allows(host) {
        let refusal = plane.hosts.refusal(host);
        return (StatusCode::MISDIRECTED_REQUEST, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], refusal)
            .into_response();
    }
    if method == Method::POST && uri.path().starts_with("/webhooks/") {
        return webhook(&plane, &uri, &headers, body, peer).await;
    }
    // A name given with --allow-host (a tunnel's) reaches this server from anywhere: without
    // keys, whoever reaches it could create a pipeline whose commands run here. Webhooks,
    // which authenticate themselves, pass; the rest needs --access-key.
    if matches!(plane.authenticator, Authenticator::Open) && !plane.hosts.is_loopback(host) {
        let refusal = "this server has no keys: through a name given with --allow-host it takes only webhooks \
                       (POST /webhooks/...); start it with --access-key and --secret-key to serve the API and \
                       the console there";
        // An SDK reads the API's refusal as AWS writes one.
        if headers.contains_key("x-amz-target") {
            return respond(
                ApiError { status: 403, exception: "AccessDeniedException", message: refusal.to_string() }.response(),
            );
        }
        return (StatusCode::FORBIDDEN, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], refusal).into_response();
    }
    let headers = header_pairs(&headers);
    // An upload streams to disk, within S3's limit rather than the API's.
    let head = HttpRequest::from_parts(&method, &uri, &headers, &[]);
    if method == Method::PUT && matches!(route(&head), Route::S3) {
        return crate::commands::serve_s3::put(plane.as_ref(), &plane.backend, &plane.authenticator, &head, body).await;
    }
    // One byte more than the limit, so that the API itself reports an oversize body.
    let body = match to_bytes(body, MAX_BODY_BYTES + 1).await {
        Ok(body) => body,
        Err(_) => {
            return respond(
                ApiError::validation(format!("the request body exceeds the limit of {MAX_BODY_BYTES} bytes"))
                    .response(),
            );
        }
    };
    let request = HttpRequest::from_parts(&method, &uri, &headers, &body);
    match route(&request) {
        Route::Api => respond(pipewright_api::handle(plane.as_ref(), &plane.authenticator, request).await),
        Route::S3 => {
            crate::commands::serve_s3::object(plane.as_ref(), &plane.backend, &plane.authenticator, &request).await
        }
        Route::Console => {
            let page = pipewright_api::console::handle(plane.as_ref(), &plane.console, request).await;
            let status = StatusCode::from_u16(page.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let mut response = (status, page.body).into_response();
            // The page names its own content type (axum's default for bytes is octet-stream).
            response.headers_mut().remove(header::CONTENT_TYPE);
            for (name, value) in page.headers {
                if let (Ok(name), Ok(value)) =
                    (header::HeaderName::from_bytes(name.as_bytes()), header::HeaderValue::from_str(&value))
                {
                    response.headers_mut().append(name, value);
                }
            }
            response
        }
    }
}

async fn webhook(plane: &LocalPlane, uri: &Uri, headers: &HeaderMap, body: Body, peer: SocketAddr) -> Response {
    use crate::commands::serve_webhooks::{self, MAX_DELIVERY_BYTES};
    use pipewright_api::webhook_delivery::{self, WebhookDelivery};
    let Ok(body) = to_bytes(body, MAX_DELIVERY_BYTES).await else {
        return (StatusCode::PAYLOAD_TOO_LARGE, "a delivery is at most 25 MB").into_response();
    };
    let headers: Vec<(String, String)> = headers
        .iter()
        .filter_map(|(name, value)| Some((name.as_str().to_string(), value.to_str().ok()?.to_string())))
        .collect();
    let query = uri.query().unwrap_or_default();
    if let Some(delivery) = WebhookDelivery::of(uri.path(), query, &headers, &body, Some(peer.ip())) {
        return match webhook_delivery::deliver(plane, delivery).await {
            Ok(started) => serve_webhooks::answer(StatusCode::ACCEPTED, started),
            Err(refused) => serve_webhooks::message(
                StatusCode::from_u16(refused.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
                &refused.message,
            ),
        };
    }
    serve_webhooks::deliver(plane, plane.webhook_secret.as_deref(), uri.path(), &headers, &body).await
}

enum Route {
    Api,
    S3,
    Console,
}

/// `POST /` is the API; requests an S3 client signs (they declare their payload hash) or
/// PUT/HEAD an object are the artifact endpoint; everything else is the console.
fn route(request: &HttpRequest<'_>) -> Route {
    if request.method == "POST" && request.path == "/" {
        Route::Api
    } else if request.header("x-amz-content-sha256").is_some() || matches!(request.method, "PUT" | "HEAD") {
        Route::S3
    } else {
        Route::Console
    }
}
