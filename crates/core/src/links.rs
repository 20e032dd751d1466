//! Approval links (docs/design.md §8): a token that is HMAC-signed, expiring, and bound to one
//! execution, stage, action and attempt. Single use comes from the engine: once the attempt
//! has an answer, a second one is stale.
//!
//! Format: `base64url(claims JSON) "." base64url(HMAC-SHA256(key, claims JSON))`.

use crate::mac::{hmac_sha256, verify_hmac_sha256};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

use crate::time::Timestamp;

/// What a link token grants: answering one attempt of one approval, until it expires.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkClaims {
    #[serde(rename = "p")]
    pub pipeline: String,
    #[serde(rename = "e")]
    pub execution_id: String,
    #[serde(rename = "s")]
    pub stage: String,
    #[serde(rename = "a")]
    pub action: String,
    #[serde(rename = "n")]
    pub attempt: u32,
    #[serde(rename = "x")]
    pub expires: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    #[error("the link is malformed")]
    Malformed,
    #[error("the link's signature is not valid")]
    BadSignature,
    #[error("the link expired at {0}")]
    Expired(Timestamp),
}

/// The token for `claims`.
pub fn sign(key: &[u8], claims: &LinkClaims) -> String {
    let payload = serde_json::to_vec(claims).unwrap_or_default();
    let signature = hmac_sha256(key, &payload);
    format!("{}.{}", URL_SAFE_NO_PAD.encode(&payload), URL_SAFE_NO_PAD.encode(signature))
}

/// The claims of a genuine, unexpired token.
pub fn verify(key: &[u8], token: &str, now: Timestamp) -> Result<LinkClaims, LinkError> {
    let (payload, signature) = token.split_once('.').ok_or(LinkError::Malformed)?;
    let payload = URL_SAFE_NO_PAD.decode(payload).map_err(|_| LinkError::Malformed)?;
    let signature = URL_SAFE_NO_PAD.decode(signature).map_err(|_| LinkError::Malformed)?;
    if !verify_hmac_sha256(key, &payload, &signature) {
        return Err(LinkError::BadSignature);
    }
    let claims: LinkClaims = serde_json::from_slice(&payload).map_err(|_| LinkError::Malformed)?;
    if now >= claims.expires {
        return Err(LinkError::Expired(claims.expires));
    }
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims() -> LinkClaims {
        LinkClaims {
            pipeline: "p".into(),
            execution_id: "e".into(),
            stage: "Gate".into(),
            action: "Approve".into(),
            attempt: 1,
            expires: Timestamp::from_millis(10_000),
        }
    }

    #[test]
    fn a_signed_token_verifies_until_it_expires() {
        let token = sign(b"key", &claims());
        assert_eq!(verify(b"key", &token, Timestamp::from_millis(9_999)), Ok(claims()));
        assert_eq!(
            verify(b"key", &token, Timestamp::from_millis(10_000)),
            Err(LinkError::Expired(Timestamp::from_millis(10_000)))
        );
    }

    #[test]
    fn forged_and_altered_tokens_are_refused() {
        let token = sign(b"key", &claims());
        assert_eq!(verify(b"other key", &token, Timestamp::from_millis(1)), Err(LinkError::BadSignature));
        let mut changed = claims();
        changed.attempt = 2;
        let (_, signature) = token.split_once('.').unwrap();
        let altered = format!("{}.{signature}", URL_SAFE_NO_PAD.encode(serde_json::to_vec(&changed).unwrap()));
        assert_eq!(verify(b"key", &altered, Timestamp::from_millis(1)), Err(LinkError::BadSignature));
        assert_eq!(verify(b"key", "not-a-token", Timestamp::from_millis(1)), Err(LinkError::Malformed));
        assert_eq!(verify(b"key", "a.b.c", Timestamp::from_millis(1)), Err(LinkError::Malformed));
    }
}
