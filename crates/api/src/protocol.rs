//! AWS JSON 1.1 as CodePipeline speaks it: `POST /`, `X-Amz-Target:
//! CodePipeline_20150709.<Operation>`, `application/x-amz-json-1.1` bodies, and errors as
//! `{"__type": "<ExceptionName>", "message": …}` with botocore's exception names.

use serde::de::DeserializeOwned;
use serde_json::Value;

/// The `X-Amz-Target` prefix of every CodePipeline operation.
pub const TARGET_PREFIX: &str = "CodePipeline_20150709.";

/// The content type of requests and responses.
pub const CONTENT_TYPE: &str = "application/x-amz-json-1.1";

/// The largest request body accepted. CodePipeline's largest input, a declaration of 500
/// actions with 1,000-character configuration values, stays well below it.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// One HTTP request, as the transport (axum locally, a Function URL on AWS) received it.
#[derive(Debug, Clone, Copy)]
pub struct HttpRequest<'a> {
    pub method: &'a str,
    pub path: &'a str,
    /// The raw query string, without `?`.
    pub query: &'a str,
    /// Every header, names in any case.
    pub headers: &'a [(String, String)],
    pub body: &'a [u8],
}

impl<'a> HttpRequest<'a> {
    /// A request as an `http` server (axum, hyper) received it; `headers` are
    /// [`header_pairs`] of its header map.
    pub fn from_parts(
        method: &'a http::Method,
        uri: &'a http::Uri,
        headers: &'a [(String, String)],
        body: &'a [u8],
    ) -> HttpRequest<'a> {
        HttpRequest { method: method.as_str(), path: uri.path(), query: uri.query().unwrap_or_default(), headers, body }
    }

    pub fn header(&self, name: &str) -> Option<&'a str> {
        header_value(self.headers, name)
    }
}

/// A received request's headers as (name, value) pairs, as [`HttpRequest`] takes them; a value
/// that is not text is left out.
pub fn header_pairs(headers: &http::HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .filter_map(|(name, value)| Some((name.as_str().to_string(), value.to_str().ok()?.to_string())))
        .collect()
}

/// `%XX` escapes decoded (a malformed escape is kept as it is); an error when the bytes are
/// not UTF-8.
pub fn percent_decode(text: &str) -> Result<String, std::str::Utf8Error> {
    percent_encoding::percent_decode_str(text).decode_utf8().map(std::borrow::Cow::into_owned)
}

/// What [`percent_encode`] leaves as it is: RFC 3986's unreserved characters.
const UNRESERVED: &percent_encoding::AsciiSet =
    &percent_encoding::NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');

/// Percent-encodes a path segment or a query value.
pub fn percent_encode(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, UNRESERVED).to_string()
}

/// `application/x-www-form-urlencoded` text (a form's body, a query string) as its pairs, in
/// order, `+` and `%XX` decoded.
pub fn form_pairs(text: &[u8]) -> Vec<(String, String)> {
    form_urlencoded::parse(text).into_owned().collect()
}

/// A header's value, its name in any case.
pub fn header_value<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
}

/// Stands for the account's id in an error message until [`ApiError::in_account`] fills it.
pub const ACCOUNT_MARK: &str = "<account>";

/// One HTTP response; its content type is always [`CONTENT_TYPE`].
#[derive(Debug, Clone, PartialEq)]
pub struct HttpResponse {
    pub status: u16,
    pub body: Value,
}

impl HttpResponse {
    pub fn ok(body: Value) -> HttpResponse {
        HttpResponse { status: 200, body }
    }

    pub fn body_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(&self.body).unwrap_or_else(|_| b"{}".to_vec())
    }
}

/// An error in the wire protocol's form. `status` is 400 for the caller's mistakes, 500 for
/// ours, as the AWS SDKs expect (they retry 5xx, never 4xx).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{exception}: {message}")]
pub struct ApiError {
    pub status: u16,
    pub exception: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn client(exception: &'static str, message: impl Into<String>) -> ApiError {
        ApiError { status: 400, exception, message: message.into() }
    }

    pub fn validation(message: impl Into<String>) -> ApiError {
        ApiError::client("ValidationException", message)
    }

    pub fn internal(message: impl Into<String>) -> ApiError {
        ApiError { status: 500, exception: "InternalFailure", message: message.into() }
    }

