//! The S3 deploy action (docs/reference/codepipeline.md §2): where each file goes.

use std::collections::BTreeMap;

use super::config;

/// Where and how an S3 deploy writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub bucket: String,
    pub extract: bool,
    pub object_key: Option<String>,
    pub cache_control: Option<String>,
    pub canned_acl: Option<String>,
    pub kms_key: Option<String>,
}

pub fn target(configuration: &BTreeMap<String, String>) -> Result<Target, String> {
    let bucket = config(configuration, "BucketName").ok_or("BucketName is required")?;
    let extract = match config(configuration, "Extract").map(str::to_ascii_lowercase).as_deref() {
        Some("true") => true,
        Some("false") => false,
        other => return Err(format!("Extract must be true or false, not {other:?}")),
    };
    let object_key = config(configuration, "ObjectKey").map(String::from);
    if !extract && object_key.is_none() {
        return Err("ObjectKey is required when Extract is false".to_string());
    }
    Ok(Target {
        bucket: bucket.to_string(),
        extract,
        object_key,
        cache_control: config(configuration, "CacheControl").map(String::from),
        canned_acl: config(configuration, "CannedACL").map(String::from),
        kms_key: config(configuration, "KMSEncryptionKeyARN").map(String::from),
    })
}

/// The key a file of the extracted artifact gets: under `ObjectKey` as a prefix, when given.
pub fn key_of(target: &Target, relative: &str) -> String {
    match &target.object_key {
        Some(prefix) if !prefix.is_empty() => format!("{}/{relative}", prefix.trim_end_matches('/')),
        _ => relative.to_string(),
    }
}

/// The content type of a deployed file, by extension.
pub fn content_type(name: &str) -> Option<&'static str> {
    let extension = name.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase())?;
    Some(match extension.as_str() {
        "html" | "htm" => "text/html",
        "css" => "text/css",
        "js" | "mjs" => "text/javascript",
        "json" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "txt" => "text/plain",
        "xml" => "application/xml",
        "wasm" => "application/wasm",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_go_under_the_prefix() {
        let configuration = BTreeMap::from([
            ("BucketName".to_string(), "site".to_string()),
            ("Extract".to_string(), "TRUE".to_string()),
            ("ObjectKey".to_string(), "live/".to_string()),
        ]);
        let target = target(&configuration).unwrap();
        assert!(target.extract);
        assert_eq!(key_of(&target, "css/a.css"), "live/css/a.css");
        let zip_upload =
            BTreeMap::from([("BucketName".to_string(), "b".to_string()), ("Extract".to_string(), "false".to_string())]);
        assert!(super::target(&zip_upload).unwrap_err().contains("ObjectKey"));
        assert_eq!(content_type("index.HTML"), Some("text/html"));
        assert_eq!(content_type("LICENSE"), None);
    }
}
