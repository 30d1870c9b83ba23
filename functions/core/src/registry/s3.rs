//! The S3 backend of [`Store`](crate::registry::store::Store), through aws-sdk-s3. Works with AWS and
//! with S3-compatible servers (endpoint URL, path-style addressing).

use async_trait::async_trait;
use aws_sdk_s3::Client;
use aws_sdk_s3::config::{RequestChecksumCalculation, ResponseChecksumValidation};
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use bytes::Bytes;

use crate::error::{Error, Result};
use crate::registry::store::{Object, PutMode, Store, check_key};

/// Where and how to reach S3 (or an S3-compatible server).
///
/// [`S3Settings::from_env`] reads:
/// - `AWS_ENDPOINT_URL_S3` or `AWS_ENDPOINT_URL`: an S3-compatible server (default: AWS);
/// - `AWS_REGION` or `AWS_DEFAULT_REGION`;
/// - `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`: static credentials
///   (otherwise the SDK's chain: profile files, web identity, container and instance roles;
///   a Lambda's role arrives as these variables);
/// - `RISKFN_S3_PATH_STYLE` (`true`/`false`): path-style addressing
///   (`http://host/bucket/key`); default: on when an endpoint URL is set;
/// - `RISKFN_S3_TIMEOUT_SECS`: the longest one store operation may take, the SDK's retries
///   included (default [`DEFAULT_TIMEOUT`]); a stalled store then fails the operation
///   instead of holding it (and a Lambda) until something else gives up.
#[derive(Clone, Default)]
pub struct S3Settings {
    pub endpoint: Option<String>,
    pub region: Option<String>,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
    pub session_token: Option<String>,
    pub path_style: bool,
    /// `None`: [`DEFAULT_TIMEOUT`].
    pub timeout: Option<std::time::Duration>,
}

/// A store operation's longest time when nothing else is set: long enough to upload a
/// large model over a slow link, short enough that a stalled store fails a batch job.
pub const DEFAULT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(120);

impl std::fmt::Debug for S3Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print secrets.
        f.debug_struct("S3Settings")
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("access_key_id", &self.access_key_id)
            .field("path_style", &self.path_style)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

impl S3Settings {
    pub fn from_env() -> Result<Self> {
        let endpoint = env("AWS_ENDPOINT_URL_S3").or_else(|| env("AWS_ENDPOINT_URL"));
        let path_style = match env("RISKFN_S3_PATH_STYLE").as_deref() {
            Some("1" | "true" | "yes") => true,
            Some("0" | "false" | "no") => false,
            _ => endpoint.is_some(),
        };
        const TIMEOUT: &str = "RISKFN_S3_TIMEOUT_SECS";
        let timeout = match env(TIMEOUT) {
            None => None,
            Some(v) => match v.parse::<f64>() {
                Ok(s) if s.is_finite() && s > 0.0 => Some(std::time::Duration::from_secs_f64(s)),
                _ => {
                    return Err(Error::Setting {
                        name: TIMEOUT,
                        message: format!("{v:?} is not a positive number of seconds"),
                    });
                }
            },
        };
        Ok(S3Settings {
            endpoint,
            region: env("AWS_REGION").or_else(|| env("AWS_DEFAULT_REGION")),
            access_key_id: env("AWS_ACCESS_KEY_ID"),
            secret_access_key: env("AWS_SECRET_ACCESS_KEY"),
            session_token: env("AWS_SESSION_TOKEN"),
            path_style,
            timeout,
        })
    }
}

/// A one-line account of an SDK error: the service's code and message, or why the request
/// never got an answer.
fn describe<E, R>(e: &SdkError<E, R>) -> String
where
    E: std::error::Error + ProvideErrorMetadata + 'static,
    R: std::fmt::Debug,
{
    match e {
        SdkError::ServiceError(se) => {
            let err = se.err();
            let code = err.code().unwrap_or("unknown error");
            match err.message() {
                Some(m) => format!("{code}: {m}"),
                None => code.to_owned(),
            }
        }
        SdkError::TimeoutError(_) => "request timed out".to_owned(),
        SdkError::DispatchFailure(_) => {
            // The innermost cause says what happened (e.g. connection refused).
            let mut source: Option<&dyn std::error::Error> = std::error::Error::source(e);
            let mut last = e.to_string();
            while let Some(s) = source {
                last = s.to_string();
                source = s.source();
            }
            format!("cannot reach the server: {last}")
        }
        other => DisplayErrorContext(other).to_string(),
    }
}

#[derive(Debug, Clone)]
pub struct S3Store {
    client: Client,
    bucket: String,
    /// Key prefix without trailing slash ("" for the bucket root).
    prefix: String,
}