    /// The message with the account's id where it says [`ACCOUNT_MARK`]: AWS's messages name
    /// the account, and errors are made where the account is not at hand.
    pub fn in_account(mut self, account: &str) -> ApiError {
        if self.message.contains(ACCOUNT_MARK) {
            self.message = self.message.replace(ACCOUNT_MARK, account);
        }
        self
    }

    pub fn response(&self) -> HttpResponse {
        HttpResponse {
            status: self.status,
            body: serde_json::json!({ "__type": self.exception, "message": self.message }),
        }
    }
}

/// The operation a request names, after checking the method, path, content type and size.
pub fn operation<'a>(request: &HttpRequest<'a>) -> Result<&'a str, ApiError> {
    if request.method != "POST" {
        return Err(ApiError::client(
            "UnknownOperationException",
            format!(
                "{} {}: CodePipeline's API takes only POST / with an X-Amz-Target header",
                request.method, request.path
            ),
        ));
    }
    if request.path != "/" {
        return Err(ApiError::client(
            "UnknownOperationException",
            format!("POST {}: CodePipeline's API is served at POST /", request.path),
        ));
    }
    let Some(target) = request.header("x-amz-target") else {
        return Err(ApiError::client(
            "MissingAuthenticationTokenException",
            "the X-Amz-Target header is missing; expected CodePipeline_20150709.<Operation>",
        ));
    };
    let Some(operation) = target.strip_prefix(TARGET_PREFIX).filter(|op| !op.is_empty()) else {
        return Err(ApiError::client(
            "UnknownOperationException",
            format!("X-Amz-Target {target:?} is not a CodePipeline operation (expected {TARGET_PREFIX}<Operation>)"),
        ));
    };
    if let Some(content_type) = request.header("content-type") {
        let essence = content_type.split(';').next().unwrap_or_default().trim();
        if !essence.eq_ignore_ascii_case(CONTENT_TYPE) && !essence.eq_ignore_ascii_case("application/json") {
            return Err(ApiError::client(
                "SerializationException",
                format!("Content-Type {content_type:?} is not {CONTENT_TYPE}"),
            ));
        }
    }
    if request.body.len() > MAX_BODY_BYTES {
        return Err(ApiError::validation(format!(
            "the request body of {} bytes exceeds the limit of {MAX_BODY_BYTES} bytes",
            request.body.len()
        )));
    }
    Ok(operation)
}

/// The body as a JSON object; an empty body is `{}`.
pub fn body_object(body: &[u8]) -> Result<Value, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Object(Default::default()));
    }
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        ApiError::client(
            "SerializationException",
            format!("the request body is not valid JSON: {e} (line {}, column {})", e.line(), e.column()),
        )
    })?;
    if !value.is_object() {
        return Err(ApiError::client("SerializationException", "the request body must be a JSON object"));
    }
    Ok(value)
}

/// Decodes an operation's input; a wrong type names the field.
pub fn input<T: DeserializeOwned>(operation: &str, body: Value) -> Result<T, ApiError> {
    serde_path_to_error::deserialize(body).map_err(|e| {
        let path = e.path().to_string();
        let field = if path == "." { String::new() } else { format!(" at '{path}'") };
        ApiError::client("SerializationException", format!("{operation}: invalid input{field}: {}", e.inner()))
    })
}

/// Where in `member` a decoding error is: `pipeline.stages[0].name`, or `pipeline` itself when
/// the error is at its top (serde's path is then `.`).
pub fn member_path(member: &str, path: &serde_path_to_error::Path) -> String {
    match path.to_string().as_str() {
        "." => member.to_string(),
        inner => format!("{member}.{inner}"),
    }
}

/// A required member, or AWS's "must not be null" validation error naming it.
pub fn required<T>(value: Option<T>, field: &str) -> Result<T, ApiError> {
    value.ok_or_else(|| {
        ApiError::validation(format!(
            "1 validation error detected: Value null at '{field}' failed to satisfy constraint: Member must not be null"
        ))
    })
}

/// A required name member (pipeline, stage, action or webhook name), checked as the model's
/// `*Name` shapes are.
pub fn required_name(value: Option<String>, field: &str) -> Result<String, ApiError> {
    let name = required(value, field)?;
    check_name(&name, field)?;
    Ok(name)
}

