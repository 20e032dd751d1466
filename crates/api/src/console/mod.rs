//! The pipeline console: server-rendered pages over the same operations as the wire API
//! (`crate::call`), with a few lines of plain JS that keep the pipeline view live. No build
//! step, no CDN: the CSS and JS are compiled in. Mutating buttons are POST forms with a
//! double-submit CSRF token; on AWS every page needs a session, opened with the stack's API
//! key at `/login`.

mod pages;
pub mod views;

use pipewright_core::mac::{hmac_sha256, verify_hmac_sha256};
use serde_json::{Value, json};

use crate::protocol::percent_encode;
use subtle::ConstantTimeEq as _;

use crate::protocol::{ApiError, HttpRequest, form_pairs};
use crate::sigv4::Authenticator;
use crate::{Caller, ControlPlane, call};

const STYLE: &str = include_str!("style.css");
const SCRIPT: &str = include_str!("console.js");
const CSRF_COOKIE: &str = "pw_csrf";
const SESSION_COOKIE: &str = "pw_session";
/// How long a console session lasts.
const SESSION_SECONDS: i64 = 12 * 3600;

/// A response of the console.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Page {
    fn html(status: u16, body: String) -> Page {
        Page {
            status,
            headers: vec![
                ("content-type".into(), "text/html; charset=utf-8".into()),
                ("cache-control".into(), "no-store".into()),
                ("x-content-type-options".into(), "nosniff".into()),
                ("x-frame-options".into(), "DENY".into()),
                (
                    "content-security-policy".into(),
                    "default-src 'self'; style-src 'self'; script-src 'self'; frame-ancestors 'none'".into(),
                ),
            ],
            body: body.into_bytes(),
        }
    }

    fn asset(content_type: &str, body: &str) -> Page {
        Page {
            status: 200,
            headers: vec![("content-type".into(), content_type.into()), ("cache-control".into(), "max-age=300".into())],
            body: body.as_bytes().to_vec(),
        }
    }

    /// Plain text (messages, action logs): never sniffed as HTML, never run, never framed,
    /// whatever a log holds.
    fn text(status: u16, body: String) -> Page {
        Page {
            status,
            headers: vec![
                ("content-type".into(), "text/plain; charset=utf-8".into()),
                ("cache-control".into(), "no-store".into()),
                ("x-content-type-options".into(), "nosniff".into()),
                ("x-frame-options".into(), "DENY".into()),
                ("content-security-policy".into(), "default-src 'none'; sandbox; frame-ancestors 'none'".into()),
            ],
            body: body.into_bytes(),
        }
    }

    fn redirect(to: &str) -> Page {
        Page { status: 303, headers: vec![("location".into(), to.to_string())], body: Vec::new() }
    }

    fn with_cookie(mut self, cookie: String) -> Page {
        self.headers.push(("set-cookie".into(), cookie));
        self
    }
}

/// Who may use the console: anybody (a loopback `pipewright serve`), or whoever signs in
/// with one of the keys (the api function, with the stack's API key).
#[derive(Clone)]
pub struct ConsoleAuth {
    pub authenticator: Authenticator,
    /// Cookies carry `Secure` (the console is served over HTTPS).
    pub secure_cookies: bool,
    /// The server's secret that form tokens are derived from, so that a token cannot be made
    /// up by whoever can set the browser's cookies (see [`ConsoleAuth::form_token`]).
    csrf_secret: Vec<u8>,
}

impl std::fmt::Debug for ConsoleAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConsoleAuth").field("secure_cookies", &self.secure_cookies).finish_non_exhaustive()
    }
}

/// What a form token's MAC covers: the browser's CSRF cookie and the caller.
fn form_claims(cookie_nonce: &str, caller: &Caller) -> String {
    let identity = caller.identity.as_deref().unwrap_or_default();
    format!("pipewright-console-csrf\n{cookie_nonce}\n{identity}")
}

fn cookie<'a>(request: &HttpRequest<'a>, name: &str) -> Option<&'a str> {
    request.header("cookie")?.split(';').map(str::trim).find_map(|c| c.strip_prefix(name)?.strip_prefix('='))
}