impl S3Store {
    pub async fn new(bucket: &str, prefix: &str, settings: &S3Settings) -> Self {
        let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
        if let Some(e) = &settings.endpoint {
            loader = loader.endpoint_url(e);
        }
        if let Some(r) = &settings.region {
            loader = loader.region(aws_config::Region::new(r.clone()));
        }
        if let (Some(id), Some(secret)) = (&settings.access_key_id, &settings.secret_access_key) {
            loader = loader.credentials_provider(aws_sdk_s3::config::Credentials::new(
                id,
                secret,
                settings.session_token.clone(),
                None,
                "riskfn-settings",
            ));
        }
        let shared = loader.load().await;
        let timeout = settings.timeout.unwrap_or(DEFAULT_TIMEOUT);
        let timeouts = aws_sdk_s3::config::timeout::TimeoutConfig::builder()
            .connect_timeout(timeout.min(std::time::Duration::from_secs(3)))
            .operation_timeout(timeout)
            .build();
        let conf = aws_sdk_s3::config::Builder::from(&shared)
            .force_path_style(settings.path_style)
            .timeout_config(timeouts)
            // S3-compatible servers reject or ignore the newer default checksums.
            .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
            .response_checksum_validation(ResponseChecksumValidation::WhenRequired)
            .build();
        S3Store {
            client: Client::from_conf(conf),
            bucket: bucket.to_owned(),
            prefix: prefix.trim_matches('/').to_owned(),
        }
    }

    fn key(&self, key: &str) -> Result<String> {
        check_key(key)?;
        Ok(if self.prefix.is_empty() {
            key.to_owned()
        } else {
            format!("{}/{key}", self.prefix)
        })
    }

    fn err<E, R>(&self, what: &str, e: &SdkError<E, R>) -> Error
    where
        E: std::error::Error + ProvideErrorMetadata + 'static,
        R: std::fmt::Debug,
    {
        Error::store(self.location(), format!("{what}: {}", describe(e)))
    }

    async fn read(&self, key: &str, if_none_match: Option<&str>) -> Result<Option<Object>> {
        let full = self.key(key)?;
        let out = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(&full)
            .set_if_none_match(if_none_match.map(str::to_owned))
            .send()
            .await;
        let out = match out {
            Ok(o) => o,
            Err(e) => {
                let status = e.raw_response().map(|r| r.status().as_u16());
                if status == Some(304) {
                    return Ok(None);
                }
                if status == Some(404) || e.as_service_error().is_some_and(|s| s.is_no_such_key()) {
                    return Err(Error::not_found(format!("{}/{key}", self.location())));
                }
                return Err(self.err(&format!("get {key}"), &e));
            }
        };
        let etag = out.e_tag().unwrap_or_default().to_owned();
        let bytes = out
            .body
            .collect()
            .await
            .map_err(|e| Error::store(self.location(), format!("read {key}: {e}")))?
            .into_bytes();
        Ok(Some(Object { bytes, etag }))
    }
}

#[async_trait]
impl Store for S3Store {
    async fn get(&self, key: &str) -> Result<Option<Object>> {
        match self.read(key, None).await {
            Err(Error::NotFound { .. }) => Ok(None),
            other => other,
        }
    }

    async fn get_if_changed(&self, key: &str, etag: &str) -> Result<Option<Object>> {
        self.read(key, Some(etag)).await
    }

    async fn put(&self, key: &str, bytes: Bytes, mode: PutMode) -> Result<String> {
        let full = self.key(key)?;
        let req = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(&full)
            .body(ByteStream::from(bytes));
        let req = match &mode {
            PutMode::Create => req.if_none_match("*"),
            PutMode::Update { etag } => req.if_match(etag),
        };
        match req.send().await {
            Ok(out) => Ok(out.e_tag().unwrap_or_default().to_owned()),
            Err(e) => {
                let status = e.raw_response().map(|r| r.status().as_u16());
                // 412: the condition failed; 409: a concurrent conditional write won.
                match (status, &mode) {
                    (Some(412 | 409), PutMode::Create) => Err(Error::PreconditionFailed {
                        key: key.to_owned(),
                        reason: "already exists",
                    }),
                    (Some(412 | 409), PutMode::Update { .. }) => Err(Error::PreconditionFailed {
                        key: key.to_owned(),
                        reason: "changed since it was read",
                    }),
                    _ => Err(self.err(&format!("put {key}"), &e)),
                }
            }
        }
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>> {
        let full = if self.prefix.is_empty() {
            prefix.to_owned()
        } else {
            format!("{}/{prefix}", self.prefix)
        };
        let strip = if self.prefix.is_empty() {
            0
        } else {
            self.prefix.len() + 1
        };
        let mut keys = Vec::new();
        let mut pages = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(full)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| self.err("list", &e))?;
            keys.extend(
                page.contents()
                    .iter()
                    .filter_map(|o| o.key())
                    .filter_map(|k| k.get(strip..))
                    .map(str::to_owned),
            );
        }
        keys.sort();
        Ok(keys)
    }

    fn location(&self) -> String {
        if self.prefix.is_empty() {
            format!("s3://{}", self.bucket)
        } else {
            format!("s3://{}/{}", self.bucket, self.prefix)
        }
    }
}
