//! The S3 artifact store moves artifacts larger than any buffer through scratch files, and
//! they arrive whole: packed and unpacked, copied as an S3 source, deployed extracted and as a
//! zip (through real HTTP to the stand-in).

use crate::common;

use std::io::Write;

use pipewright_aws::artifacts::S3Artifacts;
use pipewright_aws_providers::artifacts::S3ArtifactBytes;
use pipewright_aws_providers::s3_deploy;
use pipewright_core::deploy::s3::Target;
use pipewright_core::engine::ArtifactLocation;
use pipewright_core::ports::ArtifactStore;

use common::*;

/// 24 MiB that do not compress, so the zip is as large as the data.
fn incompressible(size: usize) -> Vec<u8> {
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    (0..size)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_artifacts_stream_whole_through_pack_unpack_copy_and_deploy() {
    let stack = stack().await;
    let store = S3Artifacts::new(stack.s3.clone());
    let data = incompressible(24 * 1024 * 1024);
    let work = tempfile::tempdir().unwrap();
    let source = work.path().join("source");
    std::fs::create_dir_all(source.join("nested")).unwrap();
    std::fs::File::create(source.join("big.bin")).unwrap().write_all(&data).unwrap();
    std::fs::write(source.join("nested/index.html"), "<h1>hi</h1>").unwrap();

    let location = ArtifactLocation { bucket: stack.artifact_bucket(), key: "p/Big/streamed".into() };
    let packed = store.pack(&location, &source, &["**/*".to_string()], &[]).await.unwrap();
    assert_eq!(packed, 2, "both files are in the artifact");
    let unpacked = work.path().join("unpacked");
    store.unpack(&location, &unpacked).await.unwrap();
    assert!(std::fs::read(unpacked.join("big.bin")).unwrap() == data, "the large file arrives whole");
    assert_eq!(std::fs::read_to_string(unpacked.join("nested/index.html")).unwrap(), "<h1>hi</h1>");

    // The S3 source: the object version copied to the artifact store, whole.
    let put = stack
        .s3
        .put_object()
        .bucket(&stack.source_bucket)
        .key("big.zip")
        .body(aws_sdk_s3::primitives::ByteStream::from(data.clone()))
        .send()
        .await
        .unwrap();
    let copy = ArtifactLocation { bucket: stack.artifact_bucket(), key: "p/Src/copied".into() };
    let copied = store.copy_source(&stack.source_bucket, "big.zip", put.version_id(), &copy).await.unwrap();
    assert_eq!(copied.version_id.as_deref(), put.version_id());
    let object = stack.s3.get_object().bucket(&copy.bucket).key(&copy.key).send().await.unwrap();
    assert!(object.body.collect().await.unwrap().into_bytes() == data, "the copy is the object");

    // The S3 deploy (the one implementation both invoke-action and a local run use), extracted
    // under a prefix, then the zip itself, streamed from the artifact store.
    let bytes = S3ArtifactBytes::new(stack.s3.clone());
    let extract = Target {
        bucket: stack.deploy_bucket.clone(),
        extract: true,
        object_key: Some("live".into()),
        cache_control: None,
        canned_acl: None,
        kms_key: None,
    };
    assert_eq!(s3_deploy::deploy(&bytes, &location, &stack.s3, &extract).await.unwrap(), 2);
    let deployed = stack.s3.get_object().bucket(&stack.deploy_bucket).key("live/big.bin").send().await.unwrap();
    assert_eq!(deployed.content_length(), Some(data.len() as i64));
    assert!(deployed.body.collect().await.unwrap().into_bytes() == data, "the deployed file is whole");
    let page = stack.s3.get_object().bucket(&stack.deploy_bucket).key("live/nested/index.html").send().await.unwrap();
    assert_eq!(page.content_type(), Some("text/html"), "deployed files keep their content type");
    let zipped = Target { extract: false, object_key: Some("release.zip".into()), ..extract };
    assert_eq!(s3_deploy::deploy(&bytes, &location, &stack.s3, &zipped).await.unwrap(), 1);
    let artifact = stack.s3.get_object().bucket(&location.bucket).key(&location.key).send().await.unwrap();
    let release = stack.s3.get_object().bucket(&stack.deploy_bucket).key("release.zip").send().await.unwrap();
    assert!(
        release.body.collect().await.unwrap().into_bytes() == artifact.body.collect().await.unwrap().into_bytes(),
        "Extract false deploys the artifact's zip as it is"
    );
}

/// The S3 source is a copy S3 makes of the version it looked at: a named version is that
/// version even after the key was written again; in a bucket without versions the copy is
/// conditional on the ETag it saw (which the stand-in checks, as S3 does); a key of any
/// characters is named right in the copy's source.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_s3_source_copies_the_version_it_looked_at_under_any_key() {
    let stack = stack().await;
    let store = S3Artifacts::new(stack.s3.clone());
    let put = |bucket: String, key: &'static str, body: &'static str| {
        let s3 = stack.s3.clone();
        async move { s3.put_object().bucket(bucket).key(key).body(body.as_bytes().to_vec().into()).send().await.unwrap() }
    };
    let read = |location: ArtifactLocation| {
        let s3 = stack.s3.clone();
        async move {
            let object = s3.get_object().bucket(&location.bucket).key(&location.key).send().await.unwrap();
            String::from_utf8(object.body.collect().await.unwrap().into_bytes().to_vec()).unwrap()
        }
    };
    let key = "release builds/ü+app@1 (final).zip";

    // A named version is copied, though the key holds a newer one; its tags are not (a put
    // had none, and copying them needs rights the role does not have).
    let first = stack
        .s3
        .put_object()
        .bucket(&stack.source_bucket)
        .key(key)
        .tagging("team=web")
        .body(b"first".to_vec().into())
        .send()
        .await
        .unwrap();
    put(stack.source_bucket.clone(), key, "second").await;
    let to = ArtifactLocation { bucket: stack.artifact_bucket(), key: "p/Src/first".into() };
    let copied = store.copy_source(&stack.source_bucket, key, first.version_id(), &to).await.unwrap();
    assert_eq!(copied.version_id.as_deref(), first.version_id());
    assert_eq!(copied.etag, first.e_tag().unwrap().trim_matches('"'));
    let tags = stack.s3.get_object_tagging().bucket(&to.bucket).key(&to.key).send().await.unwrap();
    assert!(tags.tag_set().is_empty(), "{tags:?}");
    assert_eq!(read(to).await, "first");

    // Without versioning: the current object, by the ETag HeadObject saw.
    let plain = format!("{}-plain", stack.source_bucket);
    stack.s3.create_bucket().bucket(&plain).send().await.unwrap();
    let current = put(plain.clone(), key, "current").await;
    let to = ArtifactLocation { bucket: stack.artifact_bucket(), key: "p/Src/plain".into() };
    let copied = store.copy_source(&plain, key, None, &to).await.unwrap();
    assert_eq!((copied.version_id, copied.etag.as_str()), (None, current.e_tag().unwrap().trim_matches('"')));
    assert_eq!(read(to.clone()).await, "current");
    // A copy whose ETag no longer holds is refused, as S3 refuses it.
    let stale = stack
        .s3
        .copy_object()
        .copy_source(pipewright_core::s3_copy::copy_source(&plain, key, None))
        .copy_source_if_match("\"0123456789abcdef0123456789abcdef\"")
        .bucket(&to.bucket)
        .key(&to.key)
        .send()
        .await
        .unwrap_err();
    assert_eq!(stale.raw_response().map(|r| r.status().as_u16()), Some(412), "{stale:?}");

    // A key that is not there is missing, not a failure of S3.
    let missing = store.copy_source(&plain, "nothing.zip", None, &to).await.unwrap_err();
    assert!(matches!(missing, pipewright_core::ports::ArtifactError::Missing(_)), "{missing:?}");
}