/// Checks a string member's length and characters (botocore's `min`, `max` and `pattern`).
pub fn check_text(value: &str, field: &str, min: usize, max: usize, allowed: fn(char) -> bool) -> Result<(), ApiError> {
    let length = value.chars().count();
    if length < min || length > max {
        return Err(ApiError::validation(format!(
            "1 validation error detected: Value '{value}' at '{field}' failed to satisfy constraint: Member must have length between {min} and {max}"
        )));
    }
    if let Some(bad) = value.chars().find(|c| !allowed(*c)) {
        return Err(ApiError::validation(format!(
            "1 validation error detected: Value '{value}' at '{field}' failed to satisfy constraint: Member must not contain {bad:?}"
        )));
    }
    Ok(())
}

/// `[A-Za-z0-9.@\-_]+`: pipeline, stage and action names.
pub fn name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '@' | '-' | '_')
}

pub fn check_name(value: &str, field: &str) -> Result<(), ApiError> {
    check_text(value, field, 1, 100, name_char)
}

/// `[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`: execution ids.
pub fn check_execution_id(value: &str, field: &str) -> Result<(), ApiError> {
    let groups: Vec<&str> = value.split('-').collect();
    let shaped = groups.len() == 5
        && groups.iter().zip([8, 4, 4, 4, 12]).all(|(g, n)| g.len() == n && g.chars().all(|c| c.is_ascii_hexdigit()));
    if shaped {
        Ok(())
    } else {
        Err(ApiError::validation(format!(
            "1 validation error detected: Value '{value}' at '{field}' failed to satisfy constraint: Member must satisfy regular expression pattern: [0-9a-f]{{8}}-[0-9a-f]{{4}}-[0-9a-f]{{4}}-[0-9a-f]{{4}}-[0-9a-f]{{12}}"
        )))
    }
}

