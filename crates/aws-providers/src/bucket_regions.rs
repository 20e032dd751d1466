//! S3 clients by the region of the bucket they address. S3 serves a bucket only in the bucket's
//! own region, and a pipeline with cross-region actions keeps artifacts in a store per region
//! (`artifactStores`, docs/providers.md §11): an action in us-west-2 writes its outputs to the
//! us-west-2 store, where the next action in the home region reads them. A bucket is addressed
//! with the home client until S3 answers that it is elsewhere, naming its region; that region's
//! client is then kept for the bucket for the life of the function instance, so the common case
//! (every artifact at home) costs no request more.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Mutex;

use aws_sdk_s3::Client;
use aws_sdk_s3::config::Region;
use aws_sdk_s3::error::SdkError;
use aws_smithy_runtime_api::http::Response;

/// The home client, and the clients of the buckets S3 said are in another region.
#[derive(Debug)]
pub struct BucketClients {
    home: Client,
    elsewhere: Mutex<HashMap<String, Client>>,
}

impl BucketClients {
    pub fn new(home: Client) -> BucketClients {
        BucketClients { home, elsewhere: Mutex::new(HashMap::new()) }
    }

    /// The client of the pipeline's own region.
    pub fn home(&self) -> &Client {
        &self.home
    }

    /// The client for `bucket`: its region's once S3 named one, else the home client.
    pub fn of(&self, bucket: &str) -> Client {
        self.elsewhere.lock().ok().and_then(|known| known.get(bucket).cloned()).unwrap_or_else(|| self.home.clone())
    }

    /// Sends `call` with the client for `bucket`, and once more with the client of the region
    /// S3 names when it answers that the bucket is in another one. `call` builds the request
    /// afresh each time (a body is read again from its source).
    pub async fn send<T, E, F, Fut>(&self, bucket: &str, call: F) -> Result<T, SdkError<E, Response>>
    where
        F: Fn(Client) -> Fut,
        Fut: Future<Output = Result<T, SdkError<E, Response>>>,
    {
        let client = self.of(bucket);
        match call(client.clone()).await {
            Err(error) => match self.moved(bucket, &client, &error) {
                Some(regional) => call(regional).await,
                None => Err(error),
            },
            done => done,
        }
    }

    /// After `error` from `used`: the client of the region S3 says `bucket` is in, when that
    /// is not `used`'s region (and it is kept for the bucket).
    fn moved<E>(&self, bucket: &str, used: &Client, error: &SdkError<E, Response>) -> Option<Client> {
        let region = error.raw_response().and_then(bucket_region)?;
        if used.config().region().is_some_and(|current| current.as_ref() == region) {
            return None;
        }
        let client = Client::from_conf(self.home.config().to_builder().region(Region::new(region)).build());
        if let Ok(mut known) = self.elsewhere.lock() {
            known.insert(bucket.to_string(), client.clone());
        }
        Some(client)
    }
}

/// The region S3 names for a bucket in an answer: its `x-amz-bucket-region` header (a redirect,
/// a HEAD), else the `Region` of its error (AuthorizationHeaderMalformed, PermanentRedirect).
fn bucket_region(response: &Response) -> Option<String> {
    // A redirect (301, 307) or a refusal (400, 403): never an answer that succeeded.
    if !(300..500).contains(&response.status().as_u16()) {
        return None;
    }
    if let Some(region) = response.headers().get("x-amz-bucket-region").filter(|r| !r.is_empty()) {
        return Some(region.to_string());
    }
    let body = std::str::from_utf8(response.body().bytes()?).ok()?;
    let region = body.split("<Region>").nth(1)?.split("</Region>").next()?.trim();
    (!region.is_empty() && region.len() <= 32).then(|| region.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_smithy_runtime_api::http::StatusCode;
    use aws_smithy_types::body::SdkBody;

    fn answer(status: u16, header: Option<&str>, body: &str) -> Response {
        let mut response = Response::new(StatusCode::try_from(status).unwrap(), SdkBody::from(body));
        if let Some(region) = header {
            response.headers_mut().insert("x-amz-bucket-region", region.to_string());
        }
        response
    }

    #[test]
    fn the_region_comes_from_the_header_or_the_errors_body() {
        assert_eq!(bucket_region(&answer(301, Some("eu-west-1"), "")), Some("eu-west-1".into()));
        let malformed = "<Error><Code>AuthorizationHeaderMalformed</Code><Message>the region 'us-east-1' is wrong; expecting 'us-west-2'</Message><Region>us-west-2</Region></Error>";
        assert_eq!(bucket_region(&answer(400, None, malformed)), Some("us-west-2".into()));
        assert_eq!(bucket_region(&answer(403, None, "<Error><Code>AccessDenied</Code></Error>")), None);
        assert_eq!(bucket_region(&answer(200, Some("us-east-1"), "")), None, "only a refusal moves a bucket");
    }
}
