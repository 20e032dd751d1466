//! What an object copied by S3 itself (CopyObject) may be, and how its source is named: the
//! S3 source action's object, an input copied into another region's store. The functions
//! call CopyObject with what this says; no byte of the object passes through them.

use crate::git_hosts::encode_path;

/// The largest object one CopyObject takes, 5 GiB; also CodePipeline's quota for an S3
/// source's object (docs/sources.md, "S3 sources on AWS").
pub const MAX_COPY_BYTES: i64 = 5 * 1024 * 1024 * 1024;

/// Refuses an S3 source's object of `size` bytes above [`MAX_COPY_BYTES`], saying why.
pub fn s3_source_size(size: i64) -> Result<(), String> {
    if size > MAX_COPY_BYTES {
        return Err(format!(
            "the object is {size} bytes; an S3 source's object may be at most {MAX_COPY_BYTES} bytes (5 GiB), CodePipeline's limit"
        ));
    }
    Ok(())
}

/// CopyObject's `x-amz-copy-source`: `bucket/key`, the key URL-encoded as S3 requires (its
/// `/` kept), and `?versionId=` when a version is named.
pub fn copy_source(bucket: &str, key: &str, version_id: Option<&str>) -> String {
    match version_id {
        Some(version) => format!("{bucket}/{}?versionId={}", encode_path(key), encode_path(version)),
        None => format!("{bucket}/{}", encode_path(key)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_copy_source_encodes_the_key_but_its_slashes_and_names_the_version() {
        assert_eq!(copy_source("b", "app/build.zip", None), "b/app/build.zip");
        assert_eq!(
            copy_source("b", "my app/ü+x@1.zip", Some("3/L4kq=")),
            "b/my%20app/%C3%BC%2Bx%401.zip?versionId=3/L4kq%3D"
        );
    }

    #[test]
    fn an_s3_source_above_five_gib_is_refused_saying_its_size_and_the_limit() {
        assert!(s3_source_size(MAX_COPY_BYTES).is_ok());
        let refused = s3_source_size(MAX_COPY_BYTES + 1).unwrap_err();
        assert!(refused.contains(&(MAX_COPY_BYTES + 1).to_string()) && refused.contains("5 GiB"), "{refused}");
    }
}