/// `maxResults` in `min..=max`, or `default`.
pub fn max_results(value: Option<i64>, field: &str, min: i64, max: i64, default: usize) -> Result<usize, ApiError> {
    match value {
        None => Ok(default),
        Some(n) if (min..=max).contains(&n) => Ok(n as usize),
        Some(n) => Err(ApiError::validation(format!(
            "1 validation error detected: Value '{n}' at '{field}' failed to satisfy constraint: Member must have value between {min} and {max}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(target: Option<&str>, content_type: &str) -> Vec<(String, String)> {
        let mut headers = vec![("Content-Type".to_string(), content_type.to_string())];
        if let Some(target) = target {
            headers.push(("X-Amz-Target".to_string(), target.to_string()));
        }
        headers
    }

    fn request<'a>(headers: &'a [(String, String)], body: &'a [u8]) -> HttpRequest<'a> {
        HttpRequest { method: "POST", path: "/", query: "", headers, body }
    }

    #[test]
    fn a_decoding_error_names_the_member_it_is_in() {
        #[derive(Debug, serde::Deserialize)]
        struct Shape {
            #[allow(dead_code, reason = "only its absence is decoded")]
            name: String,
            #[allow(dead_code, reason = "only its type is decoded")]
            stages: Option<Vec<String>>,
        }
        let error = |body: Value| {
            serde_path_to_error::deserialize::<_, Shape>(body).map(|_| ()).map_err(|e| member_path("webhook", e.path()))
        };
        assert_eq!(error(serde_json::json!({})), Err("webhook".to_string()), "not `webhook..`");
        assert_eq!(error(serde_json::json!({"name": "a", "stages": [1]})), Err("webhook.stages[0]".to_string()));
    }

    #[test]
    fn the_operation_comes_from_the_target_header() {
        let get = headers(Some("CodePipeline_20150709.GetPipeline"), CONTENT_TYPE);
        assert_eq!(operation(&request(&get, b"{}")), Ok("GetPipeline"));
        let dynamo = headers(Some("DynamoDB_20120810.GetItem"), CONTENT_TYPE);
        assert_eq!(operation(&request(&dynamo, b"{}")).unwrap_err().exception, "UnknownOperationException");
        let none = headers(None, CONTENT_TYPE);
        assert_eq!(operation(&request(&none, b"{}")).unwrap_err().status, 400);
        let as_get = HttpRequest { method: "GET", ..request(&get, b"") };
        assert_eq!(operation(&as_get).unwrap_err().exception, "UnknownOperationException");
        let xml = headers(Some("CodePipeline_20150709.X"), "text/xml");
        assert_eq!(operation(&request(&xml, b"")).unwrap_err().exception, "SerializationException");
    }

    #[test]
    fn an_oversize_body_is_refused() {
        let big = vec![b' '; MAX_BODY_BYTES + 1];
        let list = headers(Some("CodePipeline_20150709.ListPipelines"), CONTENT_TYPE);
        let error = operation(&request(&list, &big)).unwrap_err();
        assert_eq!((error.status, error.exception), (400, "ValidationException"));
    }

    #[test]
    fn malformed_and_mistyped_bodies_name_the_problem() {
        let error = body_object(b"{\"name\": ").unwrap_err();
        assert_eq!(error.exception, "SerializationException");
        assert!(error.message.contains("line 1"), "{}", error.message);
        assert_eq!(body_object(b"[1]").unwrap_err().exception, "SerializationException");
        assert_eq!(body_object(b"").unwrap(), serde_json::json!({}));

        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)]
        struct Input {
            name: Option<String>,
        }
        let error = input::<Input>("GetPipeline", serde_json::json!({ "name": 5 })).unwrap_err();
        assert!(error.message.contains("'name'"), "{}", error.message);
    }

    #[test]
    fn percent_escapes_decode_and_malformed_ones_stay() {
        assert_eq!(percent_decode("a%20b%2Fc").unwrap(), "a b/c");
        assert_eq!(percent_decode("a+b").unwrap(), "a+b", "a plus is a plus in a path");
        assert_eq!(percent_decode("100%").unwrap(), "100%");
        assert_eq!(percent_decode("%zz%4").unwrap(), "%zz%4");
        assert!(percent_decode("%ff").is_err(), "not UTF-8");
        assert_eq!(percent_encode("a b/c~é"), "a%20b%2Fc~%C3%A9");
        assert_eq!(percent_decode(&percent_encode("x?y=1&z#")).unwrap(), "x?y=1&z#");
    }

    #[test]
    fn a_received_request_is_read_as_it_came() {
        let mut map = http::HeaderMap::new();
        map.insert("x-amz-target", http::HeaderValue::from_static("CodePipeline_20150709.X"));
        map.insert("x-binary", http::HeaderValue::from_bytes(b"\xff").unwrap());
        let headers = header_pairs(&map);
        assert_eq!(headers, vec![("x-amz-target".to_string(), "CodePipeline_20150709.X".to_string())]);
        let (method, uri) = (http::Method::GET, "/pipelines/a%20b?fragment=1".parse::<http::Uri>().unwrap());
        let request = HttpRequest::from_parts(&method, &uri, &headers, b"");
        assert_eq!((request.method, request.path, request.query), ("GET", "/pipelines/a%20b", "fragment=1"));
        assert_eq!(request.header("X-Amz-Target"), Some("CodePipeline_20150709.X"));
    }

    #[test]
    fn forms_decode_plus_and_percent_escapes() {
        let pairs = form_pairs(b"token=a.b&summary=looks+good%21+%C3%A9t%C3%A9&empty=&bad=%zz%4&flag");
        let expected =
            [("token", "a.b"), ("summary", "looks good! été"), ("empty", ""), ("bad", "%zz%4"), ("flag", "")];
        assert_eq!(pairs, expected.map(|(k, v)| (k.to_string(), v.to_string())));
    }

    #[test]
    fn field_constraints_follow_the_model() {
        assert!(check_name("my-pipeline_1.0@x", "name").is_ok());
        assert!(check_name("", "name").is_err());
        assert!(check_name("has space", "name").unwrap_err().message.contains("'name'"));
        assert!(check_name(&"a".repeat(101), "name").is_err());
        assert!(check_execution_id("0123abcd-0000-4000-8000-0123456789ab", "id").is_ok());
        assert!(check_execution_id("nope", "id").is_err());
        assert_eq!(max_results(None, "maxResults", 1, 100, 100), Ok(100));
        assert!(max_results(Some(0), "maxResults", 1, 100, 100).is_err());
        assert_eq!(required(Some(1), "x"), Ok(1));
        assert!(required::<u8>(None, "name").unwrap_err().message.contains("'name'"));
    }
}