/// What a session cookie's MAC covers.
fn session_claims(access_key: &str, expires: i64) -> String {
    format!("pipewright-console\n{access_key}\n{expires}")
}

fn session_mac(secret: &str, access_key: &str, expires: i64) -> String {
    hex::encode(hmac_sha256(secret.as_bytes(), session_claims(access_key, expires).as_bytes()))
}

/// Whether `hex_tag` is the HMAC of `data` under `key` (constant time, `verify_slice`).
fn genuine(key: &[u8], data: &str, hex_tag: &str) -> bool {
    hex::decode(hex_tag).is_ok_and(|tag| verify_hmac_sha256(key, data.as_bytes(), &tag))
}

impl ConsoleAuth {
    /// `csrf_secret` must be secret and the same for every instance that serves one console
    /// (on AWS it is derived from the stack's key; locally it is random per server).
    pub fn new(authenticator: Authenticator, secure_cookies: bool, csrf_secret: Vec<u8>) -> ConsoleAuth {
        ConsoleAuth { authenticator, secure_cookies, csrf_secret }
    }

    /// A CSRF secret derived from the keys' secrets, the same on every instance that holds
    /// them (the api function's Lambda instances); `None` for an open console.
    pub fn secret_from_keys(authenticator: &Authenticator) -> Option<Vec<u8>> {
        let Authenticator::Keys(keys) = authenticator else { return None };
        let material: String = keys.full.iter().map(|(key, secret)| format!("{key}\n{secret}\n")).collect();
        Some(hmac_sha256(material.as_bytes(), b"pipewright-console-csrf-secret").to_vec())
    }

    /// The token a form must echo: an HMAC, under the server's secret, of the browser's
    /// random CSRF cookie and the caller. A cookie planted by another site is useless without
    /// the token that belongs to it, and that token only this server can make.
    fn form_token(&self, cookie_nonce: &str, caller: &Caller) -> String {
        hex::encode(hmac_sha256(&self.csrf_secret, form_claims(cookie_nonce, caller).as_bytes()))
    }

    /// Whether a form's `token` is [`ConsoleAuth::form_token`] of this cookie and caller.
    fn form_token_valid(&self, cookie_nonce: &str, caller: &Caller, token: &str) -> bool {
        genuine(&self.csrf_secret, &form_claims(cookie_nonce, caller), token)
    }

    /// The signed-in caller, or `None` when a session is needed and missing or expired.
    fn caller(&self, request: &HttpRequest<'_>, now: i64) -> Option<Caller> {
        let Authenticator::Keys(keys) = &self.authenticator else {
            return Some(Caller::named("console"));
        };
        let session = cookie(request, SESSION_COOKIE)?;
        let mut parts = session.splitn(3, '.');
        let (key, expires, mac) = (parts.next()?, parts.next()?.parse::<i64>().ok()?, parts.next()?);
        // Only a full key signs in: a job worker's key reports jobs, and reads nothing.
        let secret = keys.full.get(key)?;
        (expires > now && genuine(secret.as_bytes(), &session_claims(key, expires), mac)).then(|| Caller::named(key))
    }

    fn cookie_attributes(&self) -> &'static str {
        if self.secure_cookies {
            "; Path=/; HttpOnly; SameSite=Strict; Secure"
        } else {
            "; Path=/; HttpOnly; SameSite=Strict"
        }
    }
}

fn field<'a>(fields: &'a [(String, String)], name: &str) -> &'a str {
    fields.iter().find(|(k, _)| k == name).map_or("", |(_, v)| v.as_str())
}

fn query_param(query: &str, name: &str) -> Option<String> {
    form_pairs(query.as_bytes()).into_iter().find(|(k, _)| k == name).map(|(_, v)| v)
}

