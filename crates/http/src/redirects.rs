//! Following a redirect, as a pure step: the request a `Location` asks for. Credentials go only
//! to the origin they were given for: a redirect to another scheme, host or port drops them.

use hyper::Uri;

use crate::Request;

/// Redirects followed before giving up (GitHub's archive redirects once).
pub const MAX_REDIRECTS: usize = 5;

/// Headers that carry a credential (GitLab's token travels in `Private-Token`), or that name the
/// origin they were written for.
const ORIGIN_BOUND: [&str; 5] = ["authorization", "proxy-authorization", "private-token", "cookie", "host"];

/// Headers that describe a body, dropped when the redirect drops the body.
const BODY_HEADERS: [&str; 2] = ["content-type", "content-length"];

pub(crate) fn is_redirect(status: u16) -> bool {
    matches!(status, 301 | 302 | 303 | 307 | 308)
}

/// The request to send after `sent` was answered `status` with `location`, or why none can be.
pub(crate) fn next_request(sent: &Request, status: u16, location: Option<&str>) -> Result<Request, String> {
    let location = location.ok_or_else(|| format!("answered {status} without a Location"))?;
    let base: Uri = sent.url.parse().map_err(|e| format!("not a URL: {e}"))?;
    let url = resolve(&base, location);
    let next: Uri = url.parse().map_err(|e| format!("redirected to {location:?}, which is not a URL: {e}"))?;
    let mut request = sent.clone();
    request.url = url;
    if !same_origin(&base, &next) {
        request.headers.retain(|(name, _)| !ORIGIN_BOUND.iter().any(|bound| name.eq_ignore_ascii_case(bound)));
    }
    // As browsers do: 303 asks for a GET; 301 and 302 turn a POST into one.
    let to_get = status == 303 && sent.method != "HEAD" || matches!(status, 301 | 302) && sent.method == "POST";
    if to_get {
        request.method = "GET".to_string();
        request.body.clear();
        request.headers.retain(|(name, _)| !BODY_HEADERS.iter().any(|header| name.eq_ignore_ascii_case(header)));
    }
    Ok(request)
}

/// A `Location` against the URL it answered.
fn resolve(base: &Uri, location: &str) -> String {
    if location.contains("://") {
        return location.to_string();
    }
    let scheme = base.scheme_str().unwrap_or("https");
    if location.starts_with("//") {
        return format!("{scheme}:{location}");
    }
    let authority = base.authority().map(|a| a.as_str()).unwrap_or_default();
    if location.starts_with('/') {
        format!("{scheme}://{authority}{location}")
    } else {
        let path = base.path();
        let directory = &path[..path.rfind('/').map_or(0, |i| i + 1)];
        format!("{scheme}://{authority}{directory}{location}")
    }
}

/// Same scheme, host and port (a port left out is the scheme's own).
fn same_origin(a: &Uri, b: &Uri) -> bool {
    let port = |uri: &Uri| {
        uri.port_u16().or(match uri.scheme_str() {
            Some("http") => Some(80),
            Some("https") => Some(443),
            _ => None,
        })
    };
    let host = |uri: &Uri| uri.host().map(str::to_ascii_lowercase);
    a.scheme() == b.scheme() && host(a) == host(b) && port(a) == port(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_resolve_against_the_url_they_answered() {
        let base: Uri = "https://api.example.test/repos/o/r/zipball/c".parse().unwrap();
        assert_eq!(resolve(&base, "https://codeload.example.test/x.zip"), "https://codeload.example.test/x.zip");
        assert_eq!(resolve(&base, "//cdn.example.test/x.zip"), "https://cdn.example.test/x.zip");
        assert_eq!(resolve(&base, "/archive/c.zip"), "https://api.example.test/archive/c.zip");
        assert_eq!(resolve(&base, "d.zip"), "https://api.example.test/repos/o/r/zipball/d.zip");
    }

    fn sent() -> Request {
        Request::new("GET", "https://api.example.test/zipball/c")
            .header("Authorization", "Bearer t")
            .header("PRIVATE-TOKEN", "t")
            .header("Host", "api.example.test")
            .header("Accept", "application/vnd.github+json")
    }

    fn names(request: &Request) -> Vec<&str> {
        request.headers.iter().map(|(name, _)| name.as_str()).collect()
    }

    #[test]
    fn credentials_follow_a_redirect_only_within_their_origin() {
        let same = next_request(&sent(), 302, Some("/codeload/c.zip")).unwrap();
        assert_eq!(same.url, "https://api.example.test/codeload/c.zip");
        assert_eq!(names(&same), ["Authorization", "PRIVATE-TOKEN", "Host", "Accept"]);
        let explicit_port = next_request(&sent(), 302, Some("https://API.example.test:443/c.zip")).unwrap();
        assert_eq!(names(&explicit_port), ["Authorization", "PRIVATE-TOKEN", "Host", "Accept"]);
        for elsewhere in
            ["https://codeload.example.test/c.zip", "http://api.example.test/c.zip", "https://api.example.test:8443/c"]
        {
            let next = next_request(&sent(), 302, Some(elsewhere)).unwrap();
            assert_eq!((next.url.as_str(), names(&next)), (elsewhere, vec!["Accept"]));
        }
    }

    #[test]
    fn see_other_and_a_moved_post_become_a_get_without_the_body() {
        let post = Request::new("POST", "https://h.test/hooks")
            .header("Content-Type", "application/json")
            .header("Authorization", "t")
            .body("{}");
        for status in [301, 302, 303] {
            let next = next_request(&post, status, Some("/hooks/1")).unwrap();
            assert_eq!((next.method.as_str(), next.body.len(), names(&next)), ("GET", 0, vec!["Authorization"]));
        }
        for status in [307, 308] {
            let next = next_request(&post, status, Some("/hooks/1")).unwrap();
            assert_eq!((next.method.as_str(), next.body.as_slice()), ("POST", &b"{}"[..]), "{status}");
        }
        let head = Request::new("HEAD", "https://h.test/a");
        assert_eq!(next_request(&head, 303, Some("/b")).unwrap().method, "HEAD");
    }

    #[test]
    fn a_redirect_without_a_usable_location_says_so() {
        assert!(next_request(&sent(), 302, None).unwrap_err().contains("without a Location"));
        assert!(next_request(&sent(), 302, Some("https://bad host/")).unwrap_err().contains("not a URL"));
        assert!([301, 302, 303, 307, 308].into_iter().all(is_redirect));
        assert!(![300, 304, 200, 404].into_iter().any(is_redirect));
    }
}
