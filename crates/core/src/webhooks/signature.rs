//! Is a delivery from the repository host that knows the secret? Each host proves it its own
//! way (docs/sources.md, "Verifying deliveries"):
//!
//! * GitHub: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256(secret, body)>`;
//! * Bitbucket: `X-Hub-Signature: sha256=<hex HMAC-SHA256(secret, body)>`;
//! * GitLab: `X-Gitlab-Token: <secret>`, the secret itself.
//!
//! Every comparison takes the same time wherever the values differ (`mac::same_secret`, `mac::verify_hmac_sha256`).

use super::{GitHost, header};
use crate::mac;

/// Why a delivery is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the delivery carries no {0} header")]
    Missing(&'static str),
    #[error("the {0} header is not sha256=<64 hex digits>")]
    Malformed(&'static str),
    #[error("the {0} header does not match the secret")]
    Mismatch(&'static str),
}

/// The header that proves a delivery of `host`.
pub fn header_name(host: GitHost) -> &'static str {
    match host {
        GitHost::GitHub => "X-Hub-Signature-256",
        GitHost::Bitbucket => "X-Hub-Signature",
        GitHost::GitLab => "X-Gitlab-Token",
    }
}

/// Checks that `body` was sent by someone holding `secret`.
pub fn verify(host: GitHost, secret: &[u8], headers: &[(String, String)], body: &[u8]) -> Result<(), SignatureError> {
    let name = header_name(host);
    let given = header(headers, name).ok_or(SignatureError::Missing(name))?;
    match host {
        GitHost::GitLab => {
            mac::same_secret(given.as_bytes(), secret).then_some(()).ok_or(SignatureError::Mismatch(name))
        }
        GitHost::GitHub | GitHost::Bitbucket => hmac_sha256_hex(name, secret, given, body),
    }
}

/// `sha256=<hex>` against the HMAC of the body.
pub fn hmac_sha256_hex(name: &'static str, secret: &[u8], given: &str, body: &[u8]) -> Result<(), SignatureError> {
    let hex = given.trim().strip_prefix("sha256=").ok_or(SignatureError::Malformed(name))?;
    if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(SignatureError::Malformed(name));
    }
    let tag = ::hex::decode(hex).map_err(|_| SignatureError::Malformed(name))?;
    mac::verify_hmac_sha256(secret, body, &tag).then_some(()).ok_or(SignatureError::Mismatch(name))
}

/// The signature header a host would send for `body` (tests, and `webhook replay` of an
/// unsigned file).
pub fn sign(host: GitHost, secret: &[u8], body: &[u8]) -> (String, String) {
    let value = match host {
        GitHost::GitLab => String::from_utf8_lossy(secret).into_owned(),
        GitHost::GitHub | GitHost::Bitbucket => format!("sha256={}", ::hex::encode(mac::hmac_sha256(secret, body))),
    };
    (header_name(host).to_string(), value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect()
    }

    #[test]
    fn githubs_documented_example_verifies() {
        // GitHub's "Validating webhook deliveries" example: secret and payload below.
        let given = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
        let headers = headers(&[("x-hub-signature-256", given)]);
        assert_eq!(verify(GitHost::GitHub, b"It's a Secret to Everybody", &headers, b"Hello, World!"), Ok(()));
        assert_eq!(
            verify(GitHost::GitHub, b"It's a Secret to Everybody", &headers, b"Hello, World?"),
            Err(SignatureError::Mismatch("X-Hub-Signature-256"))
        );
    }

    #[test]
    fn each_host_signs_its_own_way() {
        let body = br#"{"ref":"refs/heads/main"}"#;
        for host in [GitHost::GitHub, GitHost::Bitbucket, GitHost::GitLab] {
            let signed = vec![sign(host, b"s3cret", body)];
            assert_eq!(verify(host, b"s3cret", &signed, body), Ok(()), "{host:?}");
            assert!(matches!(verify(host, b"other", &signed, body), Err(SignatureError::Mismatch(_))), "{host:?}");
            assert_eq!(verify(host, b"s3cret", &[], body), Err(SignatureError::Missing(header_name(host))));
        }
    }

    #[test]
    fn malformed_signatures_are_refused_as_such() {
        for value in
            ["sha1=abc", "sha256=xyz", "sha256=", "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"]
        {
            let headers = headers(&[("X-Hub-Signature-256", value)]);
            assert_eq!(
                verify(GitHost::GitHub, b"k", &headers, b"x"),
                Err(SignatureError::Malformed("X-Hub-Signature-256")),
                "{value}"
            );
        }
        let upper = sign(GitHost::GitHub, b"k", b"x").1.to_ascii_uppercase().replace("SHA256=", "sha256=");
        assert_eq!(verify(GitHost::GitHub, b"k", &headers(&[("X-Hub-Signature-256", &upper)]), b"x"), Ok(()));
    }
}
