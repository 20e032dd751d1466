//! HMAC-SHA256, with the `hmac` crate: what approval links, SigV4 and console sessions sign
//! and check with. Tags are checked with `verify_slice`, in constant time.

use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// A MAC keyed with `key`, which may be of any length.
#[expect(
    clippy::expect_used,
    reason = "infallible: HMAC takes a key of any length (RFC 2104 §2: a longer key is hashed, a shorter one \
              padded); new_from_slice returns InvalidLength only for MACs with a fixed key size, which share \
              its trait"
)]
fn keyed(key: &[u8]) -> HmacSha256 {
    HmacSha256::new_from_slice(key).expect("HMAC accepts keys of any length")
}

/// HMAC-SHA256 of `data` under `key`.
pub fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut mac = keyed(key);
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// Whether `tag` is the HMAC-SHA256 of `data` under `key`, compared in time that does not
/// depend on where a wrong tag differs.
pub fn verify_hmac_sha256(key: &[u8], data: &[u8], tag: &[u8]) -> bool {
    let mut mac = keyed(key);
    mac.update(data);
    mac.verify_slice(tag).is_ok()
}

/// Whether two secrets (tokens, passwords) are equal. They are compared through their MACs,
/// so the time taken says nothing about where or whether their lengths differ.
pub fn same_secret(a: &[u8], b: &[u8]) -> bool {
    const KEY: &[u8] = b"pipewright: compare secrets";
    verify_hmac_sha256(KEY, a, &hmac_sha256(KEY, b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_4231_test_case_2() {
        let mac = hmac_sha256(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(hex::encode(mac), "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    }

    #[test]
    fn rfc_4231_test_case_6_a_key_longer_than_the_block() {
        let key = [0xaa_u8; 131];
        let mac = hmac_sha256(&key, b"Test Using Larger Than Block-Size Key - Hash Key First");
        assert_eq!(hex::encode(mac), "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
    }

    #[test]
    fn secrets_are_the_same_only_when_equal() {
        assert!(same_secret(b"token", b"token"));
        assert!(!same_secret(b"token", b"token2"));
        assert!(!same_secret(b"", b"token"));
    }

    #[test]
    fn tags_verify_and_anything_else_is_refused() {
        let tag = hmac_sha256(b"key", b"data");
        assert!(verify_hmac_sha256(b"key", b"data", &tag));
        assert!(!verify_hmac_sha256(b"other key", b"data", &tag));
        assert!(!verify_hmac_sha256(b"key", b"other data", &tag));
        assert!(!verify_hmac_sha256(b"key", b"data", &tag[..31]), "a truncated tag");
        assert!(!verify_hmac_sha256(b"key", b"data", b""));
    }
}
