//! Deterministic identifiers.
//!
//! Every id the engine hands out is derived from data it already holds, so applying the same
//! event twice gives the same ids. Ids that are capabilities (approval tokens, job ids) mix in
//! the execution's secret seed: they can be recomputed from the stored execution, but not
//! guessed from anything public.

use sha2::{Digest, Sha256};

fn digest(parts: &[&str]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    for part in parts {
        // Length-prefix each part so that ("ab","c") and ("a","bc") differ.
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part.as_bytes());
    }
    hasher.finalize().into()
}

/// A UUID-shaped (version 4 layout) id from the digest of `parts`.
pub fn uuid_from(parts: &[&str]) -> String {
    let mut bytes: [u8; 16] = digest(parts)[..16].try_into().unwrap_or([0; 16]);
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("{}-{}-{}-{}-{}", &hex[0..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..32])
}

/// A short alphanumeric id from the digest of `parts` (artifact object keys).
pub fn short_from(parts: &[&str], length: usize) -> String {
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    digest(parts).iter().take(length).map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char).collect()
}

/// The public id of one attempt of an action (`actionExecutionId`).
pub fn action_execution_id(execution_id: &str, stage: &str, action: &str, attempt: u32) -> String {
    uuid_from(&["action-execution", execution_id, stage, action, &attempt.to_string()])
}

/// The public id of one run of a rule (`ruleExecutionId`).
pub fn rule_execution_id(execution_id: &str, stage: &str, condition: &str, evaluation: u32, rule: &str) -> String {
    uuid_from(&["rule-execution", execution_id, stage, condition, &evaluation.to_string(), rule])
}

/// The approval token of one attempt of a manual approval: a capability.
pub fn approval_token(seed: &str, action_execution_id: &str) -> String {
    uuid_from(&["approval-token", seed, action_execution_id])
}

/// The job id of the `sequence`-th job of one attempt: a capability.
pub fn job_id(seed: &str, action_execution_id: &str, sequence: u32) -> String {
    uuid_from(&["job", seed, action_execution_id, &sequence.to_string()])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_deterministic_uuid_shaped_and_distinct() {
        let a = action_execution_id("e", "Build", "Compile", 1);
        assert_eq!(a, action_execution_id("e", "Build", "Compile", 1));
        assert_ne!(a, action_execution_id("e", "Build", "Compile", 2));
        assert_ne!(uuid_from(&["ab", "c"]), uuid_from(&["a", "bc"]));
        let shape = |s: &str| {
            s.len() == 36
                && s.chars().enumerate().all(|(i, c)| {
                    if [8, 13, 18, 23].contains(&i) {
                        c == '-'
                    } else {
                        c.is_ascii_hexdigit() && !c.is_ascii_uppercase()
                    }
                })
        };
        assert!(shape(&a), "{a}");
        assert!(shape(&approval_token("seed", &a)));
        assert_ne!(approval_token("seed-1", &a), approval_token("seed-2", &a));
        assert_eq!(short_from(&["x"], 10).len(), 10);
    }
}