fn new_token() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// Serves one console request.
pub async fn handle<C: ControlPlane>(plane: &C, auth: &ConsoleAuth, request: HttpRequest<'_>) -> Page {
    let now = plane.now().millis() / 1000;
    match (request.method, request.path) {
        ("GET", "/static/console.css") => return Page::asset("text/css; charset=utf-8", STYLE),
        ("GET", "/static/console.js") => return Page::asset("text/javascript; charset=utf-8", SCRIPT),
        ("GET", "/login") => return Page::html(200, views::login(None)),
        ("POST", "/login") => return login(auth, &request, now),
        _ => {}
    }
    let Some(caller) = auth.caller(&request, now) else {
        return if request.method == "GET" {
            Page::redirect("/login")
        } else {
            Page::text(403, "sign in first".into())
        };
    };
    // A random cookie of the browser's; forms echo the server's MAC of it (`form_token`).
    let (nonce, fresh) = match cookie(&request, CSRF_COOKIE) {
        Some(nonce) if nonce.len() == 32 && nonce.chars().all(|c| c.is_ascii_hexdigit()) => (nonce.to_string(), false),
        _ => (new_token(), true),
    };
    let csrf = auth.form_token(&nonce, &caller);
    let page = if request.method == "POST" {
        // A POST without the cookie cannot carry its token: refused whatever its form says.
        let token_ok = !fresh && auth.form_token_valid(&nonce, &caller, field(&form_pairs(request.body), "csrf"));
        mutate(plane, &caller, &request, token_ok).await
    } else {
        read(plane, &request, &csrf).await
    };
    if fresh { page.with_cookie(format!("{CSRF_COOKIE}={nonce}{}", auth.cookie_attributes())) } else { page }
}

fn login(auth: &ConsoleAuth, request: &HttpRequest<'_>, now: i64) -> Page {
    let fields = form_pairs(request.body);
    let (key, secret) = (field(&fields, "accessKeyId"), field(&fields, "secretAccessKey"));
    let valid = match &auth.authenticator {
        Authenticator::Open => true,
        // A secret, not a MAC: compared in constant time all the same.
        Authenticator::Keys(keys) => {
            keys.full.get(key).is_some_and(|expected| bool::from(expected.as_bytes().ct_eq(secret.as_bytes())))
        }
    };
    if !valid {
        return Page::html(403, views::login(Some("The access key or its secret is not right.")));
    }
    let expires = now + SESSION_SECONDS;
    let mac = session_mac(secret, key, expires);
    Page::redirect("/").with_cookie(format!("{SESSION_COOKIE}={key}.{expires}.{mac}{}", auth.cookie_attributes()))
}

/// The `/pipelines/<name>/…` segments of a path.
fn pipeline_path(path: &str) -> Option<(String, Vec<String>)> {
    let rest = path.strip_prefix("/pipelines/")?;
    let mut parts = rest.split('/').filter(|p| !p.is_empty()).map(crate::protocol::percent_decode);
    let name = parts.next()?.ok()?;
    Some((name, parts.collect::<Result<_, _>>().ok()?))
}

fn error_page(error: &ApiError) -> Page {
    let status = if error.exception.ends_with("NotFoundException") { 404 } else { error.status };
    Page::html(status, views::error(error))
}

async fn read<C: ControlPlane>(plane: &C, request: &HttpRequest<'_>, csrf: &str) -> Page {
    if request.path == "/" {
        return match pages::pipelines(plane).await {
            Ok(html) => Page::html(200, html),
            Err(error) => error_page(&error),
        };
    }
    let Some((name, rest)) = pipeline_path(request.path) else {
        return Page::html(404, views::error(&ApiError::client("NotFound", format!("no page at {}", request.path))));
    };
    let rest: Vec<&str> = rest.iter().map(String::as_str).collect();
    let flash = query_param(request.query, "error");
    let result = match rest.as_slice() {
        [] if query_param(request.query, "fragment").is_some() => pages::pipeline_data(plane, &name)
            .await
            .map(|data| Page::html(200, views::pipeline_main(&data, csrf, flash.as_deref()))),
        [] => pages::pipeline_data(plane, &name)
            .await
            .map(|data| Page::html(200, views::pipeline(&data, csrf, flash.as_deref()))),
        ["executions"] => pages::history(plane, &name).await.map(|html| Page::html(200, html)),
        ["executions", id] => pages::execution(plane, &name, id).await.map(|html| Page::html(200, html)),
        ["executions", id, "logs", stage, action, attempt] => {
            let valid = [*stage, *action].iter().all(|n| !n.is_empty() && n.chars().all(crate::protocol::name_char))
                && crate::protocol::check_execution_id(id, "execution").is_ok();
            match (valid, attempt.parse::<u32>()) {
                (true, Ok(attempt)) => Ok(match plane.action_log(id, stage, action, attempt) {
                    Some(log) => Page::text(200, log),
                    None => Page::text(404, "no log is kept for this action here".into()),
                }),
                _ => Ok(Page::text(400, "bad log path".into())),
            }
        }
        ["approve", stage, action] => {
            let token = query_param(request.query, "token").unwrap_or_default();
            pages::approval(plane, &name, stage, action, &token, csrf).await.map(|html| Page::html(200, html))
        }
        _ => Err(ApiError::client("NotFound", format!("no page at {}", request.path))),
    };
    result.unwrap_or_else(|error| error_page(&error))
}

