//! An ECR source on this machine without an `imageDetail.json` written by hand: the image
//! named with `--source ACTION=REGISTRY/REPOSITORY:TAG` (or `@sha256:…`), or, without
//! `--source`, the image the action's `RepositoryName` and `ImageTag` name (docs/sources.md,
//! "Local sources"). No registry is asked: the file says what CodePipeline's would, with the
//! digest given, or else a digest of the reference itself, as a directory's revision is the
//! digest of its content.

use std::collections::BTreeMap;

use serde_json::json;

use pipewright_core::time::Timestamp;

/// The file an ECR source's artifact holds.
pub const FILE_NAME: &str = "imageDetail.json";

/// The registry id of an image whose registry is not an account's ECR.
const NO_ACCOUNT: &str = "000000000000";

/// An image, as a reference names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRef {
    /// `123456789012.dkr.ecr.us-east-1.amazonaws.com`, `localhost`, …
    pub registry: String,
    pub repository: String,
    pub tag: String,
    /// `sha256:` and 64 hex digits, when the reference pins one.
    pub digest: Option<String>,
}

impl ImageRef {
    /// `[REGISTRY/]REPOSITORY[:TAG][@sha256:HEX]`, taken for an image only when it names a
    /// tag, a digest or a registry (`app:v2`, `host.example/app`); a bare word could be a
    /// mistyped path. The first component is a registry when it has a `.` or a `:`, or is
    /// `localhost`, as Docker reads references.
    pub fn parse(text: &str) -> Option<ImageRef> {
        let text = text.trim();
        let (name, digest) = match text.split_once('@') {
            Some((name, digest)) => (name, Some(digest)),
            None => (text, None),
        };
        if let Some(digest) = digest {
            let hex = digest.strip_prefix("sha256:")?;
            if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                return None;
            }
        }
        let (registry, path) = match name.split_once('/') {
            Some((first, rest))
                if first.starts_with(|c: char| c.is_ascii_alphanumeric())
                    && (first.contains(['.', ':']) || first == "localhost") =>
            {
                (Some(first), rest)
            }
            _ => (None, name),
        };
        let (repository, tag) = match path.rsplit_once(':') {
            Some((repository, tag)) if !tag.contains('/') => (repository, Some(tag)),
            _ => (path, None),
        };
        // ECR's rule: components of lowercase letters and digits, joined by `.`, `_` or `-`.
        let valid = |part: &str| {
            part.split('/').all(|component| {
                let edge = |c: Option<char>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
                edge(component.chars().next())
                    && edge(component.chars().next_back())
                    && component.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
            })
        };
        let tag_valid = tag.is_none_or(|t| {
            !t.is_empty() && t.len() <= 128 && t.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
        });
        if !valid(repository) || !tag_valid || (registry.is_none() && tag.is_none() && digest.is_none()) {
            return None;
        }
        Some(ImageRef {
            registry: registry.unwrap_or("localhost").to_string(),
            repository: repository.to_string(),
            tag: tag.unwrap_or("latest").to_string(),
            digest: digest.map(String::from),
        })
    }

    /// The image the action's configuration names: `RepositoryName` at `ImageTag` (`latest`
    /// by default), in no registry of an account.
    pub fn of_configuration(configuration: &BTreeMap<String, String>) -> ImageRef {
        let value = |key: &str| configuration.get(key).filter(|v| !v.is_empty()).cloned();
        ImageRef {
            registry: "localhost".to_string(),
            repository: value("RepositoryName").unwrap_or_default(),
            tag: value("ImageTag").unwrap_or_else(|| "latest".to_string()),
            digest: None,
        }
    }

    /// The account of an ECR registry (`123456789012.dkr.ecr.…`), else twelve zeros.
    fn registry_id(&self) -> &str {
        match self.registry.split_once(".dkr.ecr.") {
            Some((account, _)) if account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit()) => account,
            _ => NO_ACCOUNT,
        }
    }

    /// The digest given, or `sha256:` and the BLAKE3 hash of the reference: no image is at hand
    /// to take the digest of.
    pub fn digest(&self) -> String {
        self.digest.clone().unwrap_or_else(|| {
            let named = format!("{}/{}:{}", self.registry, self.repository, self.tag);
            format!("sha256:{}", blake3::hash(named.as_bytes()).to_hex())
        })
    }

    /// Pinned to the digest when one was given (as CodePipeline writes it); otherwise to the
    /// tag, since a digest made here names no image a registry holds.
    pub fn uri(&self) -> String {
        match &self.digest {
            Some(digest) => format!("{}/{}@{digest}", self.registry, self.repository),
            None => format!("{}/{}:{}", self.registry, self.repository, self.tag),
        }
    }

    /// `imageDetail.json`, with CodePipeline's keys.
    pub fn detail(&self, pushed_at: Timestamp) -> serde_json::Value {
        json!({
            "ImageSizeInBytes": "0",
            "ImageDigest": self.digest(),
            "Version": "1.0",
            "ImagePushedAt": pushed_at.to_unix_date(),
            "RegistryId": self.registry_id(),
            "RepositoryName": self.repository,
            "ImageURI": self.uri(),
            "ImageTags": [self.tag],
        })
    }

    /// The action's output variables: the ECR source's five.
    pub fn variables(&self) -> BTreeMap<String, String> {
        BTreeMap::from([
            ("RegistryId".to_string(), self.registry_id().to_string()),
            ("RepositoryName".to_string(), self.repository.clone()),
            ("ImageTag".to_string(), self.tag.clone()),
            ("ImageDigest".to_string(), self.digest()),
            ("ImageURI".to_string(), self.uri()),
        ])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIGEST: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn references_name_a_registry_a_tag_or_a_digest() {
        let ecr = ImageRef::parse(&format!("123456789012.dkr.ecr.eu-west-1.amazonaws.com/team/web@{DIGEST}")).unwrap();
        assert_eq!((ecr.repository.as_str(), ecr.digest.as_deref()), ("team/web", Some(DIGEST)));
        assert_eq!(ecr.variables()["RegistryId"], "123456789012");
        assert_eq!(ecr.uri(), format!("123456789012.dkr.ecr.eu-west-1.amazonaws.com/team/web@{DIGEST}"));
        let tagged = ImageRef::parse("web:v2").unwrap();
        assert_eq!((tagged.registry.as_str(), tagged.tag.as_str()), ("localhost", "v2"));
        assert_eq!(tagged.variables()["RegistryId"], "000000000000");
        assert_eq!(ImageRef::parse("localhost:5000/web").unwrap().tag, "latest");
        for not_an_image in ["web", "./images/web", "../images/web:v1", "Web:v1", "web:", "web@sha256:short", "a b:c"] {
            assert_eq!(ImageRef::parse(not_an_image), None, "{not_an_image}");
        }
    }

    #[test]
    fn the_detail_has_codepipelines_keys_and_a_stable_digest() {
        let configured =
            ImageRef::of_configuration(&BTreeMap::from([("RepositoryName".to_string(), "web".to_string())]));
        let detail = configured.detail(Timestamp::from_millis(1_548_101_040_000));
        assert_eq!(detail["ImageURI"], "localhost/web:latest");
        assert_eq!(detail["ImageTags"], json!(["latest"]));
        assert_eq!(detail["ImagePushedAt"], "Mon Jan 21 20:04:00 UTC 2019");
        let digest = detail["ImageDigest"].as_str().unwrap();
        assert!(digest.starts_with("sha256:") && digest.len() == 71, "{digest}");
        assert_eq!(
            configured.digest(),
            ImageRef::of_configuration(&BTreeMap::from([("RepositoryName".to_string(), "web".to_string())])).digest()
        );
        assert_ne!(configured.digest(), ImageRef::parse("web:v2").unwrap().digest());
        let keys: Vec<&String> = detail.as_object().unwrap().keys().collect();
        assert_eq!(keys.len(), 8);
    }
}
