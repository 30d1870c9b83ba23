//! The model registry on a [`Store`]: immutable version folders and a champion pointer per
//! pipeline.
//!
//! Layout under the store root:
//! ```text
//! <pipeline>/versions/<version>/manifest.json   written last; its presence completes a version
//! <pipeline>/versions/<version>/model.json ...  every file created once, never overwritten
//! <pipeline>/champion.json                      moved only by compare-and-swap
//! <pipeline>/challenger.json                     the version in shadow; compare-and-swap too
//! ```

pub mod audit;
pub mod s3;
pub mod store;

use std::sync::Arc;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::contract::artifact::{
    FileDigest, MANIFEST_FILE, MODEL_FILE, Manifest, ScoringArtifact, check_name, sha256_hex,
};
use crate::error::{Error, Result};
use crate::registry::store::{PutMode, Store, put_once};

/// `champion.json`: which version serves by default.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Champion {
    pub version: String,
    /// RFC 3339, UTC.
    pub updated_at: String,
    /// Earlier champions, oldest first (what a rollback returns to).
    #[serde(default)]
    pub history: Vec<String>,
}

/// `challenger.json`: the version scored in shadow beside the champion, if any. Clearing
/// writes `version: null` rather than deleting, so every move is one conditional write.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Challenger {
    pub version: Option<String>,
    /// RFC 3339, UTC.
    pub updated_at: String,
}

#[derive(Debug, Clone)]
pub struct Registry {
    store: Arc<dyn Store>,
}

fn versions_prefix(pipeline: &str) -> String {
    format!("{pipeline}/versions/")
}

fn version_key(pipeline: &str, version: &str, file: &str) -> String {
    format!("{pipeline}/versions/{version}/{file}")
}

pub fn champion_key(pipeline: &str) -> String {
    format!("{pipeline}/champion.json")
}

pub fn challenger_key(pipeline: &str) -> String {
    format!("{pipeline}/challenger.json")
}

/// RFC 3339 UTC timestamp of now, to the second.
pub fn now_rfc3339() -> String {
    let fmt = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    time::OffsetDateTime::now_utc()
        .format(&fmt)
        .unwrap_or_default()
}

/// A new version id: UTC time to the millisecond (so ids sort by age) and 8 hex digits that
/// keep two runs in the same millisecond apart.
pub fn new_version_id() -> String {
    let now = time::OffsetDateTime::now_utc();
    // Milliseconds, so versions made within one second still sort by age.
    let fmt = time::macros::format_description!(
        "[year][month][day]T[hour][minute][second][subsecond digits:3]Z"
    );
    let stamp = now.format(&fmt).unwrap_or_default();
    let salt = format!(
        "{}-{}-{:?}",
        now.unix_timestamp_nanos(),
        std::process::id(),
        std::thread::current().id()
    );
    format!("{stamp}-{}", &sha256_hex(salt.as_bytes())[..8])
}

fn parse<T: serde::de::DeserializeOwned>(what: &str, bytes: &[u8]) -> Result<T> {
    serde_json::from_slice(bytes).map_err(|source| Error::Format {
        what: what.to_owned(),
        source,
    })
}

pub(crate) fn to_json<T: Serialize>(v: &T) -> Bytes {
    // Serializing these plain structs cannot fail (no maps with non-string keys).
    Bytes::from(serde_json::to_vec_pretty(v).unwrap_or_default())
}

