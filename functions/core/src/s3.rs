//! The S3 backend of [`Store`](crate::store::Store), through aws-sdk-s3. Works with AWS and
//! with S3-compatible servers (endpoint URL, path-style addressing).

use async_trait::async_trait;
use aws_sdk_s3::Client;
use aws_sdk_s3::config::{RequestChecksumCalculation, ResponseChecksumValidation};
use aws_sdk_s3::error::{DisplayErrorContext, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use bytes::Bytes;

use crate::error::{Error, Result};
use crate::store::{Object, PutMode, Store, check_key};

/// S3 settings beyond the standard AWS ones.
///
/// Read by [`S3Settings::from_env`]:
/// - `AWS_ENDPOINT_URL` (or `AWS_ENDPOINT_URL_S3`): an S3-compatible server; read by the AWS
///   SDK itself, and here only to default path-style addressing on;
/// - `RISKFN_S3_PATH_STYLE` (`true`/`false`): force path-style addressing
///   (`http://host/bucket/key`); default: on when an endpoint URL is set.
///
/// Region and credentials come from the SDK's standard chain: `AWS_REGION`,
/// `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` / `AWS_SESSION_TOKEN`, profile files, web
/// identity, container and instance roles (Lambda's role arrives as environment variables).
#[derive(Debug, Clone, Default)]
pub struct S3Settings {
    pub path_style: bool,
}

impl S3Settings {
    pub fn from_env() -> Self {
        let endpoint = std::env::var_os("AWS_ENDPOINT_URL_S3")
            .or_else(|| std::env::var_os("AWS_ENDPOINT_URL"))
            .is_some();
        let path_style = match std::env::var("RISKFN_S3_PATH_STYLE").ok().as_deref() {
            Some("1" | "true" | "yes") => true,
            Some("0" | "false" | "no") => false,
            _ => endpoint,
        };
        S3Settings { path_style }
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
        let shared = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
        let conf = aws_sdk_s3::config::Builder::from(&shared)
            .force_path_style(settings.path_style)
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
        E: std::error::Error + 'static,
        R: std::fmt::Debug,
    {
        Error::store(
            self.location(),
            format!("{what}: {}", DisplayErrorContext(e)),
        )
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