/// A form's POST: checked for CSRF, then one API operation, then back to the pipeline view.
async fn mutate<C: ControlPlane>(plane: &C, caller: &Caller, request: &HttpRequest<'_>, token_ok: bool) -> Page {
    let fields = form_pairs(request.body);
    let cross_site = request.header("sec-fetch-site").is_some_and(|s| s == "cross-site");
    // The transport has checked Host (loopback names locally, the Function URL on AWS), so an
    // Origin that names another host is another site.
    let origin_ok = match (request.header("origin"), request.header("host")) {
        (Some(origin), Some(host)) => origin.split("://").nth(1) == Some(host),
        _ => true,
    };
    if cross_site || !origin_ok || !token_ok {
        return Page::text(403, "this form is stale or came from another site; reload the page and try again".into());
    }
    let Some((name, rest)) = pipeline_path(request.path) else { return Page::text(404, "no such form".into()) };
    let back = format!("/pipelines/{}", percent_encode(&name));
    let execution = field(&fields, "execution");
    let stage = field(&fields, "stage");
    let (operation, input): (&str, Value) = match rest.first().map(String::as_str) {
        Some("start") => ("StartPipelineExecution", json!({ "name": name })),
        Some("stop") => (
            "StopPipelineExecution",
            json!({ "pipelineName": name, "pipelineExecutionId": execution, "abandon": field(&fields, "abandon") == "true",
                    "reason": "Stopped from the console" }),
        ),
        Some("retry") => (
            "RetryStageExecution",
            json!({ "pipelineName": name, "stageName": stage, "pipelineExecutionId": execution,
                    "retryMode": if field(&fields, "retryMode") == "ALL_ACTIONS" { "ALL_ACTIONS" } else { "FAILED_ACTIONS" } }),
        ),
        Some("approve") => (
            "PutApprovalResult",
            json!({ "pipelineName": name, "stageName": stage, "actionName": field(&fields, "action"),
                    "token": field(&fields, "token"),
                    "result": { "status": field(&fields, "status"), "summary": field(&fields, "summary") } }),
        ),
        // The wire operations themselves: their rules decide (docs/conditions.md).
        Some("override") => (
            "OverrideStageCondition",
            json!({ "pipelineName": name, "stageName": stage, "pipelineExecutionId": execution,
                    "conditionType": field(&fields, "condition") }),
        ),
        Some("rollback") => (
            "RollbackStage",
            json!({ "pipelineName": name, "stageName": stage, "targetPipelineExecutionId": field(&fields, "target") }),
        ),
        Some("transition") if field(&fields, "enabled") == "true" => {
            ("EnableStageTransition", json!({ "pipelineName": name, "stageName": stage, "transitionType": "Inbound" }))
        }
        Some("transition") => {
            let reason = field(&fields, "reason");
            let reason = if reason.is_empty() { "Disabled from the console" } else { reason };
            (
                "DisableStageTransition",
                json!({ "pipelineName": name, "stageName": stage, "transitionType": "Inbound", "reason": reason }),
            )
        }
        _ => return Page::text(404, "no such form".into()),
    };
    match call(plane, caller, operation, input).await {
        Ok(_) => Page::redirect(&back),
        Err(error) => Page::redirect(&format!("{back}?error={}", percent_encode(&error.to_string()))),
    }
}

#[cfg(test)]
mod tests;