impl Registry {
    pub fn new(store: Arc<dyn Store>) -> Self {
        Registry { store }
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// Publish a version: every file first (create-only), the manifest with their digests
    /// last. A run that dies part-way leaves a folder without a manifest, which no reader
    /// treats as a version.
    pub async fn publish(
        &self,
        mut manifest: Manifest,
        files: Vec<(String, Bytes)>,
    ) -> Result<Manifest> {
        let (pipeline, version) = (manifest.pipeline.clone(), manifest.version.clone());
        check_name(&pipeline)?;
        check_name(&version)?;
        manifest.files.clear();
        for (name, bytes) in files {
            if name == MANIFEST_FILE {
                return Err(Error::InvalidName {
                    name,
                    reason: "reserved for the manifest",
                });
            }
            manifest.files.insert(name.clone(), FileDigest::of(&bytes));
            let key = version_key(&pipeline, &version, &name);
            put_once(self.store.as_ref(), &key, bytes, PutMode::Create).await?;
        }
        if !manifest.files.contains_key(MODEL_FILE) {
            return Err(Error::Artifact {
                what: format!("{pipeline}/{version}"),
                reason: format!("no {MODEL_FILE}"),
            });
        }
        let key = version_key(&pipeline, &version, MANIFEST_FILE);
        put_once(
            self.store.as_ref(),
            &key,
            to_json(&manifest),
            PutMode::Create,
        )
        .await?;
        Ok(manifest)
    }

    /// Pipelines that have at least one complete version.
    pub async fn pipelines(&self) -> Result<Vec<String>> {
        let mut out: Vec<String> = self
            .store
            .list("")
            .await?
            .iter()
            .filter_map(|k| {
                let mut parts = k.split('/');
                match (parts.next(), parts.next(), parts.nth(1), parts.next()) {
                    (Some(p), Some("versions"), Some(MANIFEST_FILE), None) => Some(p.to_owned()),
                    _ => None,
                }
            })
            .collect();
        out.dedup();
        Ok(out)
    }

    /// Complete versions of a pipeline (those with a manifest), oldest first.
    pub async fn versions(&self, pipeline: &str) -> Result<Vec<String>> {
        check_name(pipeline)?;
        let prefix = versions_prefix(pipeline);
        Ok(self
            .store
            .list(&prefix)
            .await?
            .iter()
            .filter_map(|k| k.strip_prefix(&prefix))
            .filter_map(|rest| rest.strip_suffix(&format!("/{MANIFEST_FILE}")))
            .filter(|v| !v.contains('/'))
            .map(str::to_owned)
            .collect())
    }

    pub async fn manifest(&self, pipeline: &str, version: &str) -> Result<Manifest> {
        check_name(pipeline)?;
        check_name(version)?;
        let key = version_key(pipeline, version, MANIFEST_FILE);
        let obj =
            self.store.get(&key).await?.ok_or_else(|| {
                Error::not_found(format!("version {version} of pipeline {pipeline}"))
            })?;
        parse(&key, &obj.bytes)
    }

    /// Read one file of a version, refusing it unless its sha256 matches the manifest.
    pub async fn read_verified(&self, manifest: &Manifest, file: &str) -> Result<Bytes> {
        let key = version_key(&manifest.pipeline, &manifest.version, file);
        let expected = manifest.files.get(file).ok_or_else(|| Error::Artifact {
            what: format!("{}/{}", manifest.pipeline, manifest.version),
            reason: format!("manifest lists no {file}"),
        })?;
        let obj = self
            .store
            .get(&key)
            .await?
            .ok_or_else(|| Error::not_found(key.clone()))?;
        let actual = sha256_hex(&obj.bytes);
        if actual != expected.sha256 {
            return Err(Error::Integrity {
                file: key,
                expected: expected.sha256.clone(),
                actual,
            });
        }
        Ok(obj.bytes)
    }

    /// A version's manifest and its `model.json`, checked against the manifest and the
    /// names asked for (the scoring side builds its scorer from them).
    pub async fn artifact(
        &self,
        pipeline: &str,
        version: &str,
    ) -> Result<(Manifest, ScoringArtifact)> {
        let manifest = self.manifest(pipeline, version).await?;
        let bytes = self.read_verified(&manifest, MODEL_FILE).await?;
        let artifact: ScoringArtifact = parse(MODEL_FILE, &bytes)?;
        if artifact.pipeline != pipeline || artifact.version != version {
            return Err(Error::Artifact {
                what: format!("{pipeline}/{version}"),
                reason: format!(
                    "{MODEL_FILE} says {}/{}",
                    artifact.pipeline, artifact.version
                ),
            });
        }
        Ok((manifest, artifact))
    }

    /// The champion pointer and its ETag, if the pipeline has one.
    pub async fn champion(&self, pipeline: &str) -> Result<Option<(Champion, String)>> {
        check_name(pipeline)?;
        self.pointer(&champion_key(pipeline)).await
    }

    /// A pointer file (champion, challenger, a review) and its ETag, if it exists.
    pub(crate) async fn pointer<T: serde::de::DeserializeOwned>(
        &self,
        key: &str,
    ) -> Result<Option<(T, String)>> {
        match self.store.get(key).await? {
            None => Ok(None),
            Some(obj) => Ok(Some((parse(key, &obj.bytes)?, obj.etag))),
        }
    }

    /// The challenger pointer and its ETag, if one was ever written.
    pub async fn challenger(&self, pipeline: &str) -> Result<Option<(Challenger, String)>> {
        check_name(pipeline)?;
        self.pointer(&challenger_key(pipeline)).await
    }

    /// Put `version` in shadow (or clear the shadow with `None`), if the pointer is still
    /// what the caller last read (`etag`, or `None` if there was no pointer). The version
    /// must be complete and must not be the champion: a shadow of itself compares nothing.
    pub async fn set_challenger(
        &self,
        pipeline: &str,
        version: Option<&str>,
        etag: Option<&str>,
    ) -> Result<Challenger> {
        if let Some(v) = version {
            self.manifest(pipeline, v).await?;
            if self
                .champion(pipeline)
                .await?
                .map(|(c, _)| c.version)
                .as_deref()
                == Some(v)
            {
                return Err(Error::Refused(format!(
                    "{v} is the champion of {pipeline}; a challenger must be another version"
                )));
            }
        }
        let next = Challenger {
            version: version.map(str::to_owned),
            updated_at: now_rfc3339(),
        };
        let mode = match etag {
            None => PutMode::Create,
            Some(etag) => PutMode::Update {
                etag: etag.to_owned(),
            },
        };
        let key = challenger_key(pipeline);
        put_once(self.store.as_ref(), &key, to_json(&next), mode).await?;
        Ok(next)
    }

    /// Make `version` the champion, if the pointer is still what the caller last read
    /// (`expected`: its ETag, or `None` if there was no pointer). A concurrent move in
    /// between makes this fail with [`Error::PreconditionFailed`]; nothing is lost.
    pub async fn set_champion(
        &self,
        pipeline: &str,
        version: &str,
        current: Option<(&Champion, &str)>,
    ) -> Result<Champion> {
        // The target must be a complete version.
        self.manifest(pipeline, version).await?;
        let mut history = current.map(|(c, _)| c.history.clone()).unwrap_or_default();
        if let Some((c, _)) = current {
            history.push(c.version.clone());
        }
        let next = Champion {
            version: version.to_owned(),
            updated_at: now_rfc3339(),
            history,
        };
        let mode = match current {
            None => PutMode::Create,
            Some((_, etag)) => PutMode::Update {
                etag: etag.to_owned(),
            },
        };
        let key = champion_key(pipeline);
        put_once(self.store.as_ref(), &key, to_json(&next), mode).await?;
        Ok(next)
    }

    /// Return the champion to the one before it (the last of its history), if the pointer
    /// is still what was read.
    pub async fn rollback(&self, pipeline: &str) -> Result<Champion> {
        let (current, etag) = self
            .champion(pipeline)
            .await?
            .ok_or_else(|| Error::not_found(format!("pipeline {pipeline}")))?;
        let mut history = current.history.clone();
        let previous = history.pop().ok_or_else(|| {
            Error::Refused(format!(
                "pipeline {pipeline} has no earlier champion than {}",
                current.version
            ))
        })?;
        self.manifest(pipeline, &previous).await?;
        let next = Champion {
            version: previous,
            updated_at: now_rfc3339(),
            history,
        };
        let key = champion_key(pipeline);
        put_once(
            self.store.as_ref(),
            &key,
            to_json(&next),
            PutMode::Update { etag },
        )
        .await?;
        Ok(next)
    }

    /// The version a request means: the pinned one, or the champion.
    pub async fn resolve(&self, pipeline: &str, version: Option<&str>) -> Result<String> {
        match version {
            Some(v) => {
                check_name(v)?;
                Ok(v.to_owned())
            }
            None => self
                .champion(pipeline)
                .await?
                .map(|(c, _)| c.version)
                .ok_or_else(|| Error::not_found(format!("pipeline {pipeline}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::store::LocalStore;

    fn manifest(version: &str) -> Manifest {
        crate::contract::artifact::test_manifest("p", version)
    }

    fn files() -> Vec<(String, Bytes)> {
        vec![
            (MODEL_FILE.into(), Bytes::from_static(b"{}")),
            ("report.json".into(), Bytes::from_static(b"{\"a\": 1}")),
        ]
    }

    #[tokio::test]
    async fn only_versions_with_a_manifest_exist_and_files_are_checked_on_read() {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> = Arc::new(LocalStore::new(dir.path()));
        let reg = Registry::new(store.clone());
        let m = reg.publish(manifest("v1"), files()).await.unwrap();
        assert_eq!(m.files.len(), 2, "every file but the manifest has a digest");
        // A publish cut short: files, no manifest.
        store
            .put(
                "p/versions/v2/model.json",
                Bytes::from_static(b"{}"),
                PutMode::Create,
            )
            .await
            .unwrap();
        assert_eq!(reg.versions("p").await.unwrap(), vec!["v1".to_owned()]);
        assert_eq!(reg.pipelines().await.unwrap(), vec!["p".to_owned()]);
        assert!(matches!(
            reg.manifest("p", "v2").await,
            Err(Error::NotFound { .. })
        ));
        // Version files are created once: publishing the same version with other bytes
        // fails (the same bytes again is a publish whose answer was lost: it succeeds).
        let mut changed = files();
        changed[0].1 = Bytes::from_static(b"{\"changed\": true}");
        assert!(reg.publish(manifest("v1"), changed).await.is_err());
        assert!(reg.publish(manifest("v1"), files()).await.is_ok());
        // A file changed behind the manifest's back is refused on read.
        let obj = store
            .get("p/versions/v1/report.json")
            .await
            .unwrap()
            .unwrap();
        store
            .put(
                "p/versions/v1/report.json",
                Bytes::from_static(b"{\"a\": 2}"),
                PutMode::Update { etag: obj.etag },
            )
            .await
            .unwrap();
        assert!(matches!(
            reg.read_verified(&m, "report.json").await,
            Err(Error::Integrity { .. })
        ));
        assert_eq!(&reg.read_verified(&m, MODEL_FILE).await.unwrap()[..], b"{}");
        // Names that are not one safe path segment are refused before any I/O.
        assert!(matches!(
            reg.versions("../etc").await,
            Err(Error::InvalidName { .. })
        ));
    }

    #[tokio::test]
    async fn the_champion_moves_only_from_what_was_read() {
        let dir = tempfile::tempdir().unwrap();
        let reg = Registry::new(Arc::new(LocalStore::new(dir.path())));
        for v in ["v1", "v2", "v3"] {
            reg.publish(manifest(v), files()).await.unwrap();
        }
        assert!(reg.champion("p").await.unwrap().is_none());
        reg.set_champion("p", "v1", None).await.unwrap();
        // A second writer that also read "no champion" loses.
        assert!(matches!(
            reg.set_champion("p", "v2", None).await,
            Err(Error::PreconditionFailed { .. })
        ));
        let (c, etag) = reg.champion("p").await.unwrap().unwrap();
        reg.set_champion("p", "v2", Some((&c, &etag)))
            .await
            .unwrap();
        // The ETag read before that move is stale now.
        assert!(matches!(
            reg.set_champion("p", "v3", Some((&c, &etag))).await,
            Err(Error::PreconditionFailed { .. })
        ));
        let (c, _) = reg.champion("p").await.unwrap().unwrap();
        assert_eq!(
            (c.version.as_str(), c.history.clone()),
            ("v2", vec!["v1".to_owned()])
        );
        assert_eq!(reg.rollback("p").await.unwrap().version, "v1");
        assert!(matches!(reg.rollback("p").await, Err(Error::Refused(_))));
        assert_eq!(reg.resolve("p", None).await.unwrap(), "v1");
        assert!(matches!(
            reg.set_champion("p", "nope", None).await,
            Err(Error::NotFound { .. })
        ));
    }
}
